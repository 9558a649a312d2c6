using Ippm.Sessions.Owamp;
using Ippm.Sessions.SessionFiles;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;
using static Ippm.Statistics.Tests.PerfsonarVectors;

namespace Ippm.Statistics.Tests;

/// <summary>
/// perfSONAR's .owp session files read by ippm's reader and summarised by ippm's report code, checked against
/// what owstats printed for the same files (-R raw records, -M machine summary, default human summary).
/// </summary>
public sealed class OwpFileOracleTests
{
    public static TheoryData<string> Files => new() { "to-open", "from-open", "to-auth", "from-auth" };

    [Theory]
    [MemberData(nameof(Files))]
    public void Reader_ReproducesOwstatsRawRecordsExactly(string name)
    {
        PerfsonarOwpSession session = PerfsonarOwpFile.Read(PathOf($"owp/{name}.owp"));
        List<OwstatsRaw> raw = OwstatsRawRecords($"owp/{name}.owstats-R.txt");

        Assert.Equal(raw.Count, session.Records.Count);
        for (int i = 0; i < raw.Count; i++)
        {
            OwampDataRecord r = session.Records[i];
            OwstatsRaw o = raw[i];
            Assert.Equal(o.Seq, r.SequenceNumber);
            Assert.Equal(o.SendTime, r.SendTime.Value);
            Assert.Equal(o.ReceiveTime, r.ReceiveTime.Value);
            Assert.Equal(o.SendSync, r.SendError.IsSynchronized);
            Assert.Equal(o.ReceiveSync, r.ReceiveError.IsSynchronized);
            EqualTo6g(o.SendError, r.SendError.Seconds, $"record {i} send error");
            EqualTo6g(o.ReceiveError, r.ReceiveError.Seconds, $"record {i} receive error");
            Assert.Equal(o.Ttl, r.Ttl);
        }
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Reader_ReadsTheSessionHeaderOwstatsPrints(string name)
    {
        PerfsonarOwpSession session = PerfsonarOwpFile.Read(PathOf($"owp/{name}.owp"));
        Dictionary<string, string> m = MachineSummary($"owp/{name}.owstats-M.txt");

        Assert.Equal(m["SID"], session.Request.Sid.ToString());
        Assert.Equal(m["FROM_PORT"], session.Request.SenderPort.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(m["TO_PORT"], session.Request.ReceiverPort.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(m["FROM_ADDR"], session.Request.SenderAddress.ToString());
        Assert.Equal(m["TO_ADDR"], session.Request.ReceiverAddress.ToString());
        Assert.Equal(m["SESSION_PACKET_COUNT"], session.Request.PacketCount.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(m["PACKET_PADDING"], session.Request.PaddingLength.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(m["LOSS_TIMEOUT"], session.Request.Timeout.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(m["SESSION_FINISHED"] == "1", session.IsFinished);
        Assert.Equal(session.Request.PacketCount, session.NextSeqno);
        Assert.Single(session.Slots);
        Assert.Empty(session.SkipRanges);
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Report_ReproducesOwstatsSummary(string name)
    {
        OwampDirectionReport report = OwampDirectionReport.Create(PerfsonarOwpFile.Read(PathOf($"owp/{name}.owp")).ToDirectionData());
        Dictionary<string, string> m = MachineSummary($"owp/{name}.owstats-M.txt");

        Assert.Equal(long.Parse(m["SENT"]), report.Sent);
        Assert.Equal(long.Parse(m["LOST"]), report.Lost);
        Assert.Equal(long.Parse(m["DUPS"]), report.Duplicates);
        Assert.Equal(report.Sent - report.Lost, report.Received);
        Assert.Equal(m["SYNC"] == "1", report.ClocksSynchronized);
        EqualTo6g(Number(m["MAXERR"]), report.MaxError, "MAXERR");
        // ippm is exact where owstats's double arithmetic is not (PerfsonarDelay): within 2^-21 s, and owstats's
        // figure is exactly what its arithmetic gives for the same packet.
        EqualWithinPerfsonarResolution(Number(m["MIN"]), report.Delay.Min, "MIN");
        EqualWithinPerfsonarResolution(Number(m["MAX"]), report.Delay.Max, "MAX");
        OwampDataRecord[] all = [.. PerfsonarOwpFile.Read(PathOf($"owp/{name}.owp")).Records];
        EqualTo6g(Number(m["MIN"]), all.Min(r => PerfsonarDelay(r.SendTime, r.ReceiveTime)), "MIN as owstats computes it");
        EqualTo6g(Number(m["MAX"]), all.Max(r => PerfsonarDelay(r.SendTime, r.ReceiveTime)), "MAX as owstats computes it");
        // owstats's median and P95 are the upper edges of 0.1 ms buckets; ippm's are the packets' own delays,
        // which must fall in those very buckets (the difference README's "Statistics" section states).
        Assert.Equal(Number(m["MEDIAN"]), BucketOf(report.Delay.Median), 9);
        Assert.Equal(Number(m["PDV"]), BucketOf(report.Delay.P95) - BucketOf(report.Delay.Median), 9);
        Assert.NotEqual(Number(m["MEDIAN"]), report.Delay.Median);

        // The histogram itself: the records ippm read, binned with owstats's arithmetic, give owstats's buckets
        // exactly; ippm's exact delay of every packet is within 2^-21 s of owstats's (a packet within 0.48 µs of
        // a bucket edge may sit in the neighbouring bucket in ippm's exact arithmetic).
        Dictionary<long, long> buckets = Section($"owp/{name}.owstats-M.txt", "BUCKETS").ToDictionary(r => r[0], r => r[1]);
        Dictionary<long, long> ours = all.GroupBy(r => (long)Math.Round(BucketOf(PerfsonarDelay(r.SendTime, r.ReceiveTime)) / BucketWidth))
            .ToDictionary(g => g.Key, g => (long)g.Count());
        Assert.Equal(buckets.OrderBy(p => p.Key), ours.OrderBy(p => p.Key));
        Assert.All(all, r => EqualWithinPerfsonarResolution(PerfsonarDelay(r.SendTime, r.ReceiveTime), NtpTimestamp.DifferenceSeconds(r.ReceiveTime, r.SendTime), $"seq {r.SequenceNumber}"));
        Assert.Equal(report.Delay.Count, buckets.Values.Sum());

        // TTL 255 → 0 hops (MINTTL/MAXTTL), and owstats's <NREORDERING> "1 0": no 1-reordering.
        Assert.Equal((255 - int.Parse(m["MAXTTL"]), 255 - int.Parse(m["MINTTL"])), report.Hops);
        Assert.Equal([[1, 0]], Section($"owp/{name}.owstats-M.txt", "NREORDERING"));
        Assert.Equal(0, report.Reordered);
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Report_ReproducesOwstatsHumanSummary(string name)
    {
        OwampDirectionReport report = OwampDirectionReport.Create(PerfsonarOwpFile.Read(PathOf($"owp/{name}.owp")).ToDirectionData());
        string[] lines = Lines($"owp/{name}.owstats.txt");

        Assert.Contains($"{report.Sent} sent, {report.Lost} lost (0.000%), {report.Duplicates} duplicates", lines);
        double[] delay = Triple(lines, "one-way delay min/median/max");
        EqualWithin3g(delay[0], report.Delay.Min, "min");
        Assert.Equal(delay[1], BucketOf(report.Delay.Median), 9);
        EqualWithin3g(delay[2], report.Delay.Max, "max");
        Assert.Contains($"hops = {report.Hops!.Value.Min} (consistently)", lines);
        Assert.Contains("no reordering", lines);
    }

    [Fact]
    public void Parse_RefusesDamagedFilesWithAReason()
    {
        byte[] good = File.ReadAllBytes(PathOf("owp/to-open.owp"));

        Assert.Contains("magic", Assert.Throws<InvalidDataException>(() => PerfsonarOwpFile.Parse("IPPM-OWP"u8)).Message, StringComparison.Ordinal);
        byte[] v2 = (byte[])good.Clone();
        v2[7] = 2;
        Assert.Contains("version 2", Assert.Throws<InvalidDataException>(() => PerfsonarOwpFile.Parse(v2)).Message, StringComparison.Ordinal);
        Assert.Contains("Request-Session", Assert.Throws<InvalidDataException>(() => PerfsonarOwpFile.Parse(good.AsSpan(0, 100))).Message, StringComparison.Ordinal);
        Assert.Contains("data records", Assert.Throws<InvalidDataException>(() => PerfsonarOwpFile.Parse(good.AsSpan(0, good.Length - 1))).Message, StringComparison.Ordinal);
        byte[] badOffset = (byte[])good.Clone();
        badOffset[39] = 0x10; // data records before the end of the header
        Assert.Contains("outside", Assert.Throws<InvalidDataException>(() => PerfsonarOwpFile.Parse(badOffset)).Message, StringComparison.Ordinal);
        byte[] manySlots = (byte[])good.Clone();
        manySlots[40 + 4] = 0x10;
        Assert.Contains("slots", Assert.Throws<InvalidDataException>(() => PerfsonarOwpFile.Parse(manySlots)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_UnfinishedFileWithoutCount_ReadsRecordsToTheEnd_AndSkipRangesWhereSaid()
    {
        byte[] good = File.ReadAllBytes(PathOf("owp/to-open.owp"));
        byte[] unfinished = (byte[])good.Clone();
        unfinished.AsSpan(20, 12).Clear(); // no record count, no skip offset
        Assert.Equal(100, PerfsonarOwpFile.Parse(unfinished).Records.Count);

        // Two skip ranges appended after the records, as owampd writes them at Stop-Sessions.
        byte[] skipped = [.. good, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 9, 0, 0, 0, 9];
        skipped[19] = 2;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(skipped.AsSpan(24), (ulong)good.Length);
        PerfsonarOwpSession s = PerfsonarOwpFile.Parse(skipped);
        Assert.Equal([new SkipRange(3, 4), new SkipRange(9, 9)], s.SkipRanges);
        Assert.Equal(100, s.Records.Count);
        OwampDirectionReport report = OwampDirectionReport.Create(s.ToDirectionData());
        Assert.Equal(97, report.Sent);
        Assert.Equal(3, report.Skipped);

        byte[] tooMany = (byte[])skipped.Clone();
        tooMany[19] = 3;
        Assert.Contains("skip ranges", Assert.Throws<InvalidDataException>(() => PerfsonarOwpFile.Parse(tooMany)).Message, StringComparison.Ordinal);
    }
}
