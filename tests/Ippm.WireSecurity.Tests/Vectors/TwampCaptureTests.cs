using System.Buffers;
using System.Net;
using Ippm.Security;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;

namespace Ippm.Tests.Vectors;

/// <summary>
/// The perfSONAR 5.2.3 TWAMP captures (twping against twampd) decoded, decrypted and HMAC-checked with ippm's
/// types. Every expected value is a literal read from <c>NAME.decoded.txt</c> (the independent decode).
/// </summary>
public sealed class TwampCaptureTests
{
    /// <summary>The passphrase file line from the vectors README (<c>alice&lt;TAB&gt;hex("testpass123")</c>).</summary>
    internal const string AlicePfsLine = "alice\t7465737470617373313233";

    private const ulong TwampdStartTime = 0xeeb54c42_12fdb8fd;

    internal sealed record Expectation(
        SecurityMode Mode,
        string Challenge,
        string Salt,
        string KeyIdentity,
        string ClientIv,
        string ServerIv,
        string? DerivedKey,
        string? AesKey,
        string? HmacKey,
        ushort SenderPort,
        ushort ReceiverPort,
        uint Padding,
        ulong RequestStartTime,
        ulong Timeout,
        ushort AcceptPort,
        string Sid,
        string[] ClientHmacs,
        string[] ServerHmacs,
        string? TestAesKey,
        string? TestHmacKey,
        ulong[] SenderTimestamps,
        ulong[] ReflectorTimestamps,
        ulong[] ReceiveTimestamps);

    private static readonly string[] s_zeroHmacs3 = [new('0', 32), new('0', 32), new('0', 32)];
    private static readonly string[] s_zeroHmacs2 = [new('0', 32), new('0', 32)];

