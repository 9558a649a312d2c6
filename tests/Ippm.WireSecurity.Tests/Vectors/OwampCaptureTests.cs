using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using Ippm.Security;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;

namespace Ippm.Tests.Vectors;

/// <summary>
/// The perfSONAR 5.2.3 OWAMP captures (owping against owampd): two sessions ("to" the server, where the client
/// sends, and "from" it, where the server sends), Stop-Sessions both ways, then Fetch-Session of the "to"
/// session. Expected values are literals from <c>NAME.decoded.txt</c>.
/// </summary>
public sealed class OwampCaptureTests
{
    private const ulong OwampdStartTime = 0xeeb54c42_12fcefaa;

    /// <summary>owping's 0.1 s exponential slot as it appears on the wire (a float-rounded 0.1, not 0x19999999).</summary>
    private const ulong OwpingSlotMean = 0x00000000_199999a0;

    internal sealed record Expectation(
        SecurityMode Mode,
        string Challenge,
        string Salt,
        string ClientIv,
        string ServerIv,
        string? DerivedKey,
        string? AesKey,
        string? HmacKey,
        ushort ToSenderPort,
        ushort FromReceiverPort,
        ulong RequestStartTime,
        ulong Timeout,
        ushort ToAcceptPort,
        string ToSid,
        ushort FromAcceptPort,
        string FromSid,
        string[] ClientHmacs,
        string[] ServerHmacs,
        string? ToTestAesKey,
        string? ToTestHmacKey,
        string? FromTestAesKey,
        string? FromTestHmacKey,
        ulong[] ToSendTimestamps,
        ulong[] ToReceiveTimestamps,
        ulong[] FromSendTimestamps);

    private static readonly string s_zero = new('0', 32);

