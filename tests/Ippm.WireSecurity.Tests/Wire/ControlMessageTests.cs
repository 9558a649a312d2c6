using System.Buffers;
using System.Net;
using Ippm.Wire;
using Ippm.Wire.Control;

namespace Ippm.Tests.Wire;

public sealed class ControlMessageTests
{
    /// <summary>A message sample: its encoding, and a decoder that re-encodes what it decoded.</summary>
    private sealed record MessageCase(int Length, byte[] Encoded, Func<byte[], (OperationStatus Status, byte[]? Reencoded)> Decode);

    private static byte[] Pattern(int length, byte start) => Enumerable.Range(0, length).Select(i => (byte)(start + (i * 7))).ToArray();

    private static readonly SessionId s_sid = SessionId.Parse("7f000001eeb54d909c9613d336cd38ef");

    private static byte[] Encode(int length, Action<byte[]> write)
    {
        byte[] buffer = new byte[length];
        Array.Fill(buffer, (byte)0xA5); // proves Write sets every octet, MBZ included
        write(buffer);
        return buffer;
    }

    private static (OperationStatus, byte[]?) Reencode<T>(OperationStatus status, T? message, int length, Action<T, byte[]> write)
        where T : class
    {
        if (status != OperationStatus.Done)
        {
            return (status, null);
        }
        Assert.NotNull(message);
        return (status, Encode(length, b => write(message, b)));
    }

    private static SessionRequest TwampRequest() => new()
    {
        Command = CommandNumber.RequestTwSession,
        IpVersion = 4,
        SenderPort = 40000,
        ReceiverPort = 18800,
        SenderAddress = IPAddress.Parse("192.0.2.10"),
        ReceiverAddress = IPAddress.Parse("198.51.100.20"),
        PaddingLength = 64,
        StartTime = new NtpTimestamp(0xeeb54d92_12345678),
        Timeout = new NtpTimestamp(0x00000002_80000000),
        TypePDescriptor = SessionRequest.TypePFromDscp(46),
        OctetsToBeReflected = 0x0102,
        PaddingToReflect = 0x0304,
    };

    private static SessionRequest OwampRequest() => new()
    {
        Command = CommandNumber.RequestSession,
        IpVersion = 6,
        ConfSender = 1,
        ConfReceiver = 0,
        ScheduleSlotCount = 3,
        PacketCount = 1000,
        SenderPort = 0,
        ReceiverPort = 9407,
        SenderAddress = IPAddress.Parse("2001:db8::1"),
        ReceiverAddress = IPAddress.Parse("2001:db8:ffff::abcd"),
        Sid = s_sid,
        PaddingLength = 1400,
        StartTime = new NtpTimestamp(0xeeb54cc5_1fe5eaab),
        Timeout = new NtpTimestamp(0x00000002_00e28ed6),
        TypePDescriptor = 0,
    };