    internal static readonly Dictionary<string, Expectation> Expected = new()
    {
        ["twamp-open"] = new(
            SecurityMode.Open,
            Challenge: "ea0dc57d8217be940bc4dd80f6dca943",
            Salt: "e4f1b932b02c6725cd0e186dc48776bd",
            KeyIdentity: "",
            ClientIv: "00000000000000000000000000000000",
            ServerIv: "00000000000000000000000000000000",
            DerivedKey: null,
            AesKey: null,
            HmacKey: null,
            SenderPort: 9924,
            ReceiverPort: 9924,
            Padding: 27,
            RequestStartTime: 0xeeb54c95_c0afe60b,
            Timeout: 0x00000002_0007789a,
            AcceptPort: 19890,
            Sid: "7f000001eeb54c94c0a3726055c9e77c",
            ClientHmacs: s_zeroHmacs3,
            ServerHmacs: s_zeroHmacs2,
            TestAesKey: null,
            TestHmacKey: null,
            SenderTimestamps: [0xeeb54c95_c355de58, 0xeeb54c96_8d15ad10, 0xeeb54c96_902adc4c, 0xeeb54c96_ed94f26a, 0xeeb54c96_f457e23f],
            ReflectorTimestamps: [0xeeb54c95_c3645a1c, 0xeeb54c96_8d1efb6d, 0xeeb54c96_9032db1e, 0xeeb54c96_eda02752, 0xeeb54c96_f461309c],
            ReceiveTimestamps: [0xeeb54c95_c362a5e7, 0xeeb54c96_8d1e42e1, 0xeeb54c96_90322291, 0xeeb54c96_ed9f5dfe, 0xeeb54c96_f460780f]),

        ["twamp-auth"] = new(
            SecurityMode.Authenticated,
            Challenge: "38be5d2cfa2092231eca646142368c13",
            Salt: "93530e5479f5c1b7c05c9c574af1e07e",
            KeyIdentity: "alice",
            ClientIv: "75513d2a8568bb8464587bbfb641b704",
            ServerIv: "66657f9c9d4dac60b435c5db83ccda13",
            DerivedKey: "4ce3e3d63f381cbaecde30ad25c04837",
            AesKey: "dad56e5ce1dff81e22d3ccbde43bf7f3",
            HmacKey: "3e78eb164e648b345a2f0dc9c7dc8fa6c68e658a3d9fd237a42b5301a839ecdf",
            SenderPort: 9920,
            ReceiverPort: 9920,
            Padding: 64,
            RequestStartTime: 0xeeb54c9d_0306e5ce,
            Timeout: 0x00000002_012ba16f,
            AcceptPort: 18814,
            Sid: "7f000001eeb54c9bff99b2c48c5e939c",
            ClientHmacs: ["d8aa68cc644ef131cd558b7f331faf74", "87a36ec1e4aee0aff38340dfea6e741b", "3159413c7c215e8c5223db335a48e7df"],
            ServerHmacs: ["70b643dc9ffea1dadeb59f28ac119841", "b0eca5fa434a5aa6f3b8405d7a6f84bd"],
            TestAesKey: "0bc925159c3fb206261dcdb04cb6baa9",
            TestHmacKey: "0d8ff005bd029f8f3a8c5fecad6f7766111b1096bb9079ed7049a2279e5846d8",
            SenderTimestamps: [0xeeb54c9d_1efcdee3, 0xeeb54c9d_40151a43, 0xeeb54c9d_5155b467, 0xeeb54c9d_7101f31f, 0xeeb54c9d_a9a6937d],
            ReflectorTimestamps: [0xeeb54c9d_1f0bbf50, 0xeeb54c9d_401fea81, 0xeeb54c9d_51601ffb, 0xeeb54c9d_710b73d1, 0xeeb54c9d_a9abd1aa],
            ReceiveTimestamps: [0xeeb54c9d_1f09203a, 0xeeb54c9d_401e9af5, 0xeeb54c9d_515ed06f, 0xeeb54c9d_710a45d4, 0xeeb54c9d_a9ab0856]),

        ["twamp-encrypted"] = new(
            SecurityMode.Encrypted,
            Challenge: "25b938f3859ee76758964c7e350b0cfc",
            Salt: "910ee7202737084dc48589b4028b5147",
            KeyIdentity: "alice",
            ClientIv: "c44f174b51036364988d9371453ba21d",
            ServerIv: "297b53a1554191e962636175658c40ff",
            DerivedKey: "105a6f1664730d22f7e7581e382edb1f",
            AesKey: "ad11fe5a6e0c572ef347eb3ad9f526c8",
            HmacKey: "ec735f6802a1a0d5fd096d87d5f059d0acf48f984de36105d311a0d964388117",
            SenderPort: 9874,
            ReceiverPort: 9874,
            Padding: 64,
            RequestStartTime: 0xeeb54ca3_b771758f,
            Timeout: 0x00000002_00938584,
            AcceptPort: 19681,
            Sid: "7f000001eeb54ca2b5cb89d6c88001f4",
            ClientHmacs: ["dbf2f7892c9cc21fdf1726c5f2c4e217", "0385a9990b5215e6fb8e43cdcd7bf13b", "a4d1c300395edb35599e81ed3ec52e70"],
            ServerHmacs: ["9fd56b365ca8a05c65a16a64dc73a847", "7af75f3744c28f1f9148770e418b441e"],
            TestAesKey: "ed7a2efc2cdc8579e1931c60f11ca052",
            TestHmacKey: "384d47f78441131fff71023c6b330f923a195c9304620c70488546b59a7a2fca",
            SenderTimestamps: [0xeeb54ca3_db58d152, 0xeeb54ca3_dbf21b3a, 0xeeb54ca3_dfc536d6, 0xeeb54ca3_f11c2a02, 0xeeb54ca4_0d159c49],
            ReflectorTimestamps: [0xeeb54ca3_db66516d, 0xeeb54ca3_dbf62b6a, 0xeeb54ca3_dfcc39ff, 0xeeb54ca3_f12428d4, 0xeeb54ca4_0d1e2153],
            ReceiveTimestamps: [0xeeb54ca3_db6390c9, 0xeeb54ca3_dbf5c6c1, 0xeeb54ca3_dfcba301, 0xeeb54ca3_f1233df2, 0xeeb54ca4_0d1d14e3]),

        ["twamp-mixed"] = new(
            SecurityMode.Mixed,
            Challenge: "686856cf890d805c21f05ac0f76fc60a",
            Salt: "1e67807425e3c24667b699c3bbe65a8b",
            KeyIdentity: "alice",
            ClientIv: "d9cb8c2f7492a87ccfbc16175c1eb2c7",
            ServerIv: "85ffa3b3122e9c9cf038097cb3d9f3e7",
            DerivedKey: "755a25706cdec60d95ad9c101f5b7c8c",
            AesKey: "8e7f0558c8362413f3664d3e9be23ccc",
            HmacKey: "afd64b0667039f1511de41f2f8f115765a226437e39a342d687c20c172563fee",
            SenderPort: 9080,
            ReceiverPort: 9080,
            Padding: 27,
            RequestStartTime: 0xeeb54caa_1cf09529,
            Timeout: 0x00000002_010129cc,
            AcceptPort: 18833,
            Sid: "7f000001eeb54ca91a0ba1f4209a4f7f",
            ClientHmacs: ["28a8b103aaa09b6b1a352cfdc989bd71", "179cdc4f050831ba1fee2faab0588cfb", "10cd6481617d7d9ed91d2e3e4f17311e"],
            ServerHmacs: ["9784dca9f7c43428060382a2cc6b1e47", "18804c5c2b7bacb37020e49284d6094f"],
            TestAesKey: null,
            TestHmacKey: null,
            SenderTimestamps: [0xeeb54caa_309b4139, 0xeeb54caa_6cb99913, 0xeeb54caa_a537b070, 0xeeb54caa_a75dedf1, 0xeeb54caa_c8cc89b0],
            ReflectorTimestamps: [0xeeb54caa_30a90470, 0xeeb54caa_6cc16590, 0xeeb54caa_a540bbb1, 0xeeb54caa_a7638002, 0xeeb54caa_c8d62bf1],
            ReceiveTimestamps: [0xeeb54caa_30a72ead, 0xeeb54caa_6cc0bdca, 0xeeb54caa_a5400325, 0xeeb54caa_a762e903, 0xeeb54caa_c8d5629d]),
    };