    internal static readonly Dictionary<string, Expectation> Expected = new()
    {
        ["owamp-open"] = new(
            SecurityMode.Open,
            Challenge: "cfcdd5405731d25761bc570c588d5d9e",
            Salt: "fe655af8685eb98e55f2f5f8f72f671a",
            ClientIv: "00000000000000000000000000000000",
            ServerIv: "00000000000000000000000000000000",
            DerivedKey: null,
            AesKey: null,
            HmacKey: null,
            ToSenderPort: 9136,
            FromReceiverPort: 9010,
            RequestStartTime: 0xeeb54cbd_87ff79c7,
            Timeout: 0x00000002_00099179,
            ToAcceptPort: 9744,
            ToSid: "7f000001eeb54cbc92975afa5299ac45",
            FromAcceptPort: 9276,
            FromSid: "7f000001eeb54cbc92dcc20d8943d86d",
            ClientHmacs: [s_zero, s_zero, s_zero, s_zero, s_zero, s_zero, s_zero],
            ServerHmacs: [s_zero, s_zero, s_zero, s_zero, s_zero, s_zero, s_zero, s_zero, s_zero],
            ToTestAesKey: null,
            ToTestHmacKey: null,
            FromTestAesKey: null,
            FromTestHmacKey: null,
            ToSendTimestamps: [0xeeb54cbd_8de7c8d1, 0xeeb54cbd_b747d805, 0xeeb54cbd_bedaec4a, 0xeeb54cbd_e7785729, 0xeeb54cbd_fb8348f5],
            ToReceiveTimestamps: [0xeeb54cbd_8dfb2edf, 0xeeb54cbd_b752007d, 0xeeb54cbd_bee45c35, 0xeeb54cbd_e783be66, 0xeeb54cbd_fb8bef8c],
            FromSendTimestamps: [0xeeb54cbd_a2a0ec74, 0xeeb54cbd_a2fd21ff, 0xeeb54cbd_c7c7b45f, 0xeeb54cbe_10d8dbce, 0xeeb54cbe_2837a3db]),

        ["owamp-auth"] = new(
            SecurityMode.Authenticated,
            Challenge: "7a0e5b03e75bc46cab9f6d52eeb5886f",
            Salt: "2e17d4a0d708565995a1794b0aac90b2",
            ClientIv: "7aa9c625b739d1a9b4299541210580e3",
            ServerIv: "69945162634c869bd4283f5d96bcb0d4",
            DerivedKey: "d707a5ecb1a1135c978834b17f90428b",
            AesKey: "36a8979cc2be09e559b541a6db38aa64",
            HmacKey: "2d8619b38b27ec746a5e63d79dda20389e02e5cbcbd7060b1e755ac6ac7f20ff",
            ToSenderPort: 9952,
            FromReceiverPort: 9407,
            RequestStartTime: 0xeeb54cc5_1fe5eaab,
            Timeout: 0x00000002_00e28ed6,
            ToAcceptPort: 9755,
            ToSid: "7f000001eeb54cc428169c231dded289",
            FromAcceptPort: 8793,
            FromSid: "7f000001eeb54cc42855da271ce7f832",
            ClientHmacs:
            [
                "4e007ac15d8e1cb884191252e407c594", "9af5589bf6f94e727c8f22ed7cc6fe03", // Request-Session "to": header, slots
                "ce4bd029be58ad4ed971c1ade1341206", "9af5589bf6f94e727c8f22ed7cc6fe03", // Request-Session "from"
                "e201b360eaddde7cee20a3c807f2ec08", // Start-Sessions
                "10bf89fab6ed5ca23e4faacf0b60151e", // Stop-Sessions
                "05285c527050dd1dfc178533586f1049", // Fetch-Session
            ],
            ServerHmacs:
            [
                "1e00298ebab2db7e654320510a51cc41", "ff3d87f747f350730af38bfd10ad1e5c", // Accept-Session ×2
                "b35bc7c1eb1c0461a2129b90339d6c1f", // Start-Ack
                "43b4c878761592aba9c5fa5ce546bb39", // Stop-Sessions
                "dc057ed259357d16e7bf607cd212dbfa", // Fetch-Ack
                "8d265482d0a1763b7fdbfd2f85b4bd3f", "9af5589bf6f94e727c8f22ed7cc6fe03", // Request-Session copy
                "4065b0d74c5745be786c86c108aabc96", // skip ranges (none)
                "dfca8c0a3ee6defdae501c5cea315300", // records
            ],
            ToTestAesKey: "634fe16add7d2081d80b4f4677bdc400",
            ToTestHmacKey: "c5588e5a25b6216b9cab921cabaef4cd10b24273d3916b2dcfe17a9cd055907d",
            FromTestAesKey: "ea7fb2f7c31157b72e66bbc551d037c9",
            FromTestHmacKey: "6417646f943ff3f7cdc8a6bb592a946747ccd8076b2553de57e4f731fb5c8db7",
            ToSendTimestamps: [0xeeb54cc5_5a3df6db, 0xeeb54cc5_849eecbf, 0xeeb54cc5_8d32f87a, 0xeeb54cc5_b107b784, 0xeeb54cc5_d11ff716],
            ToReceiveTimestamps: [0xeeb54cc5_5a48f96e, 0xeeb54cc5_84a8f3a9, 0xeeb54cc5_8d392189, 0xeeb54cc5_b1117b52, 0xeeb54cc5_d1289dad],
            FromSendTimestamps: [0xeeb54cc5_3c890928, 0xeeb54cc5_8b775b81, 0xeeb54cc5_a6b8e8ea, 0xeeb54cc5_ce733ebb, 0xeeb54cc5_e009f623]),

        ["owamp-encrypted"] = new(
            SecurityMode.Encrypted,
            Challenge: "e4b7d4addaa383b409a8c4ad993f0140",
            Salt: "744c309df708fdfd36a6923de50c47d6",
            ClientIv: "0627c7ee5ea14c0bcb46bcee1824cae1",
            ServerIv: "b3e2f96b6e23a49a621095d27231902f",
            DerivedKey: "1c6a47f659c9595234592d21c28ecb4a",
            AesKey: "27e0015c1a55fbb58840d6a9dfea6c4a",
            HmacKey: "6982700550e12a2dc37efca7cff33648618caf2313828d2c4818b4d11b077a08",
            ToSenderPort: 9733,
            FromReceiverPort: 9950,
            RequestStartTime: 0xeeb54ccc_f5f00abf,
            Timeout: 0x00000002_00fe36d2,
            ToAcceptPort: 9796,
            ToSid: "7f000001eeb54ccbff2085b1166546c2",
            FromAcceptPort: 9904,
            FromSid: "7f000001eeb54ccbff7292c431759fdb",
            ClientHmacs:
            [
                "c22c2f6c308da6b3772d6676354436f1", "6a3624f24f19affbee3ecd26f8cb8533",
                "cf6285a8c3b85a7f4f27f5a5461e2ea1", "6a3624f24f19affbee3ecd26f8cb8533",
                "0627597f0e0520fe360dc32c7c936fb2",
                "599bf00431677a391bb2d165261ed031",
                "5807f0a6b3bc10a468e7ff0a2bd720c3",
            ],
            ServerHmacs:
            [
                "ce45120db162f5ef6c6b9ebb80be4e95", "bec49c4f65961304dd1ca46af0e4940c",
                "86d62d8acd774fb46b652877d61b029c",
                "449c37b932b76a16cc59b7e49f015cfd",
                "1b6196352f77eb4929f47672361a8b71",
                "5c46991d329917a0dc23c3417da06e8a", "6a3624f24f19affbee3ecd26f8cb8533",
                "649be4e88e046445c8e3321c4acf4194",
                "0d568171a124fc347fdaca44431d1cb9",
            ],
            ToTestAesKey: "15be10cf87953894c2c16d7668ff0282",
            ToTestHmacKey: "ce251c35428bece89329e9ef3d7ed12318750c0f917764395734a7739e9423ee",
            FromTestAesKey: "b11b769b5281a40dcaf86cd79e57d302",
            FromTestHmacKey: "bd258f6c76ad21db4881908e4810d70afbc3d4c1c37ffc7eb35a0a59f7b3e7fe",
            ToSendTimestamps: [0xeeb54ccc_f88de2ac, 0xeeb54ccd_0c2602c9, 0xeeb54ccd_14271fff, 0xeeb54ccd_8939da16, 0xeeb54ccd_bc102ff8],
            ToReceiveTimestamps: [0xeeb54ccc_f894b380, 0xeeb54ccd_0c2e2328, 0xeeb54ccd_142cf52b, 0xeeb54ccd_8944241c, 0xeeb54ccd_bc1b0036],
            FromSendTimestamps: [0xeeb54ccc_f7f93ff2, 0xeeb54ccd_1689ca18, 0xeeb54ccd_2a6fb4c3, 0xeeb54ccd_4cfbdad7, 0xeeb54ccd_513e8145]),
    };

