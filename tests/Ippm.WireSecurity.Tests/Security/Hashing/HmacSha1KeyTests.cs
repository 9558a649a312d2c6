using System.Security.Cryptography;
using System.Text;
using CsCheck;
using Ippm.Security.Hashing;

namespace Ippm.Tests.Security.Hashing;

/// <summary>
/// The keyed HMAC-SHA1 against independent oracles: the RFC 2202 §3 vectors and the base library's
/// <see cref="HMACSHA1"/>, bit for bit, on random keys and every message length up to 1500 octets (the test-packet
/// MACs cover 16, 32 and 96 octets; the lengths around 55/56/64 are where SHA-1 padding changes shape).
/// </summary>
public sealed class HmacSha1KeyTests
{
    public static TheoryData<Sha1Engine> Engines()
    {
        var engines = new TheoryData<Sha1Engine> { Sha1Engine.Managed, Sha1Engine.Bcl };
        if (OperatingSystem.IsLinux())
        {
            // .NET's own crypto on Linux is this libcrypto: where .NET runs, the fast path must be there too.
            engines.Add(Sha1Engine.LibCrypto);
        }
        return engines;
    }

    [Fact]
    public void DefaultEngine_IsLibCryptoWhereDotNetUsesIt()
    {
        Assert.Equal(OperatingSystem.IsLinux() ? Sha1Engine.LibCrypto : Sha1Engine.Managed, HmacSha1Key.DefaultEngine);
    }

    public static TheoryData<string, string, string> Rfc2202Vectors() => new()
    {
        { "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", Hex("Hi There"), "b617318655057264e28bc0b6fb378c8ef146be00" },
        { Hex("Jefe"), Hex("what do ya want for nothing?"), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79" },
        { Repeat("aa", 20), Repeat("dd", 50), "125d7342b9ac11cd91a39af48aa17b4f63f175d3" },
        { "0102030405060708090a0b0c0d0e0f10111213141516171819", Repeat("cd", 50), "4c9007f4026250c6bc8414f9bf50c86c2d7235da" },
        { Repeat("0c", 20), Hex("Test With Truncation"), "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04" },
        { Repeat("aa", 80), Hex("Test Using Larger Than Block-Size Key - Hash Key First"), "aa4ae5e15272d00e95705637ce8a3b55ed402112" },
        { Repeat("aa", 80), Hex("Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data"), "e8e99d0f45237d786d6bbaa7965c7808bbff1a91" },
    };

    [Theory]
    [MemberData(nameof(Rfc2202Vectors))]
    public void Compute_Rfc2202Vectors_EveryEngine(string key, string data, string digest)
    {
        foreach (Sha1Engine engine in Engines())
        {
            using var hmac = new HmacSha1Key(Convert.FromHexString(key), engine);
            byte[] mac = new byte[20];
            hmac.Compute(Convert.FromHexString(data), mac);
            Assert.Equal(digest, Convert.ToHexStringLower(mac));
            // RFC 2202 case 5 also gives HMAC-SHA1-96; every truncation is the digest's prefix.
            byte[] truncated = new byte[12];
            hmac.Compute(Convert.FromHexString(data), truncated);
            Assert.Equal(digest[..24], Convert.ToHexStringLower(truncated));
        }
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public void Compute_EveryMessageLengthTo1500_EqualsHmacSha1(Sha1Engine engine)
    {
        byte[] key = RandomNumberGenerator.GetBytes(32); // K_test_hmac is 32 octets
        byte[] message = RandomNumberGenerator.GetBytes(1500);
        using var hmac = new HmacSha1Key(key, engine);
        byte[] actual = new byte[20];
        byte[] expected = new byte[20];
        for (int length = 0; length <= message.Length; length++)
        {
            hmac.Compute(message.AsSpan(0, length), actual);
            HMACSHA1.HashData(key, message.AsSpan(0, length), expected);
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"length {length}: {Convert.ToHexString(expected)} != {Convert.ToHexString(actual)}");
        }
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public void Compute_RandomKeysAndMessages_EqualsHmacSha1(Sha1Engine engine)
    {
        Gen.Select(Gen.Byte.Array[0, 200], Gen.Byte.Array[0, 1500], Gen.Int[1, 20]).Sample((key, message, macLength) =>
        {
            using var hmac = new HmacSha1Key(key, engine);
            byte[] actual = new byte[macLength];
            hmac.Compute(message, actual);
            byte[] expected = HMACSHA1.HashData(key, message);
            Assert.Equal(Convert.ToHexString(expected, 0, macLength), Convert.ToHexString(actual));
            // The same key object again: the precomputed states must not have moved.
            hmac.Compute(message, actual);
            Assert.Equal(Convert.ToHexString(expected, 0, macLength), Convert.ToHexString(actual));
        });
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public void Verify_TruncatedMac_AcceptsItAndRefusesAnyFlippedBit(Sha1Engine engine)
    {
        byte[] key = RandomNumberGenerator.GetBytes(32);
        byte[] message = RandomNumberGenerator.GetBytes(96);
        using var hmac = new HmacSha1Key(key, engine);
        byte[] mac = HMACSHA1.HashData(key, message)[..16];
        Assert.True(hmac.Verify(message, mac));
        for (int bit = 0; bit < mac.Length * 8; bit++)
        {
            mac[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.False(hmac.Verify(message, mac));
            mac[bit / 8] ^= (byte)(1 << (bit % 8));
        }
        message[95] ^= 0x80;
        Assert.False(hmac.Verify(message, mac));
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public void Compute_AfterDispose_Throws(Sha1Engine engine)
    {
        var hmac = new HmacSha1Key(new byte[32], engine);
        hmac.Dispose();
        Assert.Throws<ObjectDisposedException>(() => hmac.Compute([1, 2, 3], new byte[16]));
    }

    private static string Hex(string ascii) => Convert.ToHexString(Encoding.ASCII.GetBytes(ascii));

    private static string Repeat(string hexOctet, int count) => string.Concat(Enumerable.Repeat(hexOctet, count));
}