    public static TheoryData<string> AllCaptures => ["twamp-open", "twamp-auth", "twamp-encrypted", "twamp-mixed"];

    public static TheoryData<string> KeyedCaptures => ["twamp-auth", "twamp-encrypted", "twamp-mixed"];

    public static TheoryData<string> ProtectedTestCaptures => ["twamp-auth", "twamp-encrypted"];

    /// <summary>Everything recovered from one capture's control connection.</summary>
    internal sealed record ControlDecode(
        ServerGreeting Greeting,
        SetUpResponse SetUp,
        ServerStart Start,
        ControlKeys? Keys,
        SessionRequest Request,
        AcceptSession Accept,
        StartSessions StartSessions,
        StartAck StartAck,
        TwampStopSessions Stop,
        List<string> ClientHmacs,
        List<string> ServerHmacs);

    internal static byte[] AliceSecret()
    {
        using KeyFile keys = KeyFile.Parse(AlicePfsLine + "\n");
        Assert.True(keys.TryGetSecret("alice", out ReadOnlySpan<byte> secret));
        return secret.ToArray();
    }

    [Fact]
    public void VectorsDirectory_Located_ContainsEveryCapture()
    {
        string dir = PerfsonarCapture.Directory;
        foreach (string name in new[] { "twamp-open", "twamp-auth", "twamp-encrypted", "twamp-mixed", "twamp-auth-wrongpass", "owamp-open", "owamp-auth", "owamp-encrypted", "owamp-auth-wrongpass" })
        {
            Assert.True(File.Exists(Path.Combine(dir, name + ".hex.txt")), $"{name}.hex.txt missing in {dir}");
        }
    }