    public static TheoryData<string> AllCaptures => ["owamp-open", "owamp-auth", "owamp-encrypted"];

    public static TheoryData<string> ProtectedCaptures => ["owamp-auth", "owamp-encrypted"];

    internal sealed record StopDescription(SessionId Sid, uint NextSeqno, uint SkipRangeCount);

    internal sealed record FetchRecord(uint Seq, ErrorEstimate SendError, ErrorEstimate ReceiveError, NtpTimestamp Send, NtpTimestamp Receive, byte Ttl);

    internal sealed record ControlDecode(
        ServerGreeting Greeting,
        SetUpResponse SetUp,
        ServerStart Start,
        ControlKeys? Keys,
        SessionRequest ToRequest,
        ScheduleSlot[] ToSlots,
        SessionRequest FromRequest,
        ScheduleSlot[] FromSlots,
        AcceptSession ToAccept,
        AcceptSession FromAccept,
        StartAck StartAck,
        byte ClientStopAccept,
        StopDescription[] ClientStop,
        byte ServerStopAccept,
        StopDescription[] ServerStop,
        uint FetchBegin,
        uint FetchEnd,
        SessionId FetchSid,
        byte[] FetchAck,
        SessionRequest FetchedRequest,
        ScheduleSlot[] FetchedSlots,
        FetchRecord[] Records,
        List<string> ClientHmacs,
        List<string> ServerHmacs);

    [Theory]
    [MemberData(nameof(AllCaptures))]
    public void OwampCapture_Handshake_DecodesAndKeysMatchDecode(string name)
    {
        Expectation e = Expected[name];
        PerfsonarCapture capture = PerfsonarCapture.Load(name, PerfsonarCapture.OwampControlPort);

        // decoded.txt: "client->server control bytes: 596, server->client control bytes: 640"
        Assert.Equal(596, capture.ClientToServer.Length);
        Assert.Equal(640, capture.ServerToClient.Length);

        Assert.Equal(OperationStatus.Done, ServerGreeting.TryRead(capture.ServerToClient, out ServerGreeting? greeting));
        Assert.Equal(0x7u, greeting!.Modes);
        Assert.Equal(e.Challenge, Convert.ToHexStringLower(greeting.Challenge));
        Assert.Equal(e.Salt, Convert.ToHexStringLower(greeting.Salt));
        Assert.Equal(2048u, greeting.Count);

        Assert.Equal(OperationStatus.Done, SetUpResponse.TryRead(capture.ClientToServer, out SetUpResponse? setUp));
        Assert.Equal((uint)e.Mode, setUp!.Mode);
        Assert.Equal(e.Mode == SecurityMode.Open ? "" : "alice", SetUpResponse.IdentityFromKeyId(setUp.KeyId));
        Assert.Equal(e.ClientIv, Convert.ToHexStringLower(setUp.ClientIv));

        Assert.Equal(OperationStatus.Done, ServerStart.TryRead(capture.ServerToClient.AsSpan(ServerGreeting.Length), out ServerStart? start));
        Assert.Equal(AcceptCode.Ok, start!.Accept);
        Assert.Equal(e.ServerIv, Convert.ToHexStringLower(start.ServerIv));

        if (e.Mode != SecurityMode.Open)
        {
            byte[] dk = Token.DeriveKey(TwampCaptureTests.AliceSecret(), greeting.Salt, greeting.Count);
            Assert.Equal(e.DerivedKey, Convert.ToHexStringLower(dk));
            using ControlKeys? keys = Token.TryDecrypt(dk, setUp.Token, greeting.Challenge);
            Assert.NotNull(keys);
            Assert.Equal(e.AesKey, Convert.ToHexStringLower(keys.AesKey));
            Assert.Equal(e.HmacKey, Convert.ToHexStringLower(keys.HmacKey));
        }
    }

