using Ippm.Sessions.Owamp;
using Ippm.Sessions.Twamp;
using Ippm.Wire;
using Ippm.Wire.Test;

namespace Ippm.Statistics.Tests;

/// <summary>
/// Percentile definition at its edges, IPDV (RFC 3393 / RFC 5481 §1.2), RTT and one-way delays from the four
/// TWAMP timestamps with clocks offset (RFC 5357 §4.2, twping), OWAMP one-way delay (RFC 7679) and loss with a
/// timeout (RFC 7680). Timestamps are built from whole microseconds so every expected figure is exact.
/// </summary>
public sealed class DelayAndTimestampTests
{
    private static readonly ErrorEstimate s_err = new(0x0001);

    private static NtpTimestamp Us(long microseconds)
    {
        long seconds = 3_973_000_000L + Math.DivRem(microseconds, 1_000_000L, out long rest);
        if (rest < 0)
        {
            seconds--;
            rest += 1_000_000;
        }
        return Exact(seconds, (uint)Math.Round(rest * 4294967296.0 / 1_000_000.0));
    }

    private static NtpTimestamp Exact(long seconds, uint fraction) => new(((ulong)seconds << 32) | fraction);

    [Fact]
    public void Percentile_OneSample_IsThatSampleForEveryP()
    {
        double[] one = [0.007];
        foreach (double p in new[] { 0.0, 1, 50, 95, 99, 100 })
        {
            Assert.Equal(0.007, DelayStatistics.Percentile(one, p));
        }
        DelayStatistics d = DelayStatistics.From(one);
        Assert.Equal((1, 0.007, 0.007, 0.007, 0.007, 0.0), (d.Count, d.Min, d.Median, d.Max, d.Mean, d.Jitter));
    }

    [Fact]
    public void Percentile_EvenCount_MedianIsTheLowerMiddle_NoInterpolation()
    {
        double[] four = [1, 2, 3, 4];
        Assert.Equal(2, DelayStatistics.Percentile(four, 50));
        Assert.Equal(3, DelayStatistics.Percentile(four, 50.1));
        Assert.Equal(4, DelayStatistics.Percentile(four, 95));
        Assert.Equal(1, DelayStatistics.Percentile(four, 25));
        Assert.Equal(2, DelayStatistics.Percentile(four, 25.01));
        Assert.Equal(1, DelayStatistics.Percentile(four, 0));
        Assert.Equal(4, DelayStatistics.Percentile(four, 100));
    }

    [Fact]
    public void Percentile_RankIsExactForWholePercentages()
    {
        // ⌈p·n/100⌉ with p·n computed first: 99.9/100·1000 would be 999.0000000000001 and take rank 1000.
        double[] thousand = Enumerable.Range(1, 1000).Select(i => (double)i).ToArray();
        Assert.Equal(999, DelayStatistics.Percentile(thousand, 99.9));
        double[] twenty = Enumerable.Range(1, 20).Select(i => (double)i).ToArray();
        Assert.Equal(19, DelayStatistics.Percentile(twenty, 95));
        Assert.Equal(10, DelayStatistics.Percentile(twenty, 50));
        Assert.Equal(18, DelayStatistics.Percentile(twenty, 90));
        for (int n = 1; n <= 2000; n++)
        {
            double[] ranks = Enumerable.Range(1, n).Select(i => (double)i).ToArray();
            foreach (int p in new[] { 50, 90, 95, 99 })
            {
                Assert.Equal(Math.Max(1, ((p * n) + 99) / 100), DelayStatistics.Percentile(ranks, p));
            }
        }
    }

    [Fact]
    public void Percentile_TiesAndUnsortedInput()
    {
        DelayStatistics d = DelayStatistics.From([0.003, 0.001, 0.003, 0.003, 0.002]);
        Assert.Equal((5, 0.001, 0.003, 0.003, 0.003), (d.Count, d.Min, d.Median, d.Max, d.P95));
        Assert.Equal(0.0024, d.Mean, 12);
        Assert.Equal(0, d.Jitter);
    }

    [Fact]
    public void DelayStatistics_IgnoresNonFinite_AndIsEmptyWithoutSamples()
    {
        DelayStatistics d = DelayStatistics.From([double.NaN, 0.005, double.PositiveInfinity, 0.001]);
        Assert.Equal((2, 0.001, 0.001, 0.005), (d.Count, d.Min, d.Median, d.Max));
        DelayStatistics e = DelayStatistics.From([double.NaN]);
        Assert.Same(DelayStatistics.Empty, e);
        Assert.True(double.IsNaN(e.Jitter) && double.IsNaN(e.Median) && e.Count == 0);
        Assert.True(double.IsNaN(DelayStatistics.Percentile([], 50)));
    }