    [Theory]
    [MemberData(nameof(AllCaptures))]
    public void TwampCapture_Handshake_DecodesGreetingSetUpAndServerStart(string name)
    {
        Expectation e = Expected[name];
        PerfsonarCapture capture = PerfsonarCapture.Load(name, PerfsonarCapture.TwampControlPort);

        // decoded.txt: "client->server control bytes: 340, server->client control bytes: 192"
        Assert.Equal(340, capture.ClientToServer.Length);
        Assert.Equal(192, capture.ServerToClient.Length);

        Assert.Equal(OperationStatus.Done, ServerGreeting.TryRead(capture.ServerToClient, out ServerGreeting? greeting));
        Assert.Equal(0xFu, greeting!.Modes);
        Assert.Equal(e.Challenge, Convert.ToHexStringLower(greeting.Challenge));
        Assert.Equal(e.Salt, Convert.ToHexStringLower(greeting.Salt));
        Assert.Equal(2048u, greeting.Count);

        Assert.Equal(OperationStatus.Done, SetUpResponse.TryRead(capture.ClientToServer, out SetUpResponse? setUp));
        Assert.Equal((uint)e.Mode, setUp!.Mode);
        Assert.Equal(e.KeyIdentity, SetUpResponse.IdentityFromKeyId(setUp.KeyId));
        Assert.Equal(e.ClientIv, Convert.ToHexStringLower(setUp.ClientIv));
        if (e.Mode == SecurityMode.Open)
        {
            Assert.All(setUp.Token, b => Assert.Equal(0, b));
        }

        Assert.Equal(OperationStatus.Done, ServerStart.TryRead(capture.ServerToClient.AsSpan(ServerGreeting.Length), out ServerStart? start));
        Assert.Equal(AcceptCode.Ok, start!.Accept);
        Assert.Equal(e.ServerIv, Convert.ToHexStringLower(start.ServerIv));
        if (e.Mode == SecurityMode.Open)
        {
            // open mode: the Start-Time block travels in clear
            Assert.Equal(new NtpTimestamp(TwampdStartTime), start.StartTime);
        }
        else
        {
            Assert.NotEqual(new NtpTimestamp(TwampdStartTime), start.StartTime);
        }
    }

    [Theory]
    [MemberData(nameof(KeyedCaptures))]
    public void TwampCapture_PassphraseAndToken_GiveTheDecodedKeys(string name)
    {
        Expectation e = Expected[name];
        PerfsonarCapture capture = PerfsonarCapture.Load(name, PerfsonarCapture.TwampControlPort);
        Assert.Equal(OperationStatus.Done, ServerGreeting.TryRead(capture.ServerToClient, out ServerGreeting? greeting));
        Assert.Equal(OperationStatus.Done, SetUpResponse.TryRead(capture.ClientToServer, out SetUpResponse? setUp));

        byte[] dk = Token.DeriveKey(AliceSecret(), greeting!.Salt, greeting.Count);
        Assert.Equal(e.DerivedKey, Convert.ToHexStringLower(dk));

        using ControlKeys? keys = Token.TryDecrypt(dk, setUp!.Token, greeting.Challenge);
        Assert.NotNull(keys);
        Assert.Equal(e.AesKey, Convert.ToHexStringLower(keys.AesKey));
        Assert.Equal(e.HmacKey, Convert.ToHexStringLower(keys.HmacKey));

        // the server's side of the check: another challenge must not decrypt
        byte[] otherChallenge = (byte[])greeting.Challenge.Clone();
        otherChallenge[0] ^= 1;
        Assert.Null(Token.TryDecrypt(dk, setUp.Token, otherChallenge));

        // and re-encrypting the recovered keys reproduces the client's Token byte for byte
        Assert.Equal(Convert.ToHexStringLower(setUp.Token), Convert.ToHexStringLower(Token.Encrypt(dk, greeting.Challenge, keys)));
    }

