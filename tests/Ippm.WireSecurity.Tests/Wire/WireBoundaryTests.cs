using System.Buffers;
using System.Collections;
using System.Net;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Stamp;
using Ippm.Wire.Test;

namespace Ippm.Tests.Wire;

/// <summary>
/// The edges of the Wire codecs: writers refusing a destination that is too short (naming it, before writing
/// anything), length arithmetic at its limits, counts at the largest accepted value and one past it, and the
/// small helpers (mode bits, timestamp order and rounding) the control and test paths decide on.
/// </summary>
public sealed class WireBoundaryTests
{
    private static readonly SessionId s_sid = SessionId.Parse("7f000001eeb54d909c9613d336cd38ef");

    /// <summary>A writer, the exact length it writes and the name of its destination parameter.</summary>
    private sealed record Writer(int Length, string ParamName, Action<byte[]> Write);

    private static Writer For(string name) => name switch
    {
        "AcceptSession" => new(48, "destination", b => new AcceptSession(AcceptCode.Ok, 862, s_sid).Write(b)),
        "FetchAck" => new(32, "destination", b => new FetchAck(AcceptCode.Ok, 1, 10, 0, 10).Write(b)),
        "FetchSession" => new(48, "destination", b => new FetchSession(0, FetchSession.ToEnd, s_sid).Write(b)),
        "SkipRange" => new(8, "destination", b => new SkipRange(3, 4).Write(b)),
        "SkipRangeList" => new(16, "destination", b => SkipRangeList.Write([new SkipRange(1, 2)], b)),
        "SessionDescription" => new(32, "destination", b => new SessionDescription(s_sid, 9, [new SkipRange(1, 2)]).Write(b)),
        "OwampStopSessions" => new(64, "destination", b => new OwampStopSessions(AcceptCode.Ok, [new SessionDescription(s_sid, 9, [])]).Write(b)),
        "ScheduleSlot" => new(16, "destination", b => new ScheduleSlot(ScheduleSlotType.Fixed, new NtpTimestamp(1)).Write(b)),
        "ServerGreeting" => new(64, "destination", b => new ServerGreeting(1, new byte[16], new byte[16], 1024).Write(b)),
        "ServerStart" => new(48, "destination", b => new ServerStart(AcceptCode.Ok, new byte[16], new NtpTimestamp(1)).Write(b)),
        "StartNSessions" => new(48, "destination", b => new StartNSessions([s_sid]).Write(b)),
        "SessionRequest" => new(112, "destination", b => new SessionRequest { Sid = s_sid }.Write(b)),
        "SetUpResponse" => new(164, "destination", b => new SetUpResponse(1, new byte[80], new byte[64], new byte[16]).Write(b)),
        "StartSessions" => new(32, "destination", b => new StartSessions().Write(b)),
        "StartAck" => new(32, "destination", b => new StartAck(AcceptCode.Ok).Write(b)),
        "TwampStopSessions" => new(32, "destination", b => new TwampStopSessions(AcceptCode.Ok, 1).Write(b)),
        "OwampDataRecord" => new(25, "destination", b => new OwampDataRecord(1, new ErrorEstimate(1), new ErrorEstimate(1), new NtpTimestamp(1), new NtpTimestamp(2), 255).Write(b)),
        "SenderPacketOpen" => new(14, "packet", b => new SenderPacket(1, new NtpTimestamp(1), new ErrorEstimate(1)).Write(b, protectedLayout: false)),
        "SenderPacketProtected" => new(48, "packet", b => new SenderPacket(1, new NtpTimestamp(1), new ErrorEstimate(1)).Write(b, protectedLayout: true)),
        "ReflectorPacketOpen" => new(41, "packet", b => Reflector().Write(b, protectedLayout: false)),
        "ReflectorPacketProtected" => new(112, "packet", b => Reflector().Write(b, protectedLayout: true)),
        "StampSenderPacket" => new(44, "packet", b => new StampSenderPacket(1, new NtpTimestamp(1), new ErrorEstimate(1), 7).Write(b, authenticated: false)),
        "StampSenderPacketAuthenticated" => new(112, "packet", b => new StampSenderPacket(1, new NtpTimestamp(1), new ErrorEstimate(1), 7).Write(b, authenticated: true)),
        "StampReflectorPacket" => new(44, "packet", b => StampReflector().Write(b, authenticated: false)),
        "StampReflectorPacketAuthenticated" => new(112, "packet", b => StampReflector().Write(b, authenticated: true)),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    private static ReflectorPacket Reflector() =>
        new(1, new NtpTimestamp(2), new ErrorEstimate(1), new NtpTimestamp(3), 4, new NtpTimestamp(5), new ErrorEstimate(1), 255);

    private static StampReflectorPacket StampReflector() =>
        new(1, new NtpTimestamp(2), new ErrorEstimate(1), 7, new NtpTimestamp(3), 4, new NtpTimestamp(5), new ErrorEstimate(1), 255);

    public static TheoryData<string> WriterNames => new(
        "AcceptSession", "FetchAck", "FetchSession", "SkipRange", "SkipRangeList", "SessionDescription", "OwampStopSessions",
        "ScheduleSlot", "ServerGreeting", "ServerStart", "StartNSessions", "SessionRequest", "SetUpResponse", "StartSessions",
        "StartAck", "TwampStopSessions", "OwampDataRecord", "SenderPacketOpen", "SenderPacketProtected", "ReflectorPacketOpen",
        "ReflectorPacketProtected", "StampSenderPacket", "StampSenderPacketAuthenticated", "StampReflectorPacket",
        "StampReflectorPacketAuthenticated");

    [Theory]
    [MemberData(nameof(WriterNames))]
    public void Write_DestinationOneOctetShort_RefusedByNameBeforeWritingAnything(string name)
    {
        Writer writer = For(name);
        byte[] shortBuffer = Enumerable.Repeat((byte)0xA5, writer.Length - 1).ToArray();

        var refused = Assert.Throws<ArgumentOutOfRangeException>(() => writer.Write(shortBuffer));

        Assert.Equal(writer.ParamName, refused.ParamName);
        Assert.All(shortBuffer, b => Assert.Equal(0xA5, b));
        writer.Write(new byte[writer.Length]); // and the exact length is enough
    }

    [Fact]
    public void EncodedLengths_AcceptTheirMaximumCountAndRefuseOneMoreOrANegativeOne()
    {
        // 8 octets per skip range and 25 per data record, padded to 16: the largest counts still fit an int.
        Assert.Equal(((SkipRangeList.MaxCount * 8) + 15) & ~15, SkipRangeList.EncodedLength(SkipRangeList.MaxCount));
        Assert.Equal(((OwampDataRecord.MaxCount * 25) + 15) & ~15, OwampDataRecord.EncodedLength(OwampDataRecord.MaxCount));
        Assert.Equal(0, SkipRangeList.EncodedLength(0));
        Assert.Equal(32, OwampDataRecord.EncodedLength(1));

        Assert.Equal("count", Assert.Throws<ArgumentOutOfRangeException>(() => SkipRangeList.EncodedLength(SkipRangeList.MaxCount + 1)).ParamName);
        Assert.Equal("count", Assert.Throws<ArgumentOutOfRangeException>(() => SkipRangeList.EncodedLength(-1)).ParamName);
        Assert.Equal("count", Assert.Throws<ArgumentOutOfRangeException>(() => OwampDataRecord.EncodedLength(OwampDataRecord.MaxCount + 1)).ParamName);
        Assert.Equal("count", Assert.Throws<ArgumentOutOfRangeException>(() => OwampDataRecord.EncodedLength(-1)).ParamName);
    }

    [Fact]
    public void SkipRangeList_TryRead_MaximumCountWaitsForItsOctets_OneMoreOrNegativeIsInvalid()
    {
        Assert.Equal(OperationStatus.NeedMoreData, SkipRangeList.TryRead(new byte[16], SkipRangeList.MaxCount, out _));
        Assert.Equal(OperationStatus.InvalidData, SkipRangeList.TryRead(new byte[16], SkipRangeList.MaxCount + 1, out _));
        Assert.Equal(OperationStatus.InvalidData, SkipRangeList.TryRead(new byte[16], -1, out SkipRange[] none));
        Assert.Empty(none);
    }

    [Fact]
    public void StopSessions_DescriptionWithNegativeRangeLimit_IsACallerError()
    {
        byte[] description = new byte[32];

        var refused = Assert.Throws<ArgumentOutOfRangeException>(() =>
            OwampStopSessions.TryReadDescription(description, -1, out _, out _));

        Assert.Equal("maxSkipRanges", refused.ParamName);
    }

    /// <summary>A skip-range list that only claims a length, for lengths no test could allocate.</summary>
    private sealed class CountOnly(int count) : IReadOnlyList<SkipRange>
    {
        public int Count => count;
        public SkipRange this[int index] => throw new NotSupportedException();
        public IEnumerator<SkipRange> GetEnumerator() => throw new NotSupportedException();
        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }

    [Fact]
    public void StopSessions_LongerThanAnIntCanCount_OverflowsInsteadOfWrappingNegative()
    {
        var huge = new SessionDescription(s_sid, 0, new CountOnly(SessionDescription.MaxSkipRanges));
        var message = new OwampStopSessions(AcceptCode.Ok, [huge, huge]);

        Assert.True(huge.Length > 0);
        Assert.Throws<OverflowException>(() => message.EncodedLength);
    }

    [Fact]
    public void StopSessions_EqualityAndHash_CoverEveryField()
    {
        var d = new SessionDescription(s_sid, 9, [new SkipRange(1, 2)]);
        SessionDescription[] variants =
        [
            d,
            d with { Sid = new SessionId(s_sid.High, s_sid.Low + 1) },
            d with { NextSeqno = 10 },
            d with { SkipRanges = [new SkipRange(1, 3)] },
        ];

        Assert.False(d.Equals(null));
        Assert.Equal(d, new SessionDescription(s_sid, 9, [new SkipRange(1, 2)]));
        Assert.Equal(d.GetHashCode(), new SessionDescription(s_sid, 9, [new SkipRange(1, 2)]).GetHashCode());
        for (int i = 1; i < variants.Length; i++)
        {
            Assert.NotEqual(d, variants[i]);
        }
        // A hash that skipped a field would make these collide.
        Assert.Equal(variants.Length, variants.Select(v => v.GetHashCode()).Distinct().Count());

        var stop = new OwampStopSessions(AcceptCode.Ok, [d]);
        OwampStopSessions[] stops = [stop, stop with { Accept = AcceptCode.Failure }, stop with { Sessions = [variants[2]] }];
        Assert.False(stop.Equals(null));
        Assert.Equal(stop.GetHashCode(), new OwampStopSessions(AcceptCode.Ok, [new SessionDescription(s_sid, 9, [new SkipRange(1, 2)])]).GetHashCode());
        Assert.Equal(stops.Length, stops.Select(s => s.GetHashCode()).Distinct().Count());
    }

    [Fact]
    public void ScheduleSlot_Write_IsTypeMbzThenParameter()
    {
        // RFC 4656 §3.5: Slot Type (1) | MBZ (7) | Slot Parameter (8, 32.32 s); 0.1 s = 0x00000000_1999999A.
        byte[] slot = Enumerable.Repeat((byte)0xA5, ScheduleSlot.Length).ToArray();

        new ScheduleSlot(ScheduleSlotType.Fixed, NtpTimestamp.FromSeconds(0.1)).Write(slot);

        Assert.Equal("01" + "00000000000000" + "000000001999999a", Convert.ToHexStringLower(slot));
        Assert.Equal(OperationStatus.Done, ScheduleSlot.TryRead(slot, out ScheduleSlot read));
        Assert.Equal(0x1999999AUL, read.Parameter.Value);
    }

    public static TheoryData<byte> SessionListCommands => new(7, 8, 9, 10);

    private static OperationStatus ReadSessionList(byte command, byte[] source, out SessionListMessage? message)
    {
        OperationStatus status;
        switch (command)
        {
            case 7: status = StartNSessions.TryRead(source, out StartNSessions? start); message = start; break;
            case 8: status = StartNAck.TryRead(source, out StartNAck? startAck); message = startAck; break;
            case 9: status = StopNSessions.TryRead(source, out StopNSessions? stop); message = stop; break;
            default: status = StopNAck.TryRead(source, out StopNAck? stopAck); message = stopAck; break;
        }
        return status;
    }

    [Theory]
    [MemberData(nameof(SessionListCommands))]
    public void SessionList_HeaderOfAnotherCommand_IsInvalidAsSoonAsTheHeaderIsThere(byte command)
    {
        byte[] header = new byte[SessionListMessage.HeaderLength];
        header[0] = (byte)(command == 7 ? 9 : 7);
        header[15] = 1; // one SID announced, not yet received

        Assert.Equal(OperationStatus.InvalidData, ReadSessionList(command, header, out SessionListMessage? message));
        Assert.Null(message);
    }

    [Theory]
    [MemberData(nameof(SessionListCommands))]
    public void SessionList_CountAtTheLimitWaits_OneMoreIsInvalid_NoMessageUntilDone(byte command)
    {
        const uint limit = (int.MaxValue - 32) / SessionListMessage.SidLength;
        byte[] header = new byte[SessionListMessage.HeaderLength];
        header[0] = command;

        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(SessionListMessage.CountOffset), limit);
        Assert.Equal(OperationStatus.NeedMoreData, ReadSessionList(command, header, out SessionListMessage? waiting));
        Assert.Null(waiting);

        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(SessionListMessage.CountOffset), limit + 1);
        Assert.Equal(OperationStatus.InvalidData, ReadSessionList(command, header, out SessionListMessage? refused));
        Assert.Null(refused);