    [Theory]
    [MemberData(nameof(AllCaptures))]
    public void OwampCapture_ControlStreams_EveryHmacVerifiesAndMessagesMatchDecode(string name)
    {
        Expectation e = Expected[name];
        ControlDecode d = DecodeControl(name);
        using ControlKeys? keys = d.Keys;

        Assert.Equal(new NtpTimestamp(OwampdStartTime), d.Start.StartTime);

        // Request-Session "to" the server: the client sends, the server receives (Conf-Receiver = 1)
        AssertRequest(d.ToRequest, e, confSender: 0, confReceiver: 1, senderPort: e.ToSenderPort, receiverPort: 0, sid: default);
        // Request-Session "from" the server: the server sends; the client, as receiver, chose the SID
        AssertRequest(d.FromRequest, e, confSender: 1, confReceiver: 0, senderPort: 0, receiverPort: e.FromReceiverPort, sid: SessionId.Parse(e.FromSid));
        foreach (ScheduleSlot[] slots in new[] { d.ToSlots, d.FromSlots, d.FetchedSlots })
        {
            ScheduleSlot slot = Assert.Single(slots);
            Assert.Equal(ScheduleSlotType.Exponential, slot.Type);
            Assert.Equal(new NtpTimestamp(OwpingSlotMean), slot.Parameter);
            Assert.InRange(slot.Parameter.TotalSeconds, 0.1, 0.1 + 1e-8); // 0.1 s, float-rounded by owping
        }

        Assert.Equal(AcceptCode.Ok, d.ToAccept.Accept);
        Assert.Equal(e.ToAcceptPort, d.ToAccept.Port);
        Assert.Equal(SessionId.Parse(e.ToSid), d.ToAccept.Sid);
        Assert.Equal(AcceptCode.Ok, d.FromAccept.Accept);
        Assert.Equal(e.FromAcceptPort, d.FromAccept.Port);
        Assert.Equal(SessionId.Parse(e.FromSid), d.FromAccept.Sid); // the server echoes the client's SID

        Assert.Equal(AcceptCode.Ok, d.StartAck.Accept);

        // Stop-Sessions: each side describes the session it sent, 5 packets, no skip ranges
        Assert.Equal(0, d.ClientStopAccept);
        Assert.Equal(new StopDescription(SessionId.Parse(e.ToSid), 5, 0), Assert.Single(d.ClientStop));
        Assert.Equal(0, d.ServerStopAccept);
        Assert.Equal(new StopDescription(SessionId.Parse(e.FromSid), 5, 0), Assert.Single(d.ServerStop));

        // Fetch-Session of the "to" session, and its Fetch-Ack
        Assert.Equal(0u, d.FetchBegin);
        Assert.Equal(uint.MaxValue, d.FetchEnd);
        Assert.Equal(SessionId.Parse(e.ToSid), d.FetchSid);
        Assert.Equal(0, d.FetchAck[0]); // Accept
        Assert.Equal(1, d.FetchAck[1]); // Finished: ended normally after Stop-Sessions
        Assert.Equal(5u, BinaryPrimitives.ReadUInt32BigEndian(d.FetchAck.AsSpan(4))); // Next Seqno
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(d.FetchAck.AsSpan(8))); // skip ranges
        Assert.Equal(5u, BinaryPrimitives.ReadUInt32BigEndian(d.FetchAck.AsSpan(12))); // records

