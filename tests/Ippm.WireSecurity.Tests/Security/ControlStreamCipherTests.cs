using Ippm.Security;
using Ippm.Wire;
using Ippm.Wire.Control;
using static Ippm.Tests.Security.TokenTests;

namespace Ippm.Tests.Security;

/// <summary>The crypto digest's worked vectors V3–V6 through <see cref="ControlStreamCipher"/>, both directions.</summary>
public sealed class ControlStreamCipherTests
{
    private const string V3Plain = "eeb54d5b15247cb70000000000000000";
    private const string V3Cipher = "3ce1c0294f41d03a5b714701e2c124cc";
    private const string V4Plain = "000049707f000001eeb54d909c9613d336cd38ef000000000000000000000000";
    private const string V4Hmac = "4dbf9251cf7aa6fda987b95f4f5fffe2";
    private const string V4Cipher = "fe6dc2856d69fa95d198fff7b6d3efcca7b4d418dd7dd238a833e1d6c43eabab8575461f40851808f7338024ea860c23";
    private const string V5Plain =
        "0504000000000000000000009c4049707f0000010000000000000000000000007f000001000000000000000000000000" +
        "0000000000000000000000000000000000000000eeb54d92000000000000000200000000000000000000000000000000";
    private const string V5Hmac = "07fd5405bccfc3f0f5f29183f415c4fc";
    private const string V5Cipher =
        "273f63527bfd382462c5bf99597943040a803ca2289314aff4e6b2569f3846159ec760065cd29492909658c28846c5f3" +
        "cf7c05cb9e53378f7a1c66b406836269f5e4f2479309fde471f6a47ea9b1d4929c997cafac2839d503266bf89697d8c3" +
        "2810ace0fd70a8124f71d036b177bc32";
    private const string V6Hmac = "281fc9a23939a4f730fbf9f8541361a8";
    private const string V6Cipher = "17af61d75ce96d02669925fa65a45be72ab9f8add7bacaff2fac4b78417e2c92";

    private static byte[] H(string hex) => Convert.FromHexString(hex);