    private static MessageCase Case(string name) => name switch
    {
        "ServerGreeting" => new(ServerGreeting.Length,
            Encode(ServerGreeting.Length, b => new ServerGreeting(0x0000000F, Pattern(16, 0x10), Pattern(16, 0x20), 2048).Write(b)),
            b => Reencode(ServerGreeting.TryRead(b, out ServerGreeting? m), m, ServerGreeting.Length, (x, d) => x.Write(d))),
        "SetUpResponse" => new(SetUpResponse.Length,
            Encode(SetUpResponse.Length, b => new SetUpResponse(2, SetUpResponse.KeyIdFromIdentity("alice"), Pattern(64, 0x30), Pattern(16, 0x50)).Write(b)),
            b => Reencode(SetUpResponse.TryRead(b, out SetUpResponse? m), m, SetUpResponse.Length, (x, d) => x.Write(d))),
        "ServerStart" => new(ServerStart.Length,
            Encode(ServerStart.Length, b => new ServerStart(AcceptCode.Ok, Pattern(16, 0x60), new NtpTimestamp(0xeeb54d5b_15247cb7)).Write(b)),
            b => Reencode(ServerStart.TryRead(b, out ServerStart? m), m, ServerStart.Length, (x, d) => x.Write(d))),
        "ServerStartRejected" => new(ServerStart.Length,
            Encode(ServerStart.Length, b => new ServerStart(AcceptCode.TemporaryResourceLimitation, new byte[16], default).Write(b)),
            b => Reencode(ServerStart.TryRead(b, out ServerStart? m), m, ServerStart.Length, (x, d) => x.Write(d))),
        "RequestTwSession" => new(SessionRequest.Length,
            Encode(SessionRequest.Length, b => TwampRequest().Write(b)),
            b => Reencode(SessionRequest.TryRead(b, out SessionRequest? m), m, SessionRequest.Length, (x, d) => x.Write(d))),
        "RequestSession" => new(SessionRequest.Length,
            Encode(SessionRequest.Length, b => OwampRequest().Write(b)),
            b => Reencode(SessionRequest.TryRead(b, out SessionRequest? m), m, SessionRequest.Length, (x, d) => x.Write(d))),
        "AcceptSession" => new(AcceptSession.Length,
            Encode(AcceptSession.Length, b => new AcceptSession(AcceptCode.Ok, 18800, s_sid, 0x0102, 0xBEEF).Write(b)),
            b => Reencode(AcceptSession.TryRead(b, out AcceptSession? m), m, AcceptSession.Length, (x, d) => x.Write(d))),
        "StartSessions" => new(StartSessions.Length,
            Encode(StartSessions.Length, b => new StartSessions().Write(b)),
            b => Reencode(StartSessions.TryRead(b, out StartSessions? m), m, StartSessions.Length, (x, d) => x.Write(d))),
        "StartAck" => new(StartAck.Length,
            Encode(StartAck.Length, b => new StartAck(AcceptCode.NotSupported).Write(b)),
            b => Reencode(StartAck.TryRead(b, out StartAck? m), m, StartAck.Length, (x, d) => x.Write(d))),
        "TwampStopSessions" => new(TwampStopSessions.Length,
            Encode(TwampStopSessions.Length, b => new TwampStopSessions(AcceptCode.InternalError, 0x01020304).Write(b)),
            b => Reencode(TwampStopSessions.TryRead(b, out TwampStopSessions? m), m, TwampStopSessions.Length, (x, d) => x.Write(d))),
        "ScheduleSlot" => new(ScheduleSlot.Length,
            Encode(ScheduleSlot.Length, b => new ScheduleSlot(ScheduleSlotType.Fixed, new NtpTimestamp(0x00000000_40000000)).Write(b)),
            b =>
            {
                OperationStatus status = ScheduleSlot.TryRead(b, out ScheduleSlot slot);
                return status == OperationStatus.Done ? (status, Encode(ScheduleSlot.Length, d => slot.Write(d))) : (status, null);
            }),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
    };

    public static TheoryData<string> MessageNames =>
    [
        "ServerGreeting", "SetUpResponse", "ServerStart", "ServerStartRejected", "RequestTwSession", "RequestSession",
        "AcceptSession", "StartSessions", "StartAck", "TwampStopSessions", "ScheduleSlot",
    ];

    [Theory]
    [MemberData(nameof(MessageNames))]
    public void ControlMessage_EncodeDecodeEncode_GivesIdenticalBytes(string name)
    {
        MessageCase c = Case(name);
        Assert.Equal(c.Length, c.Encoded.Length);
        Assert.DoesNotContain((byte)0xA5, c.Encoded); // every octet was written (no sample field uses 0xA5)

        (OperationStatus status, byte[]? reencoded) = c.Decode(c.Encoded);

        Assert.Equal(OperationStatus.Done, status);
        Assert.Equal(Convert.ToHexStringLower(c.Encoded), Convert.ToHexStringLower(reencoded!));
    }

    [Theory]
    [MemberData(nameof(MessageNames))]
    public void ControlMessage_LongerInput_DecodesOnlyItsOwnOctets(string name)
    {
        MessageCase c = Case(name);
        byte[] longer = [.. c.Encoded, 0xFF, 0xFF, 0xFF];

        (OperationStatus status, byte[]? reencoded) = c.Decode(longer);

        Assert.Equal(OperationStatus.Done, status);
        Assert.Equal(Convert.ToHexStringLower(c.Encoded), Convert.ToHexStringLower(reencoded!));
    }

    [Theory]
    [MemberData(nameof(MessageNames))]
    public void ControlMessage_EveryTruncatedPrefix_NeedsMoreDataWithoutThrowing(string name)
    {
        MessageCase c = Case(name);
        for (int length = 0; length < c.Length; length++)
        {
            (OperationStatus status, byte[]? reencoded) = c.Decode(c.Encoded[..length]);
            Assert.True(status == OperationStatus.NeedMoreData, $"{name}: prefix of {length} octets gave {status}");
            Assert.Null(reencoded);

            // garbage prefixes (invalid command numbers, IPVN, slot types) are still just "too short"
            byte[] garbage = new byte[length];
            Array.Fill(garbage, (byte)0xFF);
            Assert.Equal(OperationStatus.NeedMoreData, c.Decode(garbage).Status);
        }
    }