    [Theory]
    [MemberData(nameof(AllCaptures))]
    public void TwampCapture_ControlStreams_EveryHmacVerifiesAndMessagesMatchDecode(string name)
    {
        Expectation e = Expected[name];
        ControlDecode d = DecodeControl(name);
        using ControlKeys? keys = d.Keys;

        Assert.Equal(new NtpTimestamp(TwampdStartTime), d.Start.StartTime);

        SessionRequest r = d.Request;
        Assert.Equal(CommandNumber.RequestTwSession, r.Command);
        Assert.Equal(4, r.IpVersion);
        Assert.Equal(0, r.ConfSender);
        Assert.Equal(0, r.ConfReceiver);
        Assert.Equal(0u, r.ScheduleSlotCount);
        Assert.Equal(0u, r.PacketCount);
        Assert.Equal(e.SenderPort, r.SenderPort);
        Assert.Equal(e.ReceiverPort, r.ReceiverPort);
        Assert.Equal(IPAddress.Loopback, r.SenderAddress);
        Assert.Equal(IPAddress.Loopback, r.ReceiverAddress);
        Assert.True(r.Sid.IsZero);
        Assert.Equal(e.Padding, r.PaddingLength);
        Assert.Equal(new NtpTimestamp(e.RequestStartTime), r.StartTime);
        Assert.Equal(new NtpTimestamp(e.Timeout), r.Timeout);
        Assert.Equal(0u, r.TypePDescriptor);
        Assert.Equal(0, r.OctetsToBeReflected);
        Assert.Equal(0, r.PaddingToReflect);
        Assert.Equal((byte)0, r.Dscp);

        Assert.Equal(AcceptCode.Ok, d.Accept.Accept);
        Assert.Equal(e.AcceptPort, d.Accept.Port);
        Assert.Equal(SessionId.Parse(e.Sid), d.Accept.Sid);
        Assert.Equal(0, d.Accept.ReflectedOctets);
        Assert.Equal(0, d.Accept.ServerOctets);

        Assert.Equal(AcceptCode.Ok, d.StartAck.Accept);
        Assert.Equal(AcceptCode.Ok, d.Stop.Accept);
        Assert.Equal(1u, d.Stop.SessionCount);

        Assert.Equal(e.ClientHmacs, d.ClientHmacs);
        Assert.Equal(e.ServerHmacs, d.ServerHmacs);
    }

    [Theory]
    [MemberData(nameof(ProtectedTestCaptures))]
    public void TwampCapture_TestSessionKeys_MatchDecode(string name)
    {
        Expectation e = Expected[name];
        ControlDecode d = DecodeControl(name);
        using ControlKeys keys = d.Keys!;

        byte[] testAes = new byte[16];
        byte[] testHmac = new byte[32];
        TestPacketCipher.DeriveSessionKeys(keys, d.Accept.Sid, testAes, testHmac);
        Assert.Equal(e.TestAesKey, Convert.ToHexStringLower(testAes));
        Assert.Equal(e.TestHmacKey, Convert.ToHexStringLower(testHmac));
    }