    [Fact]
    public void AllPercentiles_OfTwentyDistinctDelays()
    {
        DelayStatistics d = DelayStatistics.From(Enumerable.Range(1, 20).Select(i => i / 1000.0).Reverse());
        Assert.Equal((20, 0.001, 0.010, 0.020), (d.Count, d.Min, d.Median, d.Max));
        Assert.Equal((0.018, 0.019, 0.020), (d.P90, d.P95, d.P99));
        Assert.Equal(0.0105, d.Mean, 12);
        Assert.Equal(0.009, d.Jitter, 12);
    }

    [Fact]
    public void Ipdv_ConsecutivePairsOnly_AndOffsetCancels()
    {
        // RFC 3393 §2.4: IPDV of consecutive packets i, i+1 = D(i+1) − D(i); undefined when either is lost.
        var delays = new Dictionary<uint, double> { [0] = 0.010, [1] = 0.013, [2] = 0.011, [4] = 0.020, [5] = 0.018 };
        Assert.Equal([0.003, -0.002, -0.002], Ipdv.Compute(delays).Select(v => Math.Round(v, 9)));
        // §1.2: a constant clock offset is in every D(i) and cancels in each difference.
        var offset = delays.ToDictionary(p => p.Key, p => p.Value + 5.0);
        Assert.Equal(Ipdv.Compute(delays).Select(v => Math.Round(v, 9)), Ipdv.Compute(offset).Select(v => Math.Round(v, 9)));
        Assert.Empty(Ipdv.Compute(new Dictionary<uint, double> { [7] = 1 }));
        Assert.Empty(Ipdv.Compute(new Dictionary<uint, double> { [0] = 1, [2] = 2 }));
    }

    [Fact]
    public void TwampReport_RoundTripExcludesReflectorTime_AndClockOffsetMovesOnlyOneWayDelays()
    {
        // True path: 20 ms out, 5 ms back, reflector holds the packet 3 ms. The reflector's clock runs 7 s ahead.
        const long offset = 7_000_000;
        var samples = new List<TwampSample>();
        for (uint i = 0; i < 4; i++)
        {
            long t1 = i * 100_000;
            samples.Add(new TwampSample(i, i, Us(t1), Us(t1 + 20_000 + offset), Us(t1 + 23_000 + offset), Us(t1 + 28_000), s_err, s_err, 254, 253));
        }
        TwampReport r = TwampReport.Create("x", Result(samples, 4));
        Assert.Equal(0.025, r.RoundTrip.Median, 6);                     // (T4 − T1) − (T3 − T2)
        Assert.Equal(0.025, r.RoundTrip.Min, 6);
        Assert.Equal(0.003, r.Processing.Max, 6);                       // T3 − T2
        Assert.Equal(7.020, r.Forward.Median, 6);                       // T2 − T1: offset included, as measured
        Assert.Equal(-6.995, r.Backward.Median, 6);                     // T4 − T3: negative, never clamped
        Assert.Equal(0, r.RoundTripIpdv.Max, 6);
        Assert.Equal((1, 1), r.ForwardHops);                            // 255 − TTL seen by the reflector
        Assert.Equal((2, 2), r.BackwardHops);
        Assert.False(r.ClocksSynchronized);
    }

    [Fact]
    public void TwampReport_LostLateAndDuplicatedReplies()
    {
        // 5 sent: 1 never came back, 3 came back after the timeout (RFC 7680: lost, counted as late apart),
        // 2 was reflected twice (the reflector numbered both copies: a send duplicate), 4 came twice with the
        // same reflector number (a reflect duplicate).
        var s = new List<TwampSample>
        {
            new(0, 0, Us(0), Us(1_000), Us(1_100), Us(2_100), s_err, s_err, 255, 255),
            new(2, 1, Us(20_000), Us(21_000), Us(21_100), Us(22_100), s_err, s_err, 255, 255),
            new(2, 2, Us(20_000), Us(21_500), Us(21_600), Us(23_600), s_err, s_err, 255, 255),
            new(4, 3, Us(40_000), Us(41_000), Us(41_100), Us(42_100), s_err, s_err, 255, 255),
            new(4, 3, Us(40_000), Us(41_000), Us(41_100), Us(42_900), s_err, s_err, 255, 255),
        };
        TwampReport r = TwampReport.Create("x", Result(s, 5) with { Late = 1 });
        Assert.Equal((5L, 3L, 2L, 2L), (r.Sequence.Sent, r.Sequence.Received, r.Sequence.Lost, r.Sequence.Duplicates));
        Assert.Equal(1, r.ReflectorDuplicates);
        Assert.Equal(0.4, r.Sequence.LossRatio, 12);
        Assert.Equal(3, r.RoundTrip.Count);                             // first copies only
        Assert.Equal(0.002, r.RoundTrip.Max, 6);
        Assert.Equal(0.001, r.Forward.Max, 6);
    }