        Assert.Equal(OperationStatus.NeedMoreData, ReadSessionList(command, header[..15], out SessionListMessage? partial));
        Assert.Null(partial);
    }

    [Fact]
    public void SessionRequest_IpVersionOf_SaysSixOnlyForIpv6()
    {
        Assert.Equal(4, SessionRequest.IpVersionOf(IPAddress.Parse("192.0.2.1")));
        Assert.Equal(6, SessionRequest.IpVersionOf(IPAddress.Parse("2001:db8::1")));
        Assert.Equal(6, SessionRequest.IpVersionOf(IPAddress.Parse("::ffff:192.0.2.1"))); // a mapped address is sent as IPv6
    }

    [Fact]
    public void SetUpResponse_IdentityOver80Octets_RefusedByName()
    {
        var refused = Assert.Throws<ArgumentException>(() => SetUpResponse.KeyIdFromIdentity(new string('é', 41))); // 82 octets

        Assert.Equal("identity", refused.ParamName);
        Assert.Equal(80, SetUpResponse.KeyIdFromIdentity(new string('é', 40)).Length);
    }

    [Fact]
    public void Modes_SecurityAndIkeBits_PerProtocol()
    {
        // RFC 5618 adds mixed (8) to TWAMP only; RFC 7717 §7: the IKEv2 bit is 128 in TWAMP-Modes, 16 in OWAMP-Modes.
        Assert.Equal(0xFu, SecurityModes.SecurityBits(ControlProtocol.Twamp));
        Assert.Equal(0x7u, SecurityModes.SecurityBits(ControlProtocol.Owamp));
        Assert.Equal(128u, SecurityModes.IkeV2Bit(ControlProtocol.Twamp));
        Assert.Equal(16u, SecurityModes.IkeV2Bit(ControlProtocol.Owamp));
    }

    [Fact]
    public void Modes_WhatEachModeProtects()
    {
        Assert.False(SecurityMode.Open.ProtectsControl());
        Assert.True(SecurityMode.Authenticated.ProtectsControl());
        Assert.True(SecurityMode.Encrypted.ProtectsControl());
        Assert.True(SecurityMode.Mixed.ProtectsControl());
        Assert.False(SecurityMode.Open.ProtectsTestPackets());
        Assert.True(SecurityMode.Authenticated.ProtectsTestPackets());
        Assert.True(SecurityMode.Encrypted.ProtectsTestPackets());
        Assert.False(SecurityMode.Mixed.ProtectsTestPackets());
    }

    [Theory]
    [InlineData("O", 1u)]
    [InlineData("A", 2u)]
    [InlineData("E", 4u)]
    [InlineData("M", 8u)]
    [InlineData("AE", 6u)]
    [InlineData("oaem", 15u)]
    [InlineData("OO", 1u)] // a repeated letter adds nothing (the reference ORs each letter's bit)
    [InlineData("AAEEMM", 14u)]
    public void Modes_PerfsonarLetters_ParseToTheirBits(string letters, uint expected)
    {
        Assert.True(SecurityModes.TryParseLetters(letters, out uint modes));
        Assert.Equal(expected, modes);
    }

    [Theory]
    [InlineData("")]
    [InlineData("X")]
    [InlineData("OX")]
    public void Modes_EmptyOrUnknownLetters_AreRefused(string letters)
    {
        Assert.False(SecurityModes.TryParseLetters(letters, out _));
    }

    [Fact]
    public void Modes_NamesAreTheReportWords()
    {
        // The report's "mode:" line and JSON "mode" field.
        Assert.Equal("open", SecurityMode.Open.Name());
        Assert.Equal("authenticated", SecurityMode.Authenticated.Name());
        Assert.Equal("encrypted", SecurityMode.Encrypted.Name());
        Assert.Equal("mixed", SecurityMode.Mixed.Name());
        Assert.Equal("0x30", ((SecurityMode)0x30).Name());
    }

    [Fact]
    public void NtpTimestamp_Operators_OrderByValue()
    {
        var early = new NtpTimestamp(0x00000001_FFFFFFFF);
        var late = new NtpTimestamp(0x00000002_00000000);
        var same = new NtpTimestamp(late.Value);

        Assert.True(early < late);
        Assert.False(late < early);
        Assert.False(late < same);
        Assert.True(late > early);
        Assert.False(early > late);
        Assert.False(late > same);
        Assert.True(early <= late);
        Assert.True(late <= same);
        Assert.False(late <= early);
        Assert.True(late >= early);
        Assert.True(late >= same);
        Assert.False(early >= late);
    }

    [Theory]
    [InlineData(1u, 0L)] // 0.23 ns
    [InlineData(2u, 0L)] // 0.47 ns
    [InlineData(3u, 1L)] // 0.70 ns rounds up, not down
    [InlineData(0x80000000u, 500_000_000L)]
    [InlineData(0xFFFFFFFFu, 1_000_000_000L)] // 999 999 999.77 ns
    public void NtpTimestamp_ToUnixNanoseconds_RoundsTheFractionToTheNearestNanosecond(uint fraction, long nanoseconds)
    {
        var t = new NtpTimestamp(((ulong)NtpTimestamp.UnixEpochOffsetSeconds << 32) | fraction);

        Assert.Equal(nanoseconds, t.ToUnixNanoseconds());
    }

    [Fact]
    public void SessionId_IsZero_OnlyWhenBothHalvesAre()
    {
        Assert.True(new SessionId(0, 0).IsZero);
        Assert.False(new SessionId(0, 1).IsZero);
        Assert.False(new SessionId(1, 0).IsZero);
    }

    [Fact]
    public void ErrorEstimate_255Units_ShiftsOnceAsTheReferenceEncoderDoes()
    {
        // Test digest §1.2: shift while the value is ≥ 0xFF, then add one: 255 → 127 at scale 1 → multiplier 128.
        ErrorEstimate e = ErrorEstimate.FromSeconds(255 / 4_294_967_296.0, synchronized: false);

        Assert.Equal((ushort)0x0180, e.Value);
        // 254 units fit without a shift: multiplier 255 at scale 0.
        Assert.Equal((ushort)0x00FF, ErrorEstimate.FromSeconds(254 / 4_294_967_296.0, synchronized: false).Value);
    }
}
