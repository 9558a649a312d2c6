using System.Buffers.Binary;
using Ippm.Sessions.Owamp;
using Ippm.Sessions.SessionFiles;
using Ippm.Sessions.Twamp;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;
using static Ippm.Statistics.Tests.PerfsonarVectors;

namespace Ippm.Statistics.Tests;

/// <summary>
/// The report figures at their boundaries: synchronisation (every timestamp must be synchronised), the largest
/// error, hop ranges, empty sessions, records at or beyond Next Seqno, skip ranges past the end, zero delays.
/// </summary>
public sealed class ReportBoundaryTests
{
    private static readonly ErrorEstimate s_unsync = new(0x0001);
    private static readonly ErrorEstimate s_sync = new(0x8001);
    private static readonly ErrorEstimate s_syncLarge = new(0x8103); // 3·2^-31 s

    private static NtpTimestamp T(uint seconds, uint fraction = 0) => new(((ulong)(3_973_000_000u + seconds) << 32) | fraction);

    private static OwampDirectionReport Owamp(uint nextSeqno, IReadOnlyList<SkipRange> skips, params OwampDataRecord[] records) =>
        OwampDirectionReport.Create(new OwampDirectionData(SessionId.Read(new byte[16]), (int)nextSeqno, nextSeqno, skips, records, 0, 0));

    [Fact]
    public void Owamp_SynchronisedOnlyWhenEveryArrivedTimestampIs_ErrorIsTheLargest()
    {
        OwampDataRecord A(uint seq, ErrorEstimate send, ErrorEstimate receive) => new(seq, send, receive, T(seq), T(seq, 1 << 20), 255);

        Assert.True(Owamp(2, [], A(0, s_sync, s_sync), A(1, s_sync, s_syncLarge)).ClocksSynchronized);
        Assert.False(Owamp(2, [], A(0, s_sync, s_sync), A(1, s_sync, s_unsync)).ClocksSynchronized);
        Assert.False(Owamp(2, [], A(0, s_unsync, s_sync), A(1, s_unsync, s_sync)).ClocksSynchronized);
        Assert.False(Owamp(2, []).ClocksSynchronized); // nothing arrived: nothing vouches for the clocks
        Assert.Equal(s_sync.Seconds + s_syncLarge.Seconds, Owamp(2, [], A(0, s_sync, s_sync), A(1, s_sync, s_syncLarge)).MaxError);
        Assert.True(double.IsNaN(Owamp(2, []).MaxError));
    }

    [Fact]
    public void Owamp_EmptySession_LossRatioZero_NoHops()
    {
        OwampDirectionReport r = Owamp(0, []);
        Assert.Equal((0L, 0L, 0.0), (r.Sent, r.Lost, r.LossRatio));
        Assert.Null(r.Hops);
        Assert.Equal(0, r.Delay.Count);
    }

    [Fact]
    public void Owamp_RecordsAtOrBeyondNextSeqno_AndSkipRangesPastIt_DoNotCount()
    {
        OwampDataRecord At(uint seq, uint fraction) => new(seq, s_unsync, s_unsync, T(seq), T(seq, fraction), 255);
        // Next Seqno 10: the sender never sent 10 or 11, so a record for 10 is not part of the session, and a
        // skip range 8..12 skips only 8 and 9.
        OwampDirectionReport r = Owamp(10, [new SkipRange(8, 12)], At(0, 0), At(7, 1u << 24), At(10, 1u << 30));
        Assert.Equal((8L, 2L, 2L, 6L), (r.Sent, r.Skipped, r.Received, r.Lost));
        Assert.Equal(2, r.Delay.Count);
        Assert.Equal(0, r.Delay.Min);
        Assert.Equal(0, r.NegativeDelays); // a zero delay is not negative
        Assert.Equal(0.75, r.LossRatio);
    }