    [Theory]
    [MemberData(nameof(AllCaptures))]
    public void TwampCapture_TestPackets_DecodeAndVerifyBothDirections(string name)
    {
        Expectation e = Expected[name];
        ControlDecode d = DecodeControl(name);
        using ControlKeys? keys = d.Keys;
        PerfsonarCapture capture = PerfsonarCapture.Load(name, PerfsonarCapture.TwampControlPort);
        bool protectedLayout = e.Mode.ProtectsTestPackets();
        using TestPacketCipher? cipher = protectedLayout ? TestPacketCipher.Create(e.Mode, keys!, d.Accept.Sid) : null;

        // Session-Sender → reflector at the Accept-Session port; replies come back to the Sender Port.
        var sent = capture.Udp.Where(p => p.SourcePort == d.Request.SenderPort && p.DestinationPort == d.Accept.Port).ToList();
        var reflected = capture.Udp.Where(p => p.SourcePort == d.Accept.Port && p.DestinationPort == d.Request.SenderPort).ToList();
        Assert.Equal(10, capture.Udp.Count);
        Assert.Equal(5, sent.Count);
        Assert.Equal(5, reflected.Count);

        int senderLength = TestPacketLayout.SenderHeader(protectedLayout) + (int)d.Request.PaddingLength;
        int reflectorLength = TestPacketLayout.ReflectorHeader(protectedLayout);
        Assert.Equal(protectedLayout ? 112 : 41, senderLength); // twping pads for symmetric sizes
        Assert.Equal(TestPacketLayout.SymmetricSenderPadding(protectedLayout), (int)d.Request.PaddingLength);

        for (int i = 0; i < 5; i++)
        {
            byte[] s = (byte[])sent[i].Payload.Clone();
            Assert.Equal(senderLength, s.Length);
            if (cipher is not null)
            {
                Assert.True(cipher.TryUnprotect(s, TestPacketLayout.SenderHmacOffset), $"{name} sender packet {i}: HMAC");
                Assert.All(s[4..16], b => Assert.Equal(0, b));
                Assert.All(s[26..32], b => Assert.Equal(0, b));
                Assert.Equal(sent[i].Payload[32..], s[32..]); // HMAC and padding are not encrypted
            }
            Assert.Equal(OperationStatus.Done, SenderPacket.TryRead(s, protectedLayout, out SenderPacket sp));
            Assert.Equal((uint)i, sp.SequenceNumber);
            Assert.Equal(new NtpTimestamp(e.SenderTimestamps[i]), sp.Timestamp);
            Assert.Equal(new ErrorEstimate(0x0001), sp.ErrorEstimate);

            byte[] r = (byte[])reflected[i].Payload.Clone();
            Assert.Equal(reflectorLength, r.Length);
            if (cipher is not null)
            {
                Assert.True(cipher.TryUnprotect(r, TestPacketLayout.ReflectorHmacOffset), $"{name} reflector packet {i}: HMAC");
                Assert.All(r[81..96], b => Assert.Equal(0, b));
            }
            Assert.Equal(OperationStatus.Done, ReflectorPacket.TryRead(r, protectedLayout, out ReflectorPacket rp));
            Assert.Equal((uint)i, rp.SequenceNumber);
            Assert.Equal(new NtpTimestamp(e.ReflectorTimestamps[i]), rp.Timestamp);
            Assert.Equal(new ErrorEstimate(0x0001), rp.ErrorEstimate);
            Assert.Equal(new NtpTimestamp(e.ReceiveTimestamps[i]), rp.ReceiveTimestamp);
            Assert.Equal((uint)i, rp.SenderSequenceNumber);
            Assert.Equal(new NtpTimestamp(e.SenderTimestamps[i]), rp.SenderTimestamp);
            Assert.Equal(new ErrorEstimate(0x0001), rp.SenderErrorEstimate);
            Assert.Equal(255, rp.SenderTtl);
            Assert.True(rp.ReceiveTimestamp.CompareTo(rp.SenderTimestamp) > 0);
            Assert.True(rp.Timestamp.CompareTo(rp.ReceiveTimestamp) > 0);
        }
    }

    [Fact]
    public void TwampAuthCapture_FirstSenderPacket_DecryptsToDecodedPlaintext()
    {
        ControlDecode d = DecodeControl("twamp-auth");
        using ControlKeys keys = d.Keys!;
        using TestPacketCipher cipher = TestPacketCipher.Create(SecurityMode.Authenticated, keys, d.Accept.Sid);
        PerfsonarCapture capture = PerfsonarCapture.Load("twamp-auth", PerfsonarCapture.TwampControlPort);
        byte[] packet = (byte[])capture.Udp[0].Payload.Clone();

        Assert.True(cipher.TryUnprotect(packet, TestPacketLayout.SenderHmacOffset));
        // decoded.txt #14 "decrypted:" (first 48 octets; the padding follows unchanged)
        Assert.Equal(
            "00000000000000000000000000000000eeb54c9d1efcdee300010000000000004d31675d135c9ba20861a52879c625ba",
            Convert.ToHexStringLower(packet.AsSpan(0, 48)));
    }

