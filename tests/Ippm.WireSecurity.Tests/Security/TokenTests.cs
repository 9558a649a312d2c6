using System.Text;
using Ippm.Security;

namespace Ippm.Tests.Security;

/// <summary>PBKDF2 (RFC 6070) and the crypto digest's worked vectors V1 (dk) and V2 (Token).</summary>
public sealed class TokenTests
{
    internal static byte[] Seq(int start, int count) => Enumerable.Range(start, count).Select(i => (byte)i).ToArray();

    internal static readonly byte[] Salt = Seq(0x00, 16);
    internal static readonly byte[] Challenge = Seq(0x10, 16);
    internal static readonly byte[] AesKey = Seq(0x20, 16);
    internal static readonly byte[] HmacKey = Seq(0x30, 32);
    internal static readonly byte[] ClientIv = Seq(0x50, 16);
    internal static readonly byte[] ServerIv = Seq(0x60, 16);

    internal const string V1 = "56f1040cebd5be87a86e13dd77ca9a48";
    internal const string V2 =
        "c7e862ce30ab995100ac060aacd2e62a1d53c2fa72f5273130b4873675a4e050d85f0ed38c68b743057cbb731eed22c8e7c4be9d68b34aabdbe3d062a10a2f32";

    internal static ControlKeys VectorKeys() => new(AesKey, HmacKey);

    // RFC 6070 PBKDF2-HMAC-SHA1 test vectors, first 16 octets (Token.DeriveKey has dkLen fixed at 16).
    [Theory]
    [InlineData("password", "salt", 1u, "0c60c80f961f0e71f3a9b524af601206")]
    [InlineData("password", "salt", 2u, "ea6c014dc72d6f8ccd1ed92ace1d41f0")]
    [InlineData("password", "salt", 4096u, "4b007901b765489abead49d926f721d0")]
    [InlineData("passwordPASSWORDpassword", "saltSALTsaltSALTsaltSALTsaltSALTsalt", 4096u, "3d2eec4fe41c849b80c8d83662c0e44a")]
    [InlineData("pass\0word", "sa\0lt", 4096u, "56fa6aa75548099dcc37d7f03425e0c3")]
    public void Token_DeriveKey_MatchesRfc6070(string password, string salt, uint count, string expectedFirst16)
    {
        byte[] dk = Token.DeriveKey(Encoding.ASCII.GetBytes(password), Encoding.ASCII.GetBytes(salt), count);

        Assert.Equal(16, dk.Length);
        Assert.Equal(expectedFirst16, Convert.ToHexStringLower(dk));
    }

    [Fact]
    public void Token_DeriveKey_MatchesV1()
    {
        byte[] dk = Token.DeriveKey("testpass"u8, Salt, 2048);

        Assert.Equal(V1, Convert.ToHexStringLower(dk));
    }

    [Fact]
    public void Token_DeriveKey_ReEncodedPassphraseGivesAnotherKey()
    {
        // crypto §2: the raw octets go in; a char[]-style (UTF-16) re-encoding must not match V1.
        // (A trailing NUL would not show: HMAC zero-pads short keys, so "testpass\0" derives V1 too.)
        byte[] utf16 = Token.DeriveKey(Encoding.Unicode.GetBytes("testpass"), Salt, 2048);
        byte[] withNul = Token.DeriveKey("testpass\0"u8, Salt, 2048);

        Assert.NotEqual(V1, Convert.ToHexStringLower(utf16));
        Assert.Equal(V1, Convert.ToHexStringLower(withNul));
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(0x8000_0000u)]
    public void Token_DeriveKeyBadCount_Throws(uint count)
    {
        var refused = Assert.Throws<ArgumentOutOfRangeException>(() => Token.DeriveKey("testpass"u8, Salt, count));
        Assert.Equal("count", refused.ParamName); // refused by Token itself, not by PBKDF2 further down
    }

    [Fact]
    public void Token_Encrypt_MatchesV2()
    {
        using ControlKeys keys = VectorKeys();

        byte[] token = Token.Encrypt(Convert.FromHexString(V1), Challenge, keys);

        Assert.Equal(V2, Convert.ToHexStringLower(token));
    }

    [Fact]
    public void Token_TryDecryptV2_ReturnsTheSessionKeys()
    {
        using ControlKeys? keys = Token.TryDecrypt(Convert.FromHexString(V1), Convert.FromHexString(V2), Challenge);

        Assert.NotNull(keys);
        Assert.Equal(Convert.ToHexStringLower(AesKey), Convert.ToHexStringLower(keys.AesKey));
        Assert.Equal(Convert.ToHexStringLower(HmacKey), Convert.ToHexStringLower(keys.HmacKey));
    }

    [Fact]
    public void Token_TryDecryptWithWrongKey_ReturnsNull()
    {
        byte[] wrongDk = Token.DeriveKey("wrongpass"u8, Salt, 2048);

        Assert.Null(Token.TryDecrypt(wrongDk, Convert.FromHexString(V2), Challenge));
    }

    [Fact]
    public void Token_TryDecryptWithWrongChallenge_ReturnsNull()
    {
        byte[] challenge = (byte[])Challenge.Clone();
        challenge[15] ^= 0x01;

        Assert.Null(Token.TryDecrypt(Convert.FromHexString(V1), Convert.FromHexString(V2), challenge));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(48)]
    [InlineData(63)]
    [InlineData(65)]
    public void Token_TryDecryptWrongLength_ReturnsNull(int length)
    {
        byte[] token = [.. Convert.FromHexString(V2), .. new byte[1]];

        Assert.Null(Token.TryDecrypt(Convert.FromHexString(V1), token.AsSpan(0, length), Challenge));
    }

    [Fact]
    public void Token_TamperedToken_ReturnsNull()
    {
        byte[] token = Convert.FromHexString(V2);
        token[0] ^= 0x80; // first block carries the challenge

        Assert.Null(Token.TryDecrypt(Convert.FromHexString(V1), token, Challenge));
    }

    [Fact]
    public void ControlKeys_WrongLengths_Throw()
    {
        Assert.Throws<ArgumentException>(() => new ControlKeys(new byte[15], new byte[32]));
        Assert.Throws<ArgumentException>(() => new ControlKeys(new byte[16], new byte[16]));
    }

    [Fact]
    public void ControlKeys_CreateRandom_GivesDistinctFullLengthKeys()
    {
        using ControlKeys a = ControlKeys.CreateRandom();
        using ControlKeys b = ControlKeys.CreateRandom();

        Assert.Equal(16, a.AesKey.Length);
        Assert.Equal(32, a.HmacKey.Length);
        Assert.NotEqual(Convert.ToHexStringLower(a.AesKey), Convert.ToHexStringLower(b.AesKey));
        Assert.NotEqual(Convert.ToHexStringLower(a.HmacKey), Convert.ToHexStringLower(b.HmacKey));
    }

    [Fact]
    public void ControlKeys_Dispose_ZeroesTheKeys()
    {
        var keys = new ControlKeys(AesKey, HmacKey);

        keys.Dispose();

        Assert.All(keys.AesKey.ToArray(), b => Assert.Equal(0, b));
        Assert.All(keys.HmacKey.ToArray(), b => Assert.Equal(0, b));
    }
}
