using CsCheck;
using Ippm.Sessions.Owamp;
using Ippm.Wire;
using Ippm.Wire.Test;

namespace Ippm.Statistics.Tests;

/// <summary>
/// Invariants no single example covers, over random streams (CsCheck shrinks a failure to a minimal one).
/// Reordering extent and n-reordering are also checked against brute-force readings of RFC 4737 §4.2 / §5.
/// </summary>
public sealed class PropertyTests
{
    /// <summary>A session: packets 0..n−1 sent; a random subset arrives, some twice, in random order.</summary>
    private static readonly Gen<(int Sent, uint[] Arrivals)> s_stream =
        Gen.Int[0, 40].SelectMany(n => Gen.Select(Gen.Bool.Array[n], Gen.Int[0, 39].Array[0, 6], (kept, dups) => (n, kept, dups)))
            .SelectMany(t =>
            {
                var arrivals = Enumerable.Range(0, t.n).Where(i => t.kept[i]).Select(i => (uint)i).ToList();
                arrivals.AddRange(t.dups.Where(d => d < t.n && t.kept[d]).Select(d => (uint)d));
                return Gen.Shuffle(arrivals.ToArray()).Select(a => (t.n, a));
            });

    [Fact]
    public void InOrderStream_HasNoReordering_WhateverIsLost()
    {
        Gen.Int[0, 60].SelectMany(n => Gen.Bool.Array[n], (n, kept) => (n, kept)).Sample(t =>
        {
            uint[] inOrder = Enumerable.Range(0, t.n).Where(i => t.kept[i]).Select(i => (uint)i).ToArray();
            SequenceAnalysis a = SequenceAnalysis.Analyze(t.n, inOrder);
            Assert.Equal(0, a.Reordered);
            Assert.Equal(0, a.MaxReorderingExtent);
            Assert.Empty(a.NReordered);
            Assert.Equal(t.n - inOrder.Length, a.Lost);
        });
    }

    [Fact]
    public void Reordered_IsZeroExactlyWhenFirstCopiesArriveAscending()
    {
        s_stream.Sample(t =>
        {
            SequenceAnalysis a = SequenceAnalysis.Analyze(t.Sent, t.Arrivals);
            uint[] firsts = t.Arrivals.Distinct().ToArray();
            bool ascending = firsts.Zip(firsts.Skip(1)).All(p => p.First < p.Second);
            Assert.Equal(ascending, a.Reordered == 0);
            Assert.InRange(a.Reordered, 0, Math.Max(0, firsts.Length - 1));
        });
    }

    [Fact]
    public void PermutingArrivals_ChangesNeitherLossNorDuplicatesNorTheDelayDistribution()
    {
        s_stream.SelectMany(t => Gen.Shuffle((uint[])t.Arrivals.Clone()), (t, other) => (t.Sent, t.Arrivals, other)).Sample(t =>
        {
            SequenceAnalysis a = SequenceAnalysis.Analyze(t.Sent, t.Arrivals);
            SequenceAnalysis b = SequenceAnalysis.Analyze(t.Sent, t.other);
            Assert.Equal((a.Sent, a.Received, a.Lost, a.Duplicates, a.Arrived), (b.Sent, b.Received, b.Lost, b.Duplicates, b.Arrived));

            // The same records reaching the report in another order: the delay figures cannot move (each
            // packet's delay depends on its own timestamps only; duplicates carry the first copy's delay).
            OwampDirectionReport ra = Report(t.Sent, t.Arrivals);
            OwampDirectionReport rb = Report(t.Sent, t.other);
            Assert.Equal(ra.Delay, rb.Delay);
            Assert.Equal(ra.Ipdv, rb.Ipdv);
            Assert.Equal((ra.Received, ra.Lost, ra.Duplicates), (rb.Received, rb.Lost, rb.Duplicates));
        });
    }

    private static OwampDirectionReport Report(int sent, uint[] arrivals)
    {
        var err = new ErrorEstimate(0x0001);
        var records = arrivals.Select(s => new OwampDataRecord(s, err, err, new NtpTimestamp(((ulong)(1000 + s) << 32)),
            new NtpTimestamp(((ulong)(1000 + s) << 32) + ((ulong)((s * 7919) % 1000) << 20)), 255)).ToList();
        return OwampDirectionReport.Create(new OwampDirectionData(SessionId.Read(new byte[16]), sent, (uint)sent, [], records, 0, 0));
    }