    [Theory]
    [MemberData(nameof(ProtectedTestCaptures))]
    public void TwampCapture_TamperedTestPacket_IsRejected(string name)
    {
        ControlDecode d = DecodeControl(name);
        using ControlKeys keys = d.Keys!;
        using TestPacketCipher cipher = TestPacketCipher.Create(Expected[name].Mode, keys, d.Accept.Sid);
        PerfsonarCapture capture = PerfsonarCapture.Load(name, PerfsonarCapture.TwampControlPort);

        // octet 3: Sequence Number; octet 20: Timestamp; octet 40: HMAC
        foreach (int offset in new[] { 3, 20, 40 })
        {
            byte[] sender = (byte[])capture.Udp[0].Payload.Clone();
            sender[offset] ^= 0x01;
            byte[] before = (byte[])sender.Clone();
            // mode 2 covers only block 0 with the HMAC: its timestamps are not integrity-protected (crypto §6)
            bool coveredByHmac = offset < 16 || offset >= 32 || Expected[name].Mode == SecurityMode.Encrypted;
            Assert.Equal(!coveredByHmac, cipher.TryUnprotect(sender, TestPacketLayout.SenderHmacOffset));
            if (coveredByHmac)
            {
                Assert.Equal(before, sender); // a rejected packet is left as received
            }
        }

        byte[] reflector = (byte[])capture.Udp[1].Payload.Clone();
        reflector[100] ^= 0x80; // inside the HMAC
        Assert.False(cipher.TryUnprotect(reflector, TestPacketLayout.ReflectorHmacOffset));
    }