    private static string X(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(bytes);

    [Fact]
    public void ControlStreamCipher_ServerDirection_ProducesV3AndV4()
    {
        using ControlKeys keys = VectorKeys();
        using ControlStreamCipher tx = ControlStreamCipher.Create(keys, ServerIv);

        // Server-Start octets 32–47: encrypted, no HMAC field, carried into the next HMAC
        byte[] serverStart = new byte[ServerStart.Length];
        new ServerStart(AcceptCode.Ok, ServerIv, new NtpTimestamp(0xeeb54d5b_15247cb7)).Write(serverStart);
        Assert.Equal(V3Plain, X(serverStart.AsSpan(32)));
        tx.EncryptUnsealed(serverStart.AsSpan(32, 16));
        Assert.Equal(V3Cipher, X(serverStart.AsSpan(32)));
        Assert.Equal(X(ServerIv), X(serverStart.AsSpan(16, 16))); // octets 0–31 stay clear

        byte[] accept = new byte[AcceptSession.Length];
        new AcceptSession(AcceptCode.Ok, 18800, SessionId.Parse("7f000001eeb54d909c9613d336cd38ef")).Write(accept);
        Assert.Equal(V4Plain + new string('0', 32), X(accept));
        tx.Seal(accept);
        Assert.Equal(V4Cipher, X(accept));
    }

    [Fact]
    public void ControlStreamCipher_ClientDirection_ProducesV5AndV6()
    {
        using ControlKeys keys = VectorKeys();
        using ControlStreamCipher tx = ControlStreamCipher.Create(keys, ClientIv);

        byte[] request = [.. H(V5Plain), .. new byte[16]];
        tx.Seal(request);
        Assert.Equal(V5Cipher, X(request));

        byte[] start = new byte[StartSessions.Length];
        new StartSessions().Write(start);
        tx.Seal(start); // CBC continues from the last block of V5
        Assert.Equal(V6Cipher, X(start));
    }

    [Fact]
    public void ControlStreamCipher_ReceiveServerDirection_DecryptsAndVerifiesV3V4()
    {
        using ControlKeys keys = VectorKeys();
        using ControlStreamCipher rx = ControlStreamCipher.Create(keys, ServerIv);

        byte[] startBlock = H(V3Cipher);
        rx.Decrypt(startBlock);
        Assert.Equal(V3Plain, X(startBlock));

        byte[] accept = H(V4Cipher);
        rx.Decrypt(accept.AsSpan(0, 32));
        Assert.True(rx.VerifyHmac(accept.AsSpan(32, 16)));
        Assert.Equal(V4Plain, X(accept.AsSpan(0, 32)));
        Assert.Equal(V4Hmac, X(accept.AsSpan(32, 16)));
    }

    [Fact]
    public void ControlStreamCipher_ReceiveClientDirection_DecryptsAndVerifiesV5V6()
    {
        using ControlKeys keys = VectorKeys();
        using ControlStreamCipher rx = ControlStreamCipher.Create(keys, ClientIv);

        byte[] request = H(V5Cipher);
        rx.Decrypt(request.AsSpan(0, 96));
        Assert.True(rx.VerifyHmac(request.AsSpan(96, 16)));
        Assert.Equal(V5Plain, X(request.AsSpan(0, 96)));
        Assert.Equal(V5Hmac, X(request.AsSpan(96)));

        byte[] start = H(V6Cipher);
        rx.Decrypt(start.AsSpan(0, 16));
        Assert.True(rx.VerifyHmac(start.AsSpan(16, 16)));
        Assert.Equal("02" + new string('0', 30), X(start.AsSpan(0, 16)));
        Assert.Equal(V6Hmac, X(start.AsSpan(16)));
    }

    [Fact]
    public void ControlStreamCipher_ReceiveBlockByBlock_SameAsWholeMessage()
    {
        // the reference reads messages block by block; the CBC chain and HMAC must not care
        using ControlKeys keys = VectorKeys();
        using ControlStreamCipher rx = ControlStreamCipher.Create(keys, ClientIv);
        byte[] request = H(V5Cipher);

        for (int offset = 0; offset < 96; offset += 16)
        {
            rx.Decrypt(request.AsSpan(offset, 16));
        }

        Assert.True(rx.VerifyHmac(request.AsSpan(96, 16)));
        Assert.Equal(V5Plain, X(request.AsSpan(0, 96)));
    }

    public static TheoryData<int> TamperedBits => [0, 7, 8 * 50, (8 * 95) + 7, 8 * 96, (8 * 111) + 7];

    [Theory]
    [MemberData(nameof(TamperedBits))]
    public void ControlStreamCipher_OneBitTamperInV5_FailsHmac(int bit)
    {
        using ControlKeys keys = VectorKeys();
        using ControlStreamCipher rx = ControlStreamCipher.Create(keys, ClientIv);
        byte[] request = H(V5Cipher);
        request[bit / 8] ^= (byte)(1 << (bit % 8));

        rx.Decrypt(request.AsSpan(0, 96));

        Assert.False(rx.VerifyHmac(request.AsSpan(96, 16)));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(20)]
    [InlineData(40)]
    public void ControlStreamCipher_OneBitTamperInV4_FailsHmac(int octet)
    {
        using ControlKeys keys = VectorKeys();
        using ControlStreamCipher rx = ControlStreamCipher.Create(keys, ServerIv);
        rx.Decrypt(H(V3Cipher));
        byte[] accept = H(V4Cipher);
        accept[octet] ^= 0x10;

        rx.Decrypt(accept.AsSpan(0, 32));

        Assert.False(rx.VerifyHmac(accept.AsSpan(32, 16)));
    }

    [Fact]
    public void ControlStreamCipher_TamperedServerStartBlock_FailsFirstAcceptSessionHmac()
    {
        using ControlKeys keys = VectorKeys();
        using ControlStreamCipher rx = ControlStreamCipher.Create(keys, ServerIv);
        byte[] start = H(V3Cipher);
        start[3] ^= 0x01;
        rx.Decrypt(start);
        byte[] accept = H(V4Cipher);

        rx.Decrypt(accept.AsSpan(0, 32));

        Assert.False(rx.VerifyHmac(accept.AsSpan(32, 16)));
    }

    [Fact]
    public void ControlStreamCipher_HmacWithoutServerStartCarryOver_DoesNotVerify()
    {
        // V4's HMAC covers V3 plaintext ‖ Accept-Session 0–31; a receiver that skips the carry-over must fail
        using ControlKeys keys = VectorKeys();
        using ControlStreamCipher rx = ControlStreamCipher.Create(keys, H(V3Cipher)); // right CBC state, empty HMAC
        byte[] accept = H(V4Cipher);

        rx.Decrypt(accept.AsSpan(0, 32));

        Assert.Equal(V4Plain, X(accept.AsSpan(0, 32)));
        Assert.False(rx.VerifyHmac(accept.AsSpan(32, 16)));
    }

    [Fact]
    public void ControlStreamCipher_HmacResetsAfterEachHmacField()
    {
        // Start-Sessions' HMAC (V6) covers only its own 16 octets, not V5's
        using ControlKeys keys = VectorKeys();
        using var hmac = System.Security.Cryptography.IncrementalHash.CreateHMAC(System.Security.Cryptography.HashAlgorithmName.SHA1, HmacKey);
        hmac.AppendData(H("02" + new string('0', 30)));

        Assert.Equal(V6Hmac, X(hmac.GetHashAndReset().AsSpan(0, 16)));
    }

    [Fact]
    public void ControlStreamCipher_Open_PassesThroughAndZeroesHmac()
    {
        using ControlStreamCipher tx = ControlStreamCipher.CreateOpen();
        byte[] message = [.. H(V5Plain), .. Enumerable.Repeat((byte)0xAB, 16)];

        tx.Seal(message);

        Assert.False(tx.IsProtected);
        Assert.Equal(V5Plain + new string('0', 32), X(message));
        using ControlStreamCipher rx = ControlStreamCipher.CreateOpen();
        rx.Decrypt(message.AsSpan(0, 96));
        Assert.Equal(V5Plain, X(message.AsSpan(0, 96)));
        Assert.True(rx.VerifyHmac(message.AsSpan(96, 16)));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(15)]
    [InlineData(17)]
    [InlineData(40)]
    public void ControlStreamCipher_PartialBlocks_Throw(int length)
    {
        using ControlKeys keys = VectorKeys();
        using ControlStreamCipher cipher = ControlStreamCipher.Create(keys, ClientIv);

        Assert.Throws<ArgumentException>(() => cipher.Seal(new byte[length]));
        Assert.Throws<ArgumentException>(() => cipher.Decrypt(new byte[length]));
        Assert.Throws<ArgumentException>(() => cipher.EncryptUnsealed(new byte[length]));
    }

    [Fact]
    public void ControlStreamCipher_LongMessage_RoundTripsThroughSealAndVerify()
    {
        // longer than the 256-octet stack buffer: an OWAMP fetch response section
        using ControlKeys keys = VectorKeys();
        using ControlStreamCipher tx = ControlStreamCipher.Create(keys, ClientIv);
        using ControlStreamCipher rx = ControlStreamCipher.Create(keys, ClientIv);
        byte[] plain = Enumerable.Range(0, 512).Select(i => (byte)(i * 13)).ToArray();
        byte[] wire = [.. plain, .. new byte[16]];

        tx.Seal(wire);
        Assert.NotEqual(X(plain), X(wire.AsSpan(0, 512)));
        rx.Decrypt(wire.AsSpan(0, 512));

        Assert.True(rx.VerifyHmac(wire.AsSpan(512, 16)));
        Assert.Equal(X(plain), X(wire.AsSpan(0, 512)));
    }
}
