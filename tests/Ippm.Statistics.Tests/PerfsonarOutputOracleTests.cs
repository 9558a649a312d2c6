using System.Globalization;
using Ippm.Sessions.PerfsonarOutput;
using Ippm.Sessions.SessionFiles;
using Ippm.Sessions.Twamp;
using Ippm.Wire;
using static Ippm.Statistics.Tests.PerfsonarVectors;

namespace Ippm.Statistics.Tests;

/// <summary>
/// ippm's perfSONAR-format outputs (owstats default / -M / -R, twping -R / -M) against what perfSONAR printed for the
/// same records, line by line. The first two lines of every stored output are the tools' NTP warnings on standard
/// error and are not part of the format.
/// </summary>
public sealed class PerfsonarOutputOracleTests
{
    public static TheoryData<string> Files => new() { "to-open", "from-open", "to-auth", "from-auth" };

    private static string[] Expected(string relative) => Lines(relative).Skip(2).ToArray();

    private static string[] Split(string text) => text.Split('\n')[..^1];

    private static PerfsonarStats Stats(string name)
    {
        PerfsonarOwpSession session = PerfsonarOwpFile.Read(PathOf($"owp/{name}.owp"));
        // owstats names 127.0.0.1 by its reverse lookup; ippm's CLI does the same lookup and passes the names in.
        return PerfsonarStats.ForOwamp(session, PerfsonarStats.InfoFor(session, "localhost", "localhost"));
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void OwstatsRaw_EveryLineEqualsOwstats(string name)
    {
        PerfsonarOwpSession session = PerfsonarOwpFile.Read(PathOf($"owp/{name}.owp"));
        string[] expected = Expected($"owp/{name}.owstats-R.txt");

        Assert.Equal(expected, session.Records.Select(PerfsonarReport.RawLine).ToArray());
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void OwstatsMachine_EqualsOwstats(string name)
    {
        string[] expected = Expected($"owp/{name}.owstats-M.txt");
        string[] actual = Split(PerfsonarReport.Machine(Stats(name)));

        // Every line equal, in order, except where ippm's exact delays and owstats's double arithmetic
        // (PerfsonarDelay: both absolute timestamps become doubles before they are subtracted, 2^-21 s steps) part:
        // MIN and MAX then agree within 2^-21 s, and a packet within 2^-21 s of a 0.1 ms edge sits in the
        // neighbouring bucket.
        Assert.Equal(expected.Length, actual.Length);
        PerfsonarOwpSession session = PerfsonarOwpFile.Read(PathOf($"owp/{name}.owp"));
        long[] edgePackets = session.Records.Where(r => BucketOf(PerfsonarDelay(r.SendTime, r.ReceiveTime)) != BucketOf(NtpTimestamp.DifferenceSeconds(r.ReceiveTime, r.SendTime)))
            .Select(r => (long)r.SequenceNumber).ToArray();
        int bucketLines = 0, movedCounts = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            if (expected[i].StartsWith("MIN\t", StringComparison.Ordinal) || expected[i].StartsWith("MAX\t", StringComparison.Ordinal))
            {
                Assert.Equal(expected[i][..4], actual[i][..4]);
                EqualWithinPerfsonarResolution(Number(expected[i][4..]), Number(actual[i][4..]), expected[i]);
            }
            else if (Array.IndexOf(expected, "<BUCKETS>") < i && i < Array.IndexOf(expected, "</BUCKETS>") && expected[i] != actual[i])
            {
                long[] e = expected[i].Split('\t', StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToArray();
                long[] a = actual[i].Split('\t', StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToArray();
                Assert.Equal(e[0], a[0]);
                bucketLines++;
                movedCounts += (int)Math.Abs(e[1] - a[1]);
            }
            else
            {
                Assert.Equal(expected[i], actual[i]);
            }
        }
        // Packets that change bucket move counts between the two buckets either side of their edge; the lines ippm
        // prints are the histogram of the exact delays, computed here independently.
        Assert.True(movedCounts <= 2 * edgePackets.Length && bucketLines <= 2 * edgePackets.Length, $"{movedCounts} counts moved by {edgePackets.Length} edge packets");
        string[] exactBuckets = session.Records.Where(r => !r.IsLost).GroupBy(r => (long)Math.Round(BucketOf(NtpTimestamp.DifferenceSeconds(r.ReceiveTime, r.SendTime)) / BucketWidth))
            .OrderBy(g => g.Key).Select(g => string.Create(CultureInfo.InvariantCulture, $"\t{g.Key}\t{g.Count()}")).ToArray();
        Assert.Equal(exactBuckets, actual[(Array.IndexOf(actual, "<BUCKETS>") + 1)..Array.IndexOf(actual, "</BUCKETS>")]);
    }

    [Fact]
    public void OwstatsMachine_EdgePacketsExist_SoTheExceptionAboveIsExercised() =>
        Assert.Contains(new[] { "to-open", "from-open", "to-auth", "from-auth" }, name => PerfsonarOwpFile.Read(PathOf($"owp/{name}.owp")).Records
            .Any(r => BucketOf(PerfsonarDelay(r.SendTime, r.ReceiveTime)) != BucketOf(NtpTimestamp.DifferenceSeconds(r.ReceiveTime, r.SendTime))));

    [Theory]
    [MemberData(nameof(Files))]
    public void OwstatsSummary_EqualsOwstats(string name)
    {
        string[] expected = Expected($"owp/{name}.owstats.txt");
        string[] actual = Split(PerfsonarReport.Summary(Stats(name)));

        // The delay line's min and max are %.3g of delays in ms: equal within the printed digit and 2^-21 s.
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            if (expected[i].StartsWith("one-way delay", StringComparison.Ordinal))
            {
                double[] e = Triple([expected[i]], "one-way delay"), a = Triple([actual[i]], "one-way delay");
                EqualWithin3g(e[0], a[0], "min");
                Assert.Equal(e[1], a[1]);
                EqualWithin3g(e[2], a[2], "max");
                Assert.Equal(expected[i][expected[i].IndexOf(" ms, ", StringComparison.Ordinal)..], actual[i][actual[i].IndexOf(" ms, ", StringComparison.Ordinal)..]);
                continue;
            }
            Assert.Equal(expected[i], actual[i]);
        }
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Writer_RewritesPerfsonarFilesOctetForOctet(string name)
    {
        byte[] original = File.ReadAllBytes(PathOf($"owp/{name}.owp"));
        PerfsonarOwpSession session = PerfsonarOwpFile.Parse(original);

        Assert.Equal(name.StartsWith("to-", StringComparison.Ordinal) ? OwpSkipPlacement.BeforeRecords : OwpSkipPlacement.AfterRecords, session.SkipPlacement);
        Assert.Equal(original, PerfsonarOwpFileWriter.Serialize(session, session.SkipPlacement));
    }

    [Fact]
    public void TwpingRaw_SamePacketsGiveTwpingsLines()
    {
        string[] expected = Expected("cli-output/twping-R.txt");
        List<TwampSample> samples = TwpingRawSamples("cli-output/twping-R.txt");
        TwampSessionResult result = new(SessionId.Read(new byte[16]), SecurityMode.Open, samples.Count, samples, 0, 0, 0, samples[0].T1, samples[^1].T1, 41, TimeSpan.FromSeconds(2));

        Assert.Equal(expected, PerfsonarReport.RawLines(result).ToArray());
    }

    [Fact]
    public void TwpingMachine_HasTwpingsKeysInTwpingsOrder_AndTwpingsFiguresForTheRawRun()
    {
        string[] layout = Expected("cli-output/twping-M.txt").Skip(1).ToArray(); // "Approximately … seconds" is twping's, not -M's
        List<TwampSample> samples = TwpingRawSamples("cli-output/twping-R.txt");
        TwampSessionResult result = new(SessionId.Parse("7f000001eeb9552f37cafb3ba2232d89"), SecurityMode.Open, samples.Count, samples, 0, 0, 0, samples[0].T1, samples[^1].T1, 41, TimeSpan.FromSeconds(2));
        var info = new PerfsonarSessionInfo
        {
            TwoWay = true, Sid = result.Sid, FromHost = "localhost", FromAddress = "127.0.0.1", FromPort = "8860", ToHost = "127.0.0.1",
            ToAddress = "127.0.0.1", ToPort = "19566", StartTime = samples[0].T1, EndTime = samples[^1].T1, TypeP = 0,
            LossTimeout = new NtpTimestamp(8591223082), Padding = 27, SessionPacketCount = 20, SampleFirst = 0, SampleLast = 20, Finished = true,
        };
        PerfsonarStats stats = PerfsonarStats.ForTwamp(result, info);
        string[] actual = Split(PerfsonarReport.Machine(stats));

        // The two files are different runs: the keys and sections must come in the same order; the figures are
        // perfSONAR's arithmetic on the -R run's packets (buckets from PerfsonarDelay), and the run-independent ones equal.
        static string Key(string line) => line.Split('\t')[0];
        Assert.Equal(layout.Where(l => !l.StartsWith('\t')).Select(Key), actual.Where(l => !l.StartsWith('\t')).Select(Key));
        Dictionary<string, string> m = MachineSummary("cli-output/twping-M.txt");
        foreach (string key in new[] { "SUMMARY", "FROM_HOST", "FROM_ADDR", "TO_HOST", "TO_ADDR", "DSCP", "LOSS_TIMEOUT", "PACKET_PADDING", "SESSION_PACKET_COUNT", "SAMPLE_PACKET_COUNT", "BUCKET_WIDTH", "SESSION_FINISHED", "SENT", "MAXERR", "MAXERR_FWD", "MAXERR_BCK", "DUPS_FWD", "DUPS_BCK", "LOST", "MINTTL_FWD", "MAXTTL_FWD", "MINTTL_BCK", "MAXTTL_BCK" })
        {
            Assert.Contains($"{key}\t{m[key]}", actual);
        }
        Assert.Contains("\t255\t20\t20", actual);
        var expectedBuckets = new SortedDictionary<long, long[]>();
        foreach (TwampSample s in samples)
        {
            double proc = PerfsonarDelay(s.T2, s.T3);
            double[] d = [PerfsonarDelay(s.T1, s.T4) - proc, PerfsonarDelay(s.T1, s.T2), PerfsonarDelay(s.T3, s.T4)];
            for (int k = 0; k < 3; k++)
            {
                long b = (long)Math.Round(BucketOf(d[k]) / BucketWidth);
                expectedBuckets.TryAdd(b, new long[3]);
                expectedBuckets[b][k]++;
            }
        }
        string[] bucketLines = expectedBuckets.Select(p => string.Create(CultureInfo.InvariantCulture, $"\t{p.Key}\t{p.Value[0]}\t{p.Value[1]}\t{p.Value[2]}")).ToArray();
        int start = Array.IndexOf(actual, "<BUCKETS>") + 1;
        Assert.Equal(bucketLines, actual[start..Array.IndexOf(actual, "</BUCKETS>")]);
        double[] rtt = samples.Select(s => PerfsonarDelay(s.T1, s.T4) - PerfsonarDelay(s.T2, s.T3)).Order().ToArray();
        Assert.Contains($"MEDIAN\t{CFormat.G(BucketOf(rtt[9]))}", actual);
        EqualWithinPerfsonarResolution(rtt[0], Number(actual.First(l => l.StartsWith("MIN\t", StringComparison.Ordinal))[4..]), "MIN");
    }

    [Theory]
    [InlineData(0.0002, "0.0002")]
    [InlineData(2.19345e-05, "2.19345e-05")]
    [InlineData(0.0024147, "0.0024147")]
    [InlineData(4.656612873077393e-10, "4.65661e-10")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(123456789.0, "1.23457e+08")]
    [InlineData(100000.0, "100000")]
    [InlineData(1e6, "1e+06")]
    [InlineData(-0.00005, "-5e-05")]
    [InlineData(0.0, "0")]
    public void CFormat_G_PrintsAsGlibc(double value, string expected) => Assert.Equal(expected, CFormat.G(value));

    [Theory]
    [InlineData(0.0539, "0.0539")]
    [InlineData(3.2, "3.2")]
    [InlineData(9.313225746154785e-07, "9.31e-07")]
    [InlineData(0.099999, "0.1")]
    [InlineData(999.6, "1e+03")]
    public void CFormat_G3_PrintsAsGlibc(double value, string expected) => Assert.Equal(expected, CFormat.G(value, 3));
}