    [Theory]
    [MemberData(nameof(KeyedCaptures))]
    public void TwampCapture_OneBitFlipInControlStream_FailsHmac(string name)
    {
        // flipping any bit of the Request-TW-Session ciphertext must make its HMAC fail
        foreach (int offset in new[] { SetUpResponse.Length, SetUpResponse.Length + 50, SetUpResponse.Length + 100 })
        {
            var ex = Assert.Throws<Xunit.Sdk.TrueException>(() => DecodeControl(name, tamperClientOffset: offset));
            Assert.Contains("does not verify", ex.Message, StringComparison.Ordinal);
        }
        // and flipping a bit of the encrypted Server-Start block breaks the first Accept-Session HMAC,
        // which proves that block is carried into the server's first HMAC
        var ex2 = Assert.Throws<Xunit.Sdk.TrueException>(() => DecodeControl(name, tamperServerOffset: ServerGreeting.Length + 40));
        Assert.Contains("Accept-Session", ex2.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TwampAuthWrongpassCapture_ServerStart_RejectsAndTokenNeedsWrongpass()
    {
        PerfsonarCapture capture = PerfsonarCapture.Load("twamp-auth-wrongpass", PerfsonarCapture.TwampControlPort);
        Assert.Equal(164, capture.ClientToServer.Length);
        Assert.Equal(112, capture.ServerToClient.Length);

        Assert.Equal(OperationStatus.Done, ServerGreeting.TryRead(capture.ServerToClient, out ServerGreeting? greeting));
        Assert.Equal("2f75d601e365f11f28f53357c68ee6a1", Convert.ToHexStringLower(greeting!.Challenge));
        Assert.Equal("d3100daf7aa9c97cc5d4718aab042563", Convert.ToHexStringLower(greeting.Salt));
        Assert.Equal(OperationStatus.Done, SetUpResponse.TryRead(capture.ClientToServer, out SetUpResponse? setUp));
        Assert.Equal((uint)SecurityMode.Authenticated, setUp!.Mode);
        Assert.Equal("alice", SetUpResponse.IdentityFromKeyId(setUp.KeyId));

        Assert.Equal(OperationStatus.Done, ServerStart.TryRead(capture.ServerToClient.AsSpan(ServerGreeting.Length), out ServerStart? start));
        Assert.Equal(AcceptCode.Failure, start!.Accept);
        Assert.All(start.ServerIv, b => Assert.Equal(0, b));
        Assert.True(start.StartTime.IsZero);
        Assert.All(capture.ServerToClient[(ServerGreeting.Length + 32)..], b => Assert.Equal(0, b)); // last block in clear, zero

        byte[] rightDk = Token.DeriveKey(AliceSecret(), greeting.Salt, greeting.Count);
        Assert.Null(Token.TryDecrypt(rightDk, setUp.Token, greeting.Challenge));

        byte[] wrongDk = Token.DeriveKey("wrongpass"u8, greeting.Salt, greeting.Count);
        Assert.Equal("cd08d54804afc35fb73b68ee3a40ba91", Convert.ToHexStringLower(wrongDk));
        using ControlKeys? keys = Token.TryDecrypt(wrongDk, setUp.Token, greeting.Challenge);
        Assert.NotNull(keys);
    }

    /// <summary>
    /// Walks both control streams of a TWAMP capture the way a receiver does: Server-Greeting, Set-Up-Response
    /// and Server-Start octets 0–31 in clear; then, per direction, a CBC stream (IV = Client-IV / Server-IV)
    /// with an HMAC block ending each message. Optional one-bit tampering for the negative tests.
    /// </summary>
    internal static ControlDecode DecodeControl(string name, int tamperClientOffset = -1, int tamperServerOffset = -1)
    {
        Expectation e = Expected[name];
        CaptureHandshake handshake = CaptureHandshake.Open(name, PerfsonarCapture.TwampControlPort, e.Mode != SecurityMode.Open, tamperClientOffset, tamperServerOffset);
        (StreamCursor fromServer, StreamCursor fromClient, ServerGreeting greeting, SetUpResponse setUp, ControlKeys? keys) =
            (handshake.FromServer, handshake.FromClient, handshake.Greeting, handshake.SetUp, handshake.Keys);

        byte[] startClear = fromServer.Take(ServerStart.ClearLength);
        byte[] serverIv = startClear[16..32];
        using ControlStreamCipher serverCipher = keys is null ? ControlStreamCipher.CreateOpen() : ControlStreamCipher.Create(keys, serverIv);
        using ControlStreamCipher clientCipher = keys is null ? ControlStreamCipher.CreateOpen() : ControlStreamCipher.Create(keys, setUp!.ClientIv);
        var server = new ControlReceiver(fromServer, serverCipher, name + " server->client");
        var client = new ControlReceiver(fromClient, clientCipher, name + " client->server");

        // Server-Start octets 32–47: the first block of the server's CBC stream, carried into its first HMAC
        byte[] startTimeBlock = server.Blocks(16);
        Assert.Equal(OperationStatus.Done, ServerStart.TryRead([.. startClear, .. startTimeBlock], out ServerStart? start));
        if (tamperServerOffset < 0)
        {
            Assert.All(startTimeBlock[8..], b => Assert.Equal(0, b)); // MBZ after Start-Time
        }

        Assert.Equal(OperationStatus.Done, SessionRequest.TryRead(client.Message(SessionRequest.Length, "Request-TW-Session"), out SessionRequest? request));
        Assert.Equal(OperationStatus.Done, AcceptSession.TryRead(server.Message(AcceptSession.Length, "Accept-Session"), out AcceptSession? accept));
        Assert.Equal(OperationStatus.Done, StartSessions.TryRead(client.Message(StartSessions.Length, "Start-Sessions"), out StartSessions? startSessions));
        Assert.Equal(OperationStatus.Done, StartAck.TryRead(server.Message(StartAck.Length, "Start-Ack"), out StartAck? startAck));
        Assert.Equal(OperationStatus.Done, TwampStopSessions.TryRead(client.Message(TwampStopSessions.Length, "Stop-Sessions"), out TwampStopSessions? stop));

        Assert.Equal(0, fromClient.Remaining);
        Assert.Equal(0, fromServer.Remaining);
        return new ControlDecode(greeting!, setUp!, start!, keys, request!, accept!, startSessions!, startAck!, stop!, client.Hmacs, server.Hmacs);
    }
}