    [Fact]
    public void SessionRequest_Decode_RestoresEveryField()
    {
        foreach (SessionRequest original in new[] { TwampRequest(), OwampRequest() })
        {
            byte[] bytes = new byte[SessionRequest.Length];
            original.Write(bytes);

            Assert.Equal(OperationStatus.Done, SessionRequest.TryRead(bytes, out SessionRequest? decoded));

            Assert.Equal(original, decoded); // record equality: every property, addresses by value
        }
    }

    [Fact]
    public void AcceptSession_Decode_RestoresEveryField()
    {
        var original = new AcceptSession(AcceptCode.TemporaryResourceLimitation, 65535, s_sid, 7, 9);
        byte[] bytes = new byte[AcceptSession.Length];
        original.Write(bytes);

        Assert.Equal(OperationStatus.Done, AcceptSession.TryRead(bytes, out AcceptSession? decoded));

        Assert.Equal(original, decoded);
        Assert.Equal("0500ffff" + s_sid, Convert.ToHexStringLower(bytes.AsSpan(0, 20)));
        Assert.Equal("00070009", Convert.ToHexStringLower(bytes.AsSpan(20, 4)));
    }

    [Fact]
    public void ServerGreeting_Decode_RestoresEveryFieldAtSpecOffsets()
    {
        byte[] bytes = new byte[ServerGreeting.Length];
        new ServerGreeting(0x0000000F, Pattern(16, 0x10), Pattern(16, 0x20), 2048).Write(bytes);

        Assert.Equal(OperationStatus.Done, ServerGreeting.TryRead(bytes, out ServerGreeting? g));

        Assert.Equal(0x0000000Fu, g!.Modes);
        Assert.Equal(Pattern(16, 0x10), g.Challenge);
        Assert.Equal(Pattern(16, 0x20), g.Salt);
        Assert.Equal(2048u, g.Count);
        Assert.Equal("0000000f", Convert.ToHexStringLower(bytes.AsSpan(12, 4)));
        Assert.Equal("00000800", Convert.ToHexStringLower(bytes.AsSpan(48, 4)));
        Assert.All(bytes[..12], b => Assert.Equal(0, b));
        Assert.All(bytes[52..], b => Assert.Equal(0, b));
    }

    [Fact]
    public void SetUpResponse_Decode_RestoresEveryFieldAtSpecOffsets()
    {
        byte[] bytes = new byte[SetUpResponse.Length];
        new SetUpResponse(4, SetUpResponse.KeyIdFromIdentity("alice"), Pattern(64, 0x30), Pattern(16, 0x50)).Write(bytes);

        Assert.Equal(OperationStatus.Done, SetUpResponse.TryRead(bytes, out SetUpResponse? r));

        Assert.Equal(4u, r!.Mode);
        Assert.Equal("alice", SetUpResponse.IdentityFromKeyId(r.KeyId));
        Assert.Equal(Pattern(64, 0x30), r.Token);
        Assert.Equal(Pattern(16, 0x50), r.ClientIv);
        Assert.Equal("00000004616c69636500", Convert.ToHexStringLower(bytes.AsSpan(0, 10)));
        Assert.Equal(Pattern(64, 0x30), bytes[84..148]);
        Assert.Equal(Pattern(16, 0x50), bytes[148..164]);
    }

    [Fact]
    public void SetUpResponse_KeyIdFromIdentity_PadsWithZerosAndRejectsOver80Octets()
    {
        byte[] keyId = SetUpResponse.KeyIdFromIdentity("alice");
        Assert.Equal(80, keyId.Length);
        Assert.All(keyId[5..], b => Assert.Equal(0, b));
        Assert.Equal("", SetUpResponse.IdentityFromKeyId(new byte[80]));
        Assert.Equal(new string('x', 80), SetUpResponse.IdentityFromKeyId(SetUpResponse.KeyIdFromIdentity(new string('x', 80))));
        Assert.Throws<ArgumentException>(() => SetUpResponse.KeyIdFromIdentity(new string('x', 81)));
        Assert.Throws<ArgumentException>(() => SetUpResponse.KeyIdFromIdentity(new string('é', 41))); // 82 octets in UTF-8
    }

    [Fact]
    public void ServerStart_Decode_ReadsAcceptAtOctet15()
    {
        byte[] bytes = new byte[ServerStart.Length];
        bytes[15] = 1;

        Assert.Equal(OperationStatus.Done, ServerStart.TryRead(bytes, out ServerStart? start));

        Assert.Equal(AcceptCode.Failure, start!.Accept);
        Assert.True(start.StartTime.IsZero);
    }