    [Fact]
    public void OwampReport_CreatesOnlyTheDirectionsMeasured()
    {
        var data = new OwampDirectionData(SessionId.Read(new byte[16]), 1, 1, [], [new OwampDataRecord(0, s_unsync, s_unsync, T(0), T(0, 1u << 22), 250)], 0, 0);
        OwampReport outbound = OwampReport.Create("x", new OwampResult(SecurityMode.Open, data, null, 14));
        OwampReport inbound = OwampReport.Create("x", new OwampResult(SecurityMode.Open, null, data, 14));
        Assert.Null(outbound.Inbound);
        Assert.Equal((5, 5), outbound.Outbound!.Hops);
        Assert.Null(inbound.Outbound);
        Assert.Equal(1, inbound.Inbound!.Received);
    }

    private static TwampReport Twamp(params TwampSample[] samples) => TwampReport.Create("x", new TwampSessionResult(
        SessionId.Read(new byte[16]), SecurityMode.Open, samples.Length, samples, 0, 0, 0, default, default, 41, TimeSpan.FromSeconds(2)));

    private static TwampSample S(uint seq, ErrorEstimate sender, ErrorEstimate reflector, byte? forwardTtl, byte? backwardTtl) =>
        new(seq, seq, T(seq), T(seq, 100), T(seq, 200), T(seq, 300), sender, reflector, forwardTtl, backwardTtl);

    [Fact]
    public void Twamp_SynchronisedOnlyWhenBothEndsAlwaysAre_ErrorsAreTheLargest()
    {
        Assert.True(Twamp(S(0, s_sync, s_sync, 255, 255), S(1, s_sync, s_syncLarge, 255, 255)).ClocksSynchronized);
        Assert.False(Twamp(S(0, s_sync, s_sync, 255, 255), S(1, s_sync, s_unsync, 255, 255)).ClocksSynchronized);
        Assert.False(Twamp(S(0, s_unsync, s_sync, 255, 255)).ClocksSynchronized);
        TwampReport none = Twamp();
        Assert.False(none.ClocksSynchronized);
        Assert.True(double.IsNaN(none.MaxOneWayError) && double.IsNaN(none.MaxRoundTripError));
        Assert.Null(none.ForwardHops);

        TwampReport two = Twamp(S(0, s_sync, s_sync, 255, 255), S(1, s_sync, s_syncLarge, 255, 255));
        Assert.Equal(s_sync.Seconds + s_syncLarge.Seconds, two.MaxOneWayError);
        Assert.Equal(2 * (s_sync.Seconds + s_syncLarge.Seconds), two.MaxRoundTripError);
    }

    [Fact]
    public void Twamp_HopRanges_MinAndMax_UnknownWithoutTtl()
    {
        TwampReport r = Twamp(S(0, s_unsync, s_unsync, 250, null), S(1, s_unsync, s_unsync, 253, null), S(2, s_unsync, s_unsync, 251, null));
        Assert.Equal((2, 5), r.ForwardHops);
        Assert.Null(r.BackwardHops);
    }

    private static byte[] File(string name) => System.IO.File.ReadAllBytes(PathOf($"owp/{name}.owp"));

    [Fact]
    public void OwpReader_SlotsAsOwpingRequested()
    {
        PerfsonarOwpSession open = PerfsonarOwpFile.Parse(File("to-open"));
        Assert.Equal(new ScheduleSlot(ScheduleSlotType.Exponential, new NtpTimestamp(0x028f5c28)), open.Slots.Single()); // 0.01 s, as owping -i 0.01 wrote it
        Assert.Equal(100, open.ToDirectionData().PacketCount);
        PerfsonarOwpSession auth = PerfsonarOwpFile.Parse(File("to-auth"));
        Assert.Equal(ScheduleSlotType.Exponential, auth.Slots.Single().Type);
        Assert.Equal(0.005, auth.Slots.Single().Parameter.TotalSeconds, 6);
        Assert.Equal(300, auth.ToDirectionData().PacketCount);
    }

