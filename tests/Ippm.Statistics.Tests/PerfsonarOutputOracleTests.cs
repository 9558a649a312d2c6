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

/// <summary>
/// Loss, duplicates, skip ranges and reordering through the perfSONAR outputs, worked by hand from owamp's stats.c
/// rules (the vectors have none of them).
/// </summary>
public sealed class PerfsonarOutputRulesTests
{
    private static readonly ErrorEstimate s_unsync = new(0x0001);
    private static readonly NtpTimestamp s_start = new(0xeeb9551a_00000000);

    private static Ippm.Wire.Test.OwampDataRecord Received(uint seq, double delayMs) =>
        new(seq, s_unsync, s_unsync, new NtpTimestamp(s_start.Value + ((ulong)(seq + 1) << 28)), new NtpTimestamp(s_start.Value + ((ulong)(seq + 1) << 28) + (ulong)(delayMs / 1000 * 4294967296.0)), 250);

    private static PerfsonarOwpSession Session()
    {
        var request = new Ippm.Wire.Control.SessionRequest
        {
            Command = CommandNumber.RequestSession, ConfReceiver = 1, ScheduleSlotCount = 1, PacketCount = 6, SenderPort = 9000, ReceiverPort = 9001,
            SenderAddress = System.Net.IPAddress.Parse("192.0.2.1"), ReceiverAddress = System.Net.IPAddress.Parse("192.0.2.2"),
            Sid = SessionId.Parse("c0000201eeb9551a0123456789abcdef"), StartTime = s_start, Timeout = NtpTimestamp.FromSeconds(2), TypePDescriptor = 46u << 24,
        };
        Ippm.Wire.Test.OwampDataRecord lost = new(3, s_unsync, s_unsync, new NtpTimestamp(s_start.Value + (4UL << 28)), default, 255);
        // File order: 0, 2, 1 (after 2: 1-reordered), 2 again (duplicate), 3 lost, 4 (skipped by the sender), 5.
        Ippm.Wire.Test.OwampDataRecord[] records = [Received(0, 1.0), Received(2, 1.05), Received(1, 2.5), Received(2, 1.07), lost, Received(4, 9.0), Received(5, 0.5)];
        return new PerfsonarOwpSession(3, 1, 6, request, [new Ippm.Wire.Control.ScheduleSlot(Ippm.Wire.Control.ScheduleSlotType.Fixed, NtpTimestamp.FromSeconds(0.01))], [new Ippm.Wire.Control.SkipRange(4, 4)], records);
    }

    [Fact]
    public void Machine_LossDuplicatesSkipsAndReordering_AsStatsC()
    {
        PerfsonarOwpSession session = Session();
        string[] m = PerfsonarReport.Machine(PerfsonarStats.ForOwamp(session, PerfsonarStats.InfoFor(session))).Split('\n');

        // Sent: every number with a record outside the skip range (0, 1, 2, 3, 5); lost: the one lost record.
        Assert.Contains("SENT\t5", m);
        Assert.Contains("LOST\t1", m);
        Assert.Contains("DUPS\t1", m);
        Assert.Contains("DSCP\t0x2e", m);
        Assert.Contains("FROM_HOST\t192.0.2.1", m);
        // Fixed 10 ms slots: packet k is scheduled at start + (k + 1) × 10 ms (RFC 4656 §3.5: the first delay too).
        Assert.Contains($"START_TIME\t{s_start.Value + NtpTimestamp.FromSeconds(0.01).Value}", m);
        Assert.Contains($"END_TIME\t{s_start.Value + (6 * NtpTimestamp.FromSeconds(0.01).Value)}", m);
        // Min/max over every arrival (the duplicate's 1.07 ms included), the skipped packet's 9 ms left out.
        Assert.Contains("MIN\t0.0005", m);
        Assert.Contains("MAX\t0.0025", m);
        // Buckets over first arrivals: 0.5 → 5, 1.0 → 10, 1.05 → 11, 2.5 → 25; the median is the bucket where the
        // count reaches 0.5 × 5 sent: the third packet, 11 × 0.1 ms.
        Assert.Equal(["\t5\t1", "\t10\t1", "\t11\t1", "\t25\t1"], m[(Array.IndexOf(m, "<BUCKETS>") + 1)..Array.IndexOf(m, "</BUCKETS>")]);
        Assert.Contains("MEDIAN\t0.0011", m);
        // TTL 250 on every arrival but the lost record's (not counted).
        Assert.Contains("<TTLBUCKETS>", m);
        Assert.Contains("\t250\t4", m);
        // One arrival (1, after 2) has one larger immediate predecessor; owstats counts over 5 arrivals, the duplicate included.
        Assert.Equal(["\t1\t1"], m[(Array.IndexOf(m, "<NREORDERING>") + 1)..Array.IndexOf(m, "</NREORDERING>")]);
    }