    public static TheoryData<byte> InvalidSessionRequestCommands => [0, 2, 3, 4, 6, 7, 9, 254, 255];

    [Theory]
    [MemberData(nameof(InvalidSessionRequestCommands))]
    public void SessionRequest_InvalidCommandNumber_IsInvalidData(byte command)
    {
        byte[] bytes = new byte[SessionRequest.Length];
        TwampRequest().Write(bytes);
        bytes[0] = command;

        Assert.Equal(OperationStatus.InvalidData, SessionRequest.TryRead(bytes, out SessionRequest? request));
        Assert.Null(request);
    }

    public static TheoryData<byte> InvalidIpvn => [0x00, 0x01, 0x05, 0x07, 0x0F, 0xF0];

    [Theory]
    [MemberData(nameof(InvalidIpvn))]
    public void SessionRequest_InvalidIpvn_IsInvalidData(byte ipvnOctet)
    {
        byte[] bytes = new byte[SessionRequest.Length];
        TwampRequest().Write(bytes);
        bytes[1] = ipvnOctet;

        Assert.Equal(OperationStatus.InvalidData, SessionRequest.TryRead(bytes, out SessionRequest? request));
        Assert.Null(request);
    }

    [Fact]
    public void SessionRequest_IpvnHighNibble_IsIgnoredAsMbz()
    {
        byte[] bytes = new byte[SessionRequest.Length];
        TwampRequest().Write(bytes);
        Assert.Equal(0x04, bytes[1]);
        bytes[1] = 0x34;

        Assert.Equal(OperationStatus.Done, SessionRequest.TryRead(bytes, out SessionRequest? request));
        Assert.Equal(4, request!.IpVersion);
    }

    public static TheoryData<byte> NotStartSessions => [0, 1, 3, 4, 5, 255];

    [Theory]
    [MemberData(nameof(NotStartSessions))]
    public void StartSessions_OtherCommandNumber_IsInvalidData(byte command)
    {
        byte[] bytes = new byte[StartSessions.Length];
        bytes[0] = command;

        Assert.Equal(OperationStatus.InvalidData, StartSessions.TryRead(bytes, out StartSessions? message));
        Assert.Null(message);
    }

    public static TheoryData<byte> NotStopSessions => [0, 1, 2, 4, 5, 255];

    [Theory]
    [MemberData(nameof(NotStopSessions))]
    public void TwampStopSessions_OtherCommandNumber_IsInvalidData(byte command)
    {
        byte[] bytes = new byte[TwampStopSessions.Length];
        new TwampStopSessions(AcceptCode.Ok, 1).Write(bytes);
        bytes[0] = command;

        Assert.Equal(OperationStatus.InvalidData, TwampStopSessions.TryRead(bytes, out TwampStopSessions? message));
        Assert.Null(message);
    }

    [Theory]
    [InlineData((byte)2)]
    [InlineData((byte)0x80)]
    [InlineData((byte)255)]
    public void ScheduleSlot_UnknownType_IsInvalidData(byte type)
    {
        byte[] bytes = new byte[ScheduleSlot.Length];
        bytes[0] = type;

        Assert.Equal(OperationStatus.InvalidData, ScheduleSlot.TryRead(bytes, out _));
    }

    [Fact]
    public void TwampStopSessions_Encode_PutsCountAtOctet4()
    {
        byte[] bytes = new byte[TwampStopSessions.Length];
        new TwampStopSessions(AcceptCode.Ok, 1).Write(bytes);

        // the twamp-open capture's Stop-Sessions, frame 24
        Assert.Equal("0300000000000001000000000000000000000000000000000000000000000000", Convert.ToHexStringLower(bytes));
    }

    [Fact]
    public void SessionRequest_TypePDescriptor_DscpFormOnly()
    {
        Assert.Equal(0x2E00_0000u, SessionRequest.TypePFromDscp(46)); // EF → 2E 00 00 00
        Assert.Equal((byte)46, new SessionRequest { TypePDescriptor = 0x2E00_0000 }.Dscp);
        Assert.Equal((byte)0, new SessionRequest { TypePDescriptor = 0 }.Dscp);
        Assert.Null(new SessionRequest { TypePDescriptor = 0x4000_0001 }.Dscp); // PHB ID form
    }