    [Fact]
    public void OwampReport_DelayLossSkipsAndNegativeDelays()
    {
        // Receiver clock 2 ms behind: packet 3's 1 ms path shows as −1 ms (counted, not clamped). 2 is lost
        // (RFC 4656 §3.9: receive time 0), 5 was skipped by the sender, 1 arrived twice.
        var records = new List<OwampDataRecord>
        {
            new(0, s_err, s_err, Us(0), Us(10_000), 250),
            new(1, s_err, s_err, Us(100_000), Us(112_000), 250),
            new(2, s_err, s_err, Us(200_000), default, 255),
            new(1, s_err, s_err, Us(100_000), Us(113_000), 250),
            new(4, s_err, s_err, Us(400_000), Us(430_000), 249),
            new(3, s_err, s_err, Us(300_000), Us(299_000), 251),
        };
        var data = new OwampDirectionData(SessionId.Read(new byte[16]), 6, 6, [new Wire.Control.SkipRange(5, 5)], records, 0, 0);
        OwampDirectionReport r = OwampDirectionReport.Create(data);
        Assert.Equal((5L, 1L, 4L, 1L, 1L), (r.Sent, r.Skipped, r.Received, r.Lost, r.Duplicates));
        Assert.Equal(0.2, r.LossRatio, 12);
        Assert.Equal(1, r.Reordered);                                   // 3 after 4
        Assert.Equal(1, r.NegativeDelays);
        Assert.Equal((4, -0.001, 0.010, 0.030), (r.Delay.Count, Math.Round(r.Delay.Min, 9), Math.Round(r.Delay.Median, 9), Math.Round(r.Delay.Max, 9)));
        Assert.Equal(2, r.Ipdv.Count);                                  // (0,1) and (3,4); 2 lost breaks 1→2 and 2→3
        Assert.Equal(0.002, r.Ipdv.Median, 6);                          // D(1) − D(0), first copy of 1
        Assert.Equal(0.031, r.Ipdv.Max, 6);                             // D(4) − D(3)
        Assert.Equal((4, 6), r.Hops);
    }

    [Fact]
    public void OwampReport_DelayIsReceiveMinusSend_NotScaled()
    {
        var one = new List<OwampDataRecord> { new(0, s_err, s_err, Exact(3_973_000_000, 0), Exact(3_973_000_000, 1u << 31), 255) };
        OwampDirectionReport r = OwampDirectionReport.Create(new OwampDirectionData(SessionId.Read(new byte[16]), 1, 1, [], one, 0, 0));
        Assert.Equal(0.5, r.Delay.Median);
        Assert.Equal(2 * s_err.Seconds, r.MaxError);
    }

    private static TwampSessionResult Result(IReadOnlyList<TwampSample> samples, int sent) => new(
        SessionId.Read(new byte[16]), SecurityMode.Open, sent, samples, Late: 0, Malformed: 0, BadHmac: 0,
        samples[0].T1, samples[^1].T1, SenderPacketLength: 41, TimeSpan.FromSeconds(2));
}

/// <summary>Argument checks and boundaries the examples above do not reach.</summary>
public sealed class StatisticsEdgeTests
{
    [Fact]
    public void NullInputs_AreCallerBugs()
    {
        Assert.Throws<ArgumentNullException>(() => DelayStatistics.Percentile(null!, 50));
        Assert.Throws<ArgumentNullException>(() => SequenceAnalysis.Analyze(1, null!));
    }

    [Fact]
    public void PercentileAbove100_IsTheMaximum_Below0_TheMinimum()
    {
        Assert.Equal(3, DelayStatistics.Percentile([1, 2, 3], 150));
        Assert.Equal(1, DelayStatistics.Percentile([1, 2, 3], -10));
    }

    [Fact]
    public void Ipdv_SequenceZeroHasNoPredecessor_EvenWhenTheLargestNumberArrived()
    {
        // seq − 1 of 0 must not wrap to 4294967295 and pair the two.
        Assert.Empty(Ipdv.Compute(new Dictionary<uint, double> { [uint.MaxValue] = 0.5, [0] = 0.1 }));
        Assert.Equal([0.25], Ipdv.Compute(new Dictionary<uint, double> { [uint.MaxValue - 1] = 0.25, [uint.MaxValue] = 0.5 }));
    }

    [Fact]
    public void ReorderedRatio_NothingArrived_IsZero_NotNaN()
    {
        Assert.Equal(0, SequenceAnalysis.Analyze(3, []).ReorderedRatio);
        Assert.Equal(0.5, SequenceAnalysis.Analyze(2, [1, 0]).ReorderedRatio);
    }

    [Fact]
    public void SequenceNumberEqualToSent_IsNotOneOfTheSessionsPackets()
    {
        SequenceAnalysis a = SequenceAnalysis.Analyze(2, [0, 2]);
        Assert.Equal((1L, 1L, 2L), (a.Received, a.Lost, a.Arrived));
    }
}
