using Ippm.Security;
using Ippm.Wire;
using Ippm.Wire.Test;
using static Ippm.Tests.Security.TokenTests;

namespace Ippm.Tests.Security;

/// <summary>The crypto digest's worked vectors V7–V11: test-session keys and protected test packets.</summary>
public sealed class TestPacketCipherTests
{
    private static readonly SessionId s_sid = SessionId.Parse("7f000001eeb54d909c9613d336cd38ef");

    private const string V7Aes = "213547026af3024f81ad1c08fb9d8fdc";
    private const string V7Hmac = "b300fe0ba3c9490ebb98264e94f1c50a9c6b812a5c2cd0cda2b16596a061b398";
    private const string V8 = "34fe7319a58c6d521a555a24268fe943eeb54d938000000080010000000000008ec75accf3787a0ab2118bb70ee36f07";
    private const string V9 = "34fe7319a58c6d521a555a24268fe9436c3efad638c9bab76afb8bd7acc30ac418114a8eed4f91b485577d06909f6f11";
    private const string V10 =
        "34fe7319a58c6d521a555a24268fe943eeb54d93900000008001000000000000eeb54d9388000000000000000000000000000000000000000000000000000000" +
        "eeb54d93800000008001000000000000ff0000000000000000000000000000008ec75accf3787a0ab2118bb70ee36f07";
    private const string V11 =
        "34fe7319a58c6d521a555a24268fe9436b1bead167e1328e90e929b10e8f58f31c067ac5ec582ecc469b9f113ed0af0bae05562c52b8f7545e294778e16b45ac" +
        "4d7b2c686421acf05ba5dae9e7c9da72f0d031dd3be483e75aba3198dbcd826af6fd1c646039012cba8f204ea073d197";

    private static readonly SenderPacket s_v8Sender = new(0, new NtpTimestamp(0xeeb54d93_80000000), new ErrorEstimate(0x8001));

    private static readonly ReflectorPacket s_v10Reflector = new(
        SequenceNumber: 0,
        Timestamp: new NtpTimestamp(0xeeb54d93_90000000),
        ErrorEstimate: new ErrorEstimate(0x8001),
        ReceiveTimestamp: new NtpTimestamp(0xeeb54d93_88000000),
        SenderSequenceNumber: 0,
        SenderTimestamp: new NtpTimestamp(0xeeb54d93_80000000),
        SenderErrorEstimate: new ErrorEstimate(0x8001),
        SenderTtl: 255);