    // Crypto digest §7, V5: the first client message of the worked vectors (Request-TW-Session, octets 0–95).
    private const string V5Plaintext =
        "0504000000000000000000009c4049707f0000010000000000000000000000007f000001000000000000000000000000" +
        "0000000000000000000000000000000000000000eeb54d92000000000000000200000000000000000000000000000000";

    [Fact]
    public void RequestTwSession_V5Plaintext_DecodesToDescribedFieldsAndReencodesExactly()
    {
        byte[] message = [.. Convert.FromHexString(V5Plaintext), .. new byte[16]];
        Assert.Equal(112, message.Length);

        Assert.Equal(OperationStatus.Done, SessionRequest.TryRead(message, out SessionRequest? r));

        Assert.Equal(CommandNumber.RequestTwSession, r!.Command);
        Assert.Equal(4, r.IpVersion);
        Assert.Equal(0, r.ConfSender);
        Assert.Equal(0, r.ConfReceiver);
        Assert.Equal(0u, r.ScheduleSlotCount);
        Assert.Equal(0u, r.PacketCount);
        Assert.Equal(40000, r.SenderPort);
        Assert.Equal(18800, r.ReceiverPort);
        Assert.Equal(IPAddress.Parse("127.0.0.1"), r.SenderAddress);
        Assert.Equal(IPAddress.Parse("127.0.0.1"), r.ReceiverAddress);
        Assert.True(r.Sid.IsZero);
        Assert.Equal(0u, r.PaddingLength);
        Assert.Equal(new NtpTimestamp(0xeeb54d92_00000000), r.StartTime);
        Assert.Equal(new NtpTimestamp(0x00000002_00000000), r.Timeout);
        Assert.Equal(2.0, r.Timeout.TotalSeconds);
        Assert.Equal(0u, r.TypePDescriptor);
        Assert.Equal(0, r.OctetsToBeReflected);
        Assert.Equal(0, r.PaddingToReflect);

        byte[] reencoded = new byte[SessionRequest.Length];
        Array.Fill(reencoded, (byte)0xEE);
        r.Write(reencoded);
        Assert.Equal(V5Plaintext + new string('0', 32), Convert.ToHexStringLower(reencoded));
    }

    [Fact]
    public void RequestTwSession_BuiltFromV5Description_EncodesToV5Bytes()
    {
        var request = new SessionRequest
        {
            Command = CommandNumber.RequestTwSession,
            IpVersion = 4,
            SenderPort = 40000,
            ReceiverPort = 18800,
            SenderAddress = IPAddress.Loopback,
            ReceiverAddress = IPAddress.Loopback,
            StartTime = new NtpTimestamp(0xeeb54d92_00000000),
            Timeout = NtpTimestamp.FromSeconds(2.0),
        };
        byte[] bytes = new byte[SessionRequest.Length];

        request.Write(bytes);

        Assert.Equal(V5Plaintext + new string('0', 32), Convert.ToHexStringLower(bytes));
    }

    // Crypto digest §7, V4: the first Accept-Session (octets 0–31).
    private const string V4Plaintext = "000049707f000001eeb54d909c9613d336cd38ef000000000000000000000000";

    [Fact]
    public void AcceptSession_V4Plaintext_DecodesToDescribedFieldsAndReencodesExactly()
    {
        byte[] message = [.. Convert.FromHexString(V4Plaintext), .. new byte[16]];

        Assert.Equal(OperationStatus.Done, AcceptSession.TryRead(message, out AcceptSession? a));

        Assert.Equal(AcceptCode.Ok, a!.Accept);
        Assert.Equal(18800, a.Port);
        Assert.Equal(SessionId.Parse("7f000001eeb54d909c9613d336cd38ef"), a.Sid);
        Assert.Equal(0, a.ReflectedOctets);
        Assert.Equal(0, a.ServerOctets);

        byte[] reencoded = new byte[AcceptSession.Length];
        Array.Fill(reencoded, (byte)0xEE);
        a.Write(reencoded);
        Assert.Equal(V4Plaintext + new string('0', 32), Convert.ToHexStringLower(reencoded));
    }

    [Fact]
    public void SessionId_ParseWriteToString_RoundTrips()
    {
        const string hex = "7f000001eeb54d909c9613d336cd38ef";
        SessionId sid = SessionId.Parse(hex);

        Assert.Equal(0x7f000001eeb54d90UL, sid.High);
        Assert.Equal(0x9c9613d336cd38efUL, sid.Low);
        Assert.Equal(hex, sid.ToString());
        Assert.Equal(hex, Convert.ToHexStringLower(sid.ToArray()));
        Assert.False(sid.IsZero);
        Assert.True(default(SessionId).IsZero);
    }
}