    [Fact]
    public void Samples_CoverTheirPacketsOnly_AndHostileCountsAreRefused()
    {
        PerfsonarOwpSession session = Session();
        string[] m = PerfsonarReport.Machine(PerfsonarStats.ForOwamp(session, PerfsonarStats.InfoFor(session, first: 2, last: 4))).Split('\n');

        // owstats -N: packets 2 and 3 only (2 once, its duplicate counted; 3 lost), scheduled at start + 30 and 40 ms.
        Assert.Contains("SAMPLE_PACKET_COUNT\t2", m);
        Assert.Contains("SENT\t2", m);
        Assert.Contains("LOST\t1", m);
        Assert.Contains("DUPS\t1", m);
        Assert.Contains($"START_TIME\t{s_start.Value + (3 * NtpTimestamp.FromSeconds(0.01).Value)}", m);
        Assert.Contains($"END_TIME\t{s_start.Value + (4 * NtpTimestamp.FromSeconds(0.01).Value)}", m);

        PerfsonarOwpSession hostile = session with { Request = session.Request with { PacketCount = uint.MaxValue } };
        Assert.Contains("more than", Assert.Throws<InvalidDataException>(() => PerfsonarStats.InfoFor(hostile)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Summary_ReportsTheSameRules()
    {
        PerfsonarOwpSession session = Session();
        string[] s = PerfsonarReport.Summary(PerfsonarStats.ForOwamp(session, PerfsonarStats.InfoFor(session)), 'u', [50, 99.5]).Split('\n');

        Assert.Contains("5 sent, 1 lost (20.000%), 1 duplicates", s);
        Assert.Contains("one-way delay min/median/max = 500/1.1e+03/2.5e+03 us, (unsync)", s);
        Assert.Contains("\t50.0: 1.1e+03 us", s);
        Assert.Contains("\t99.5: nan us", s); // the buckets never reach 99.5 % of 5 sent: one was lost
        Assert.Contains("hops = 5 (consistently)", s);
        Assert.Contains("1-reordering = 20.000000%", s);
        Assert.Contains("no 2-reordering", s);
    }

    [Fact]
    public void RawLines_LostRecords_AsPerfsonarWritesThem()
    {
        PerfsonarOwpSession session = Session();
        Assert.Equal($"3 {s_start.Value + (4UL << 28)} 0 2.32831e-10 0 0 2.32831e-10 255", PerfsonarReport.RawLine(session.Records[4]));

        // twping: a packet without an answer keeps its place, with its T1 and twping's lost-record fields.
        var replies = new List<TwampSample>
        {
            new(0, 0, new NtpTimestamp(100), new NtpTimestamp(200), new NtpTimestamp(300), new NtpTimestamp(400), s_unsync, s_unsync, 255, 254),
            new(2, 1, new NtpTimestamp(500), new NtpTimestamp(600), new NtpTimestamp(700), new NtpTimestamp(800), s_unsync, s_unsync, 255, 254),
        };
        TwampSessionResult result = new(SessionId.Read(new byte[16]), SecurityMode.Open, 3, replies, 0, 0, 0, new NtpTimestamp(100), new NtpTimestamp(500), 41, TimeSpan.FromSeconds(2))
        {
            SendTimes = [100UL, 450UL, 500UL],
        };
        Assert.Equal(
            [
                "0 100 0 2.32831e-10 200 0 2.32831e-10 255 0 300 0 2.32831e-10 400 0 2.32831e-10 254",
                "1 450 0 2.32831e-10 0 0 2.32831e-10 255 0 0 0 2.32831e-10 0 0 2.32831e-10 255",
                "2 500 0 2.32831e-10 600 0 2.32831e-10 255 1 700 0 2.32831e-10 800 0 2.32831e-10 254",
            ],
            PerfsonarReport.RawLines(result).ToArray());
        string[] m = PerfsonarReport.Machine(PerfsonarStats.ForTwamp(result, new PerfsonarSessionInfo
        {
            TwoWay = true, Sid = result.Sid, FromHost = "a", FromAddress = "a", FromPort = "1", ToHost = "b", ToAddress = "b", ToPort = "2",
            StartTime = new NtpTimestamp(100), EndTime = new NtpTimestamp(500), TypeP = 0, LossTimeout = NtpTimestamp.FromSeconds(2),
            Padding = 27, SessionPacketCount = 3, SampleFirst = 0, SampleLast = 3, Finished = true,
        })).Split('\n');
        Assert.Contains("SENT\t3", m);
        Assert.Contains("LOST\t1", m);
        Assert.Contains("MINTTL_BCK\t254", m);
        Assert.Contains("\t254\t0\t2", m);
        Assert.Contains("\t255\t2\t0", m);
    }
}