        // the copy of the original Request-Session now carries the receiver port and the SID
        AssertRequest(d.FetchedRequest, e, confSender: 0, confReceiver: 1, senderPort: e.ToSenderPort, receiverPort: e.ToAcceptPort, sid: SessionId.Parse(e.ToSid));

        Assert.Equal(5, d.Records.Length);
        for (int i = 0; i < 5; i++)
        {
            FetchRecord r = d.Records[i];
            Assert.Equal((uint)i, r.Seq);
            Assert.Equal(new ErrorEstimate(0x0001), r.SendError);
            Assert.Equal(new ErrorEstimate(0x0001), r.ReceiveError);
            Assert.Equal(new NtpTimestamp(e.ToSendTimestamps[i]), r.Send);
            Assert.Equal(new NtpTimestamp(e.ToReceiveTimestamps[i]), r.Receive);
            Assert.Equal(255, r.Ttl);
        }

        Assert.Equal(e.ClientHmacs, d.ClientHmacs);
        Assert.Equal(e.ServerHmacs, d.ServerHmacs);
    }

    [Theory]
    [MemberData(nameof(ProtectedCaptures))]
    public void OwampCapture_TestSessionKeys_MatchDecode(string name)
    {
        Expectation e = Expected[name];
        ControlDecode d = DecodeControl(name);
        using ControlKeys keys = d.Keys!;
        byte[] aes = new byte[16];
        byte[] hmac = new byte[32];

        TestPacketCipher.DeriveSessionKeys(keys, d.ToAccept.Sid, aes, hmac);
        Assert.Equal(e.ToTestAesKey, Convert.ToHexStringLower(aes));
        Assert.Equal(e.ToTestHmacKey, Convert.ToHexStringLower(hmac));

        TestPacketCipher.DeriveSessionKeys(keys, d.FromAccept.Sid, aes, hmac);
        Assert.Equal(e.FromTestAesKey, Convert.ToHexStringLower(aes));
        Assert.Equal(e.FromTestHmacKey, Convert.ToHexStringLower(hmac));
    }

    [Theory]
    [MemberData(nameof(AllCaptures))]
    public void OwampCapture_TestPackets_VerifyAndMatchDecodeAndFetchedRecords(string name)
    {
        Expectation e = Expected[name];
        ControlDecode d = DecodeControl(name);
        using ControlKeys? keys = d.Keys;
        PerfsonarCapture capture = PerfsonarCapture.Load(name, PerfsonarCapture.OwampControlPort);
        bool protectedLayout = e.Mode.ProtectsTestPackets();
        Assert.Equal(10, capture.Udp.Count);

        // "to": client sender port → the port in the first Accept-Session;
        // "from": the server sends from the port in the second Accept-Session to the client's receiver port.
        var to = capture.Udp.Where(p => p.SourcePort == d.ToRequest.SenderPort && p.DestinationPort == d.ToAccept.Port).ToList();
        var from = capture.Udp.Where(p => p.SourcePort == d.FromAccept.Port && p.DestinationPort == d.FromRequest.ReceiverPort).ToList();
        Assert.Equal(5, to.Count);
        Assert.Equal(5, from.Count);

        using TestPacketCipher? toCipher = protectedLayout ? TestPacketCipher.Create(e.Mode, keys!, d.ToAccept.Sid) : null;
        using TestPacketCipher? fromCipher = protectedLayout ? TestPacketCipher.Create(e.Mode, keys!, d.FromAccept.Sid) : null;
        int length = TestPacketLayout.SenderHeader(protectedLayout); // padding 0 in both requests

        for (int i = 0; i < 5; i++)
        {
            SenderPacket toPacket = Open(to[i].Payload, toCipher, length, $"{name} to #{i}");
            Assert.Equal((uint)i, toPacket.SequenceNumber);
            Assert.Equal(new NtpTimestamp(e.ToSendTimestamps[i]), toPacket.Timestamp);
            Assert.Equal(new ErrorEstimate(0x0001), toPacket.ErrorEstimate);
            // what the receiver recorded and returned through Fetch-Session
            Assert.Equal(d.Records[i].Send, toPacket.Timestamp);
            Assert.Equal(d.Records[i].SendError, toPacket.ErrorEstimate);

            SenderPacket fromPacket = Open(from[i].Payload, fromCipher, length, $"{name} from #{i}");
            Assert.Equal((uint)i, fromPacket.SequenceNumber);
            Assert.Equal(new NtpTimestamp(e.FromSendTimestamps[i]), fromPacket.Timestamp);
            Assert.Equal(new ErrorEstimate(0x0001), fromPacket.ErrorEstimate);
        }

        if (toCipher is not null)
        {
            // each session has its own keys: a "to" packet does not verify under the "from" session keys
            byte[] crossed = (byte[])to[0].Payload.Clone();
            Assert.False(fromCipher!.TryUnprotect(crossed, TestPacketLayout.SenderHmacOffset));
            byte[] tampered = (byte[])to[0].Payload.Clone();
            tampered[1] ^= 0x40;
            Assert.False(toCipher.TryUnprotect(tampered, TestPacketLayout.SenderHmacOffset));
        }
    }

    [Fact]
    public void OwampAuthCapture_OneBitFlipInStopSessions_FailsItsHmac()
    {
        // client→server: Set-Up-Response 164, two Request-Sessions 144 each, Start-Sessions 32, then Stop-Sessions
        int stopOffset = SetUpResponse.Length + 144 + 144 + 32;
        var ex = Assert.Throws<Xunit.Sdk.TrueException>(() => DecodeControl("owamp-auth", tamperClientOffset: stopOffset + 26));
        Assert.Contains("Stop-Sessions", ex.Message, StringComparison.Ordinal);

        // server→client: a flipped bit in the fetched records breaks the records HMAC
        var ex2 = Assert.Throws<Xunit.Sdk.TrueException>(() => DecodeControl("owamp-auth", tamperServerOffset: 640 - 40));
        Assert.Contains("records", ex2.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OwampAuthWrongpassCapture_ServerStart_RejectsAndTokenNeedsWrongpass()
    {
        PerfsonarCapture capture = PerfsonarCapture.Load("owamp-auth-wrongpass", PerfsonarCapture.OwampControlPort);
        Assert.Equal(164, capture.ClientToServer.Length);
        Assert.Equal(112, capture.ServerToClient.Length);

        Assert.Equal(OperationStatus.Done, ServerGreeting.TryRead(capture.ServerToClient, out ServerGreeting? greeting));
        Assert.Equal(0x7u, greeting!.Modes);
        Assert.Equal("86a41e3442f080d0536022db1d18b954", Convert.ToHexStringLower(greeting.Challenge));
        Assert.Equal("4a6dd8ba3005799b909a7904d5ef30e5", Convert.ToHexStringLower(greeting.Salt));
        Assert.Equal(OperationStatus.Done, SetUpResponse.TryRead(capture.ClientToServer, out SetUpResponse? setUp));
        Assert.Equal((uint)SecurityMode.Authenticated, setUp!.Mode);
        Assert.Equal("alice", SetUpResponse.IdentityFromKeyId(setUp.KeyId));

        Assert.Equal(OperationStatus.Done, ServerStart.TryRead(capture.ServerToClient.AsSpan(ServerGreeting.Length), out ServerStart? start));
        Assert.Equal(AcceptCode.Failure, start!.Accept);
        Assert.All(start.ServerIv, b => Assert.Equal(0, b));
        Assert.True(start.StartTime.IsZero);

        Assert.Null(Token.TryDecrypt(Token.DeriveKey(TwampCaptureTests.AliceSecret(), greeting.Salt, greeting.Count), setUp.Token, greeting.Challenge));
        byte[] wrongDk = Token.DeriveKey("wrongpass"u8, greeting.Salt, greeting.Count);
        Assert.Equal("4a6368169a29a5944612bc290130e7cb", Convert.ToHexStringLower(wrongDk));
        using ControlKeys? keys = Token.TryDecrypt(wrongDk, setUp.Token, greeting.Challenge);
        Assert.NotNull(keys);
    }

    private static SenderPacket Open(byte[] payload, TestPacketCipher? cipher, int expectedLength, string what)
    {
        byte[] packet = (byte[])payload.Clone();
        Assert.Equal(expectedLength, packet.Length);
        if (cipher is not null)
        {
            Assert.True(cipher.TryUnprotect(packet, TestPacketLayout.SenderHmacOffset), $"{what}: HMAC does not verify");
            Assert.All(packet[4..16], b => Assert.Equal(0, b));
            Assert.All(packet[26..32], b => Assert.Equal(0, b));
        }
        Assert.Equal(OperationStatus.Done, SenderPacket.TryRead(packet, cipher is not null, out SenderPacket result));
        return result;
    }

    private static void AssertRequest(SessionRequest r, Expectation e, byte confSender, byte confReceiver, ushort senderPort, ushort receiverPort, SessionId sid)
    {
        Assert.Equal(CommandNumber.RequestSession, r.Command);
        Assert.Equal(4, r.IpVersion);
        Assert.Equal(confSender, r.ConfSender);
        Assert.Equal(confReceiver, r.ConfReceiver);
        Assert.Equal(1u, r.ScheduleSlotCount);
        Assert.Equal(5u, r.PacketCount);
        Assert.Equal(senderPort, r.SenderPort);
        Assert.Equal(receiverPort, r.ReceiverPort);
        Assert.Equal(IPAddress.Loopback, r.SenderAddress);
        Assert.Equal(IPAddress.Loopback, r.ReceiverAddress);
        Assert.Equal(sid, r.Sid);
        Assert.Equal(0u, r.PaddingLength);
        Assert.Equal(new NtpTimestamp(e.RequestStartTime), r.StartTime);
        Assert.Equal(new NtpTimestamp(e.Timeout), r.Timeout);
        Assert.Equal(0u, r.TypePDescriptor);
    }

    private static int WholeBlocks(int octets) => (octets + 15) / 16 * 16;

    /// <summary>Request-Session (112) + N slot blocks + the slots' HMAC block.</summary>
    private static (SessionRequest Request, ScheduleSlot[] Slots) ReadRequestSession(ControlReceiver rx, string what)
    {
        byte[] header = rx.Message(SessionRequest.Length, what);
        Assert.Equal(OperationStatus.Done, SessionRequest.TryRead(header, out SessionRequest? request));
        var slots = new ScheduleSlot[request!.ScheduleSlotCount];
        byte[] slotBlocks = rx.Blocks(ScheduleSlot.Length * slots.Length);
        for (int i = 0; i < slots.Length; i++)
        {
            Assert.Equal(OperationStatus.Done, ScheduleSlot.TryRead(slotBlocks.AsSpan(i * ScheduleSlot.Length), out slots[i]));
        }
        rx.Hmac(what + " slots");
        return (request, slots);
    }

    /// <summary>OWAMP Stop-Sessions: header block, one description per session, HMAC block (control §4.5).</summary>
    private static (byte Accept, StopDescription[] Sessions) ReadStopSessions(ControlReceiver rx, string what)
    {
        byte[] header = rx.Blocks(16);
        Assert.Equal((byte)CommandNumber.StopSessions, header[0]);
        uint count = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4));
        var sessions = new StopDescription[count];
        var descriptions = new List<byte[]>();
        for (int i = 0; i < sessions.Length; i++)
        {
            byte[] first = rx.Blocks(32); // SID (16) | Next Seqno (4) | Number of Skip Ranges (4) | first range or MBZ (8)
            uint skips = BinaryPrimitives.ReadUInt32BigEndian(first.AsSpan(20));
            int rest = WholeBlocks(24 + (8 * (int)skips)) - 32;
            byte[] more = rest > 0 ? rx.Blocks(rest) : [];
            descriptions.Add([.. first, .. more]);
            sessions[i] = new StopDescription(SessionId.Read(first), BinaryPrimitives.ReadUInt32BigEndian(first.AsSpan(16)), skips);
        }
        rx.Hmac(what);
        for (int i = 0; i < sessions.Length; i++)
        {
            // an even number of skip ranges ends mid-block: 8 MBZ octets pad the description
            if (sessions[i].SkipRangeCount % 2 == 0)
            {
                Assert.All(descriptions[i][^8..], b => Assert.Equal(0, b));
            }
        }
        return (header[1], sessions);
    }

    /// <summary>
    /// Walks both OWAMP control streams in the capture's order (see the vectors README capture table):
    /// client: Set-Up-Response, Request-Session ×2, Start-Sessions, Stop-Sessions, Fetch-Session;
    /// server: Greeting, Server-Start, Accept-Session ×2, Start-Ack, Stop-Sessions, Fetch-Ack,
    /// Request-Session copy, skip ranges + HMAC, records + HMAC.
    /// </summary>
    internal static ControlDecode DecodeControl(string name, int tamperClientOffset = -1, int tamperServerOffset = -1)
    {
        Expectation e = Expected[name];
        CaptureHandshake handshake = CaptureHandshake.Open(name, PerfsonarCapture.OwampControlPort, e.Mode != SecurityMode.Open, tamperClientOffset, tamperServerOffset);
        (StreamCursor fromServer, StreamCursor fromClient, ServerGreeting greeting, SetUpResponse setUp, ControlKeys? keys) =
            (handshake.FromServer, handshake.FromClient, handshake.Greeting, handshake.SetUp, handshake.Keys);

        byte[] startClear = fromServer.Take(ServerStart.ClearLength);
        using ControlStreamCipher serverCipher = keys is null ? ControlStreamCipher.CreateOpen() : ControlStreamCipher.Create(keys, startClear.AsSpan(16, 16));
        using ControlStreamCipher clientCipher = keys is null ? ControlStreamCipher.CreateOpen() : ControlStreamCipher.Create(keys, setUp!.ClientIv);
        var server = new ControlReceiver(fromServer, serverCipher, name + " server->client");
        var client = new ControlReceiver(fromClient, clientCipher, name + " client->server");

        byte[] startTimeBlock = server.Blocks(16); // carried into the server's first HMAC (first Accept-Session)
        Assert.Equal(OperationStatus.Done, ServerStart.TryRead([.. startClear, .. startTimeBlock], out ServerStart? start));

        // requests and answers strictly alternate; each stream is read in its own order
        (SessionRequest toRequest, ScheduleSlot[] toSlots) = ReadRequestSession(client, "Request-Session (to)");
        Assert.Equal(OperationStatus.Done, AcceptSession.TryRead(server.Message(AcceptSession.Length, "Accept-Session (to)"), out AcceptSession? toAccept));
        (SessionRequest fromRequest, ScheduleSlot[] fromSlots) = ReadRequestSession(client, "Request-Session (from)");
        Assert.Equal(OperationStatus.Done, AcceptSession.TryRead(server.Message(AcceptSession.Length, "Accept-Session (from)"), out AcceptSession? fromAccept));
        Assert.Equal(OperationStatus.Done, StartSessions.TryRead(client.Message(StartSessions.Length, "Start-Sessions"), out _));
        Assert.Equal(OperationStatus.Done, StartAck.TryRead(server.Message(StartAck.Length, "Start-Ack"), out StartAck? startAck));

        (byte clientStopAccept, StopDescription[] clientStop) = ReadStopSessions(client, "Stop-Sessions (client)");
        (byte serverStopAccept, StopDescription[] serverStop) = ReadStopSessions(server, "Stop-Sessions (server)");

        byte[] fetch = client.Message(48, "Fetch-Session");
        Assert.Equal((byte)CommandNumber.FetchSession, fetch[0]);
        byte[] fetchAck = server.Message(32, "Fetch-Ack");
        Assert.Equal(0, fetchAck[0]);
        uint skipRanges = BinaryPrimitives.ReadUInt32BigEndian(fetchAck.AsSpan(8));
        uint recordCount = BinaryPrimitives.ReadUInt32BigEndian(fetchAck.AsSpan(12));

        (SessionRequest fetchedRequest, ScheduleSlot[] fetchedSlots) = ReadRequestSession(server, "Request-Session (fetched copy)");
        if (skipRanges > 0)
        {
            server.Blocks(WholeBlocks(8 * (int)skipRanges));
        }
        server.Hmac("skip ranges");
        byte[] recordBlocks = server.Blocks(WholeBlocks(25 * (int)recordCount));
        server.Hmac("records");
        var records = new FetchRecord[recordCount];
        for (int i = 0; i < records.Length; i++)
        {
            ReadOnlySpan<byte> r = recordBlocks.AsSpan(25 * i, 25);
            records[i] = new FetchRecord(
                BinaryPrimitives.ReadUInt32BigEndian(r),
                ErrorEstimate.Read(r[4..]),
                ErrorEstimate.Read(r[6..]),
                NtpTimestamp.Read(r[8..]),
                NtpTimestamp.Read(r[16..]),
                r[24]);
        }
        Assert.All(recordBlocks[(25 * records.Length)..], b => Assert.Equal(0, b)); // zero padding to a whole block

        Assert.Equal(0, fromClient.Remaining);
        Assert.Equal(0, fromServer.Remaining);
        return new ControlDecode(
            greeting!, setUp!, start!, keys,
            toRequest, toSlots, fromRequest, fromSlots, toAccept!, fromAccept!, startAck!,
            clientStopAccept, clientStop, serverStopAccept, serverStop,
            BinaryPrimitives.ReadUInt32BigEndian(fetch.AsSpan(8)),
            BinaryPrimitives.ReadUInt32BigEndian(fetch.AsSpan(12)),
            SessionId.Read(fetch.AsSpan(16)),
            fetchAck, fetchedRequest, fetchedSlots, records,
            client.Hmacs, server.Hmacs);
    }
}