    private static string X(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(bytes);

    private static TestPacketCipher Cipher(SecurityMode mode)
    {
        using ControlKeys keys = VectorKeys();
        return TestPacketCipher.Create(mode, keys, s_sid);
    }

    [Fact]
    public void TestPacketCipher_DeriveSessionKeys_MatchesV7()
    {
        using ControlKeys keys = VectorKeys();
        byte[] aes = new byte[16];
        byte[] hmac = new byte[32];

        TestPacketCipher.DeriveSessionKeys(keys, s_sid, aes, hmac);

        Assert.Equal(V7Aes, X(aes));
        Assert.Equal(V7Hmac, X(hmac));
    }

    [Fact]
    public void TestPacketCipher_ExplicitV7Keys_SameAsCreateFromSid()
    {
        using var fromKeys = new TestPacketCipher(SecurityMode.Authenticated, Convert.FromHexString(V7Aes), Convert.FromHexString(V7Hmac));
        byte[] packet = new byte[48];
        s_v8Sender.Write(packet, protectedLayout: true);

        fromKeys.Protect(packet, TestPacketLayout.SenderHmacOffset);

        Assert.Equal(V8, X(packet));
    }

    [Theory]
    [InlineData(SecurityMode.Authenticated, V8)]
    [InlineData(SecurityMode.Encrypted, V9)]
    public void TestPacketCipher_ProtectSender_MatchesV8V9(SecurityMode mode, string expected)
    {
        using TestPacketCipher cipher = Cipher(mode);
        byte[] packet = new byte[TestPacketLayout.SenderProtectedHeader];
        s_v8Sender.Write(packet, protectedLayout: true);

        cipher.Protect(packet, TestPacketLayout.SenderHmacOffset);

        Assert.Equal(expected, X(packet));
    }

    [Theory]
    [InlineData(SecurityMode.Authenticated, V10)]
    [InlineData(SecurityMode.Encrypted, V11)]
    public void TestPacketCipher_ProtectReflector_MatchesV10V11(SecurityMode mode, string expected)
    {
        using TestPacketCipher cipher = Cipher(mode);
        byte[] packet = new byte[TestPacketLayout.ReflectorProtectedHeader];
        s_v10Reflector.Write(packet, protectedLayout: true);

        cipher.Protect(packet, TestPacketLayout.ReflectorHmacOffset);

        Assert.Equal(expected, X(packet));
    }

    [Theory]
    [InlineData(SecurityMode.Authenticated, V8)]
    [InlineData(SecurityMode.Encrypted, V9)]
    public void TestPacketCipher_TryUnprotectSender_RecoversV8Fields(SecurityMode mode, string wire)
    {
        using TestPacketCipher cipher = Cipher(mode);
        byte[] packet = Convert.FromHexString(wire);

        Assert.True(cipher.TryUnprotect(packet, TestPacketLayout.SenderHmacOffset));

        Assert.All(packet[..16].Skip(4), b => Assert.Equal(0, b));
        Assert.Equal(wire[64..], X(packet.AsSpan(32))); // the HMAC field is not encrypted
        Assert.Equal(System.Buffers.OperationStatus.Done, SenderPacket.TryRead(packet, protectedLayout: true, out SenderPacket read));
        Assert.Equal(s_v8Sender, read);
    }

    [Theory]
    [InlineData(SecurityMode.Authenticated, V10)]
    [InlineData(SecurityMode.Encrypted, V11)]
    public void TestPacketCipher_TryUnprotectReflector_RecoversV10Fields(SecurityMode mode, string wire)
    {
        using TestPacketCipher cipher = Cipher(mode);
        byte[] packet = Convert.FromHexString(wire);

        Assert.True(cipher.TryUnprotect(packet, TestPacketLayout.ReflectorHmacOffset));

        Assert.Equal(System.Buffers.OperationStatus.Done, ReflectorPacket.TryRead(packet, protectedLayout: true, out ReflectorPacket read));
        Assert.Equal(s_v10Reflector, read);
    }

    public static TheoryData<SecurityMode, string, int, int> TamperCases => new()
    {
        { SecurityMode.Authenticated, V8, 32, 0 },    // sequence number block
        { SecurityMode.Authenticated, V8, 32, 40 },   // HMAC
        { SecurityMode.Encrypted, V9, 32, 0 },
        { SecurityMode.Encrypted, V9, 32, 20 },       // timestamp block (covered in mode 4)
        { SecurityMode.Encrypted, V9, 32, 47 },
        { SecurityMode.Authenticated, V10, 96, 15 },
        { SecurityMode.Authenticated, V10, 96, 100 },
        { SecurityMode.Encrypted, V11, 96, 50 },      // sender sequence number (covered in mode 4)
        { SecurityMode.Encrypted, V11, 96, 80 },      // sender TTL
        { SecurityMode.Encrypted, V11, 96, 111 },
    };

    [Theory]
    [MemberData(nameof(TamperCases))]
    public void TestPacketCipher_TamperedPacket_IsRejectedAndLeftAsReceived(SecurityMode mode, string wire, int hmacOffset, int octet)
    {
        using TestPacketCipher cipher = Cipher(mode);
        byte[] packet = Convert.FromHexString(wire);
        packet[octet] ^= 0x01;
        byte[] received = (byte[])packet.Clone();

        Assert.False(cipher.TryUnprotect(packet, hmacOffset));

        Assert.Equal(received, packet);
    }

    [Fact]
    public void TestPacketCipher_AuthenticatedTimestamp_IsNotIntegrityProtected()
    {
        // crypto §6: in mode 2 the HMAC covers block 0 only, so a changed timestamp still verifies
        using TestPacketCipher cipher = Cipher(SecurityMode.Authenticated);
        byte[] packet = Convert.FromHexString(V8);
        packet[20] ^= 0x01;

        Assert.True(cipher.TryUnprotect(packet, TestPacketLayout.SenderHmacOffset));
    }

    [Fact]
    public void TestPacketCipher_WrongModeOrWrongSid_IsRejected()
    {
        using TestPacketCipher encrypted = Cipher(SecurityMode.Encrypted);
        Assert.False(encrypted.TryUnprotect(Convert.FromHexString(V8), TestPacketLayout.SenderHmacOffset));

        using ControlKeys keys = VectorKeys();
        using TestPacketCipher otherSession = TestPacketCipher.Create(SecurityMode.Authenticated, keys, SessionId.Parse("7f000001eeb54d909c9613d336cd38ee"));
        Assert.False(otherSession.TryUnprotect(Convert.FromHexString(V8), TestPacketLayout.SenderHmacOffset));
    }

    [Fact]
    public void TestPacketCipher_Padding_IsNeitherEncryptedNorCovered()
    {
        using TestPacketCipher cipher = Cipher(SecurityMode.Encrypted);
        byte[] padding = Enumerable.Range(0, 64).Select(i => (byte)(i + 1)).ToArray();
        byte[] packet = [.. new byte[48], .. padding];
        s_v8Sender.Write(packet, protectedLayout: true);

        cipher.Protect(packet, TestPacketLayout.SenderHmacOffset);

        Assert.Equal(V9, X(packet.AsSpan(0, 48)));
        Assert.Equal(padding, packet[48..]);
        packet[^1] ^= 0xFF; // tampering with padding is not detected, by design
        Assert.True(cipher.TryUnprotect(packet, TestPacketLayout.SenderHmacOffset));
    }

    [Theory]
    [InlineData(31)]
    [InlineData(47)]
    public void TestPacketCipher_PacketShorterThanHmacEnd_IsRejected(int length)
    {
        using TestPacketCipher cipher = Cipher(SecurityMode.Authenticated);

        Assert.False(cipher.TryUnprotect(new byte[length], TestPacketLayout.SenderHmacOffset));
    }

    [Theory]
    [InlineData(SecurityMode.Open)]
    [InlineData(SecurityMode.Mixed)]
    public void TestPacketCipher_OpenTestPacketModes_Throw(SecurityMode mode)
    {
        using ControlKeys keys = VectorKeys();

        Assert.Throws<ArgumentException>(() => TestPacketCipher.Create(mode, keys, s_sid));
    }
}