    [Fact]
    public void OwpReader_HeaderBoundaries()
    {
        byte[] good = File("to-open");
        // Shorter than the fixed header, with the right magic: refused as not an .owp file, not read past its end.
        Assert.Contains("magic", Assert.Throws<InvalidDataException>(() => PerfsonarOwpFile.Parse(good.AsSpan(0, 20))).Message, StringComparison.Ordinal);
        // Exactly the fixed header: that part is fine, the Request-Session is what is missing.
        Assert.Contains("Request-Session", Assert.Throws<InvalidDataException>(() => PerfsonarOwpFile.Parse(good.AsSpan(0, 40))).Message, StringComparison.Ordinal);
        // Records said to start inside the slots' HMAC block (176 < 184).
        byte[] inside = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt64BigEndian(inside.AsSpan(32), 176);
        Assert.Contains("outside", Assert.Throws<InvalidDataException>(() => PerfsonarOwpFile.Parse(inside)).Message, StringComparison.Ordinal);
        // A header and no record at all, the file ending right after it: a session with no records.
        byte[] empty = good[..184];
        empty.AsSpan(20, 4).Clear();
        Assert.Empty(PerfsonarOwpFile.Parse(empty).Records);
        // An unknown schedule slot type.
        byte[] badSlot = (byte[])good.Clone();
        badSlot[152] = 7;
        Assert.Contains("schedule slot 0", Assert.Throws<InvalidDataException>(() => PerfsonarOwpFile.Parse(badSlot)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OwpReader_RecordsEndWhereSkipRangesStart_AndCountsMustAgree()
    {
        byte[] good = File("to-open");
        // Four skip ranges (32 octets, room for one more "record") after the 100 records.
        byte[] withSkips = [.. good, .. new byte[] { 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0, 5, 0, 0, 0, 5, 0, 0, 0, 7, 0, 0, 0, 7 }];
        withSkips[19] = 4;
        BinaryPrimitives.WriteUInt64BigEndian(withSkips.AsSpan(24), (ulong)good.Length);
        PerfsonarOwpSession s = PerfsonarOwpFile.Parse(withSkips);
        Assert.Equal(100, s.Records.Count);
        Assert.Equal(4, s.SkipRanges.Count);

        byte[] wrongCount = (byte[])withSkips.Clone();
        wrongCount[23] = 101;
        Assert.Contains("101 data records announced, 100 stored", Assert.Throws<InvalidDataException>(() => PerfsonarOwpFile.Parse(wrongCount)).Message, StringComparison.Ordinal);
        byte[] noCount = (byte[])withSkips.Clone();
        noCount.AsSpan(20, 4).Clear();
        Assert.Equal(100, PerfsonarOwpFile.Parse(noCount).Records.Count); // counted from the offsets, as owstats does

        byte[] skipsBeyond = (byte[])withSkips.Clone();
        BinaryPrimitives.WriteUInt64BigEndian(skipsBeyond.AsSpan(24), (ulong)withSkips.Length + 8);
        Assert.Contains("beyond", Assert.Throws<InvalidDataException>(() => PerfsonarOwpFile.Parse(skipsBeyond)).Message, StringComparison.Ordinal);
        byte[] skipsInHeader = (byte[])good.Clone();
        skipsInHeader[19] = 1;
        BinaryPrimitives.WriteUInt64BigEndian(skipsInHeader.AsSpan(24), 100);
        Assert.Contains("skip ranges", Assert.Throws<InvalidDataException>(() => PerfsonarOwpFile.Parse(skipsInHeader)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OwpReader_ReadRefusesLargeFilesBeforeReadingThem()
    {
        string path = PathOf("owp/to-open.owp");
        Assert.Equal(100, PerfsonarOwpFile.Read(path, 2684).Records.Count);
        Assert.Contains("more than the 2683", Assert.Throws<InvalidDataException>(() => PerfsonarOwpFile.Read(path, 2683)).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentNullException>(() => PerfsonarOwpFile.Read(null!));
    }
}