    [Fact]
    public void Duplicates_AreNeverReceivedTwice()
    {
        s_stream.Sample(t =>
        {
            SequenceAnalysis a = SequenceAnalysis.Analyze(t.Sent, t.Arrivals);
            int distinct = t.Arrivals.Distinct().Count();
            Assert.Equal(distinct, a.Received);
            Assert.Equal(t.Arrivals.Length - distinct, a.Duplicates);
            Assert.Equal(t.Sent, a.Received + a.Lost);
            Assert.InRange(a.Received, 0, t.Sent);
        });
    }

    [Fact]
    public void ExtentAndNReordering_MatchBruteForceDefinitions()
    {
        s_stream.Sample(t =>
        {
            uint[] s = t.Arrivals.Distinct().ToArray();
            long maxExtent = 0;
            var runs = new List<int>();
            long nextExpected = 0;
            for (int i = 0; i < s.Length; i++)
            {
                if (s[i] < nextExpected)
                {
                    int j = Array.FindIndex(s, 0, i, v => v > s[i]); // §4.2: earliest arrival with a larger number
                    maxExtent = Math.Max(maxExtent, i - j);
                }
                else
                {
                    nextExpected = s[i] + 1L;
                }
                int n = 0;
                while (n < i && s[i - n - 1] > s[i])
                {
                    n++; // §5: s[K] < s[K − j] for every j in 1..n
                }
                runs.Add(n);
            }
            SequenceAnalysis a = SequenceAnalysis.Analyze(t.Sent, t.Arrivals);
            Assert.Equal(maxExtent, a.MaxReorderingExtent);
            long[] expected = Enumerable.Range(1, runs.DefaultIfEmpty(0).Max()).Select(n => (long)runs.Count(r => r >= n)).ToArray();
            Assert.Equal(expected, a.NReordered);
        });
    }

    [Fact]
    public void Percentiles_AreMonotoneSamplesWithinMinMax()
    {
        Gen.Double[-1, 1].Array[1, 200].Sample(samples =>
        {
            DelayStatistics d = DelayStatistics.From(samples);
            Assert.Equal(samples.Length, d.Count);
            Assert.Equal(samples.Min(), d.Min);
            Assert.Equal(samples.Max(), d.Max);
            Assert.True(d.Min <= d.Median && d.Median <= d.P90 && d.P90 <= d.P95 && d.P95 <= d.P99 && d.P99 <= d.Max);
            Assert.Contains(d.Median, samples);
            Assert.Contains(d.P95, samples);
            Assert.InRange(d.Mean, d.Min - 1e-12, d.Max + 1e-12);
            Assert.True(d.Jitter >= 0);
            double[] sorted = samples.Order().ToArray();
            // nearest rank: at least p % at or below, fewer than p % strictly below
            foreach (double p in new[] { 50.0, 90, 95, 99 })
            {
                double v = DelayStatistics.Percentile(sorted, p);
                Assert.True(sorted.Count(x => x <= v) * 100 >= p * sorted.Length);
                Assert.True(sorted.Count(x => x < v) * 100 < p * sorted.Length);
            }
        });
    }

    [Fact]
    public void Ipdv_OfAnUnbrokenRun_TelescopesToLastMinusFirst()
    {
        Gen.Double[0, 0.5].Array[2, 100].Sample(delays =>
        {
            var bySeq = delays.Select((d, i) => (d, i)).ToDictionary(p => (uint)p.i, p => p.d);
            List<double> ipdv = Ipdv.Compute(bySeq);
            Assert.Equal(delays.Length - 1, ipdv.Count);
            Assert.Equal(delays[^1] - delays[0], ipdv.Sum(), 9);
            // and each element is its own consecutive difference, in sequence order
            Assert.All(Enumerable.Range(0, ipdv.Count), i => Assert.Equal(delays[i + 1] - delays[i], ipdv[i], 12));
        });
    }
}
