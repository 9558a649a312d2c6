using System.Security.Cryptography;
using Ippm.Security;
using Ippm.Security.BlockCiphers;
using Ippm.Security.Hashing;
using Ippm.Security.Schedules;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;

namespace Ippm.Tests.Security;

/// <summary>
/// The edges of Ippm.Security: inputs refused by name (short keys and secrets, misused buffers, use after dispose),
/// lengths exactly at a limit, and the fallback engines' batch paths with empty batches and short packets.
/// </summary>
public sealed class SecurityBoundaryTests
{
    private static readonly SessionId s_sid = SessionId.Parse("7f000001eeb54d909c9613d336cd38ef");

    [Fact]
    public void Rfc7717Secret_ShorterThan16Octets_RefusedByName_16Accepted()
    {
        var refused = Assert.Throws<ArgumentException>(() => new Rfc7717Secret(1, 2, new byte[15], Rfc7717KeyDerivation.Direct));
        Assert.Equal("secret", refused.ParamName);

        byte[] s = Enumerable.Range(1, 16).Select(i => (byte)i).ToArray();
        using var secret = new Rfc7717Secret(1, 2, s, Rfc7717KeyDerivation.Direct);
        Assert.Equal(Convert.ToHexStringLower(s), Convert.ToHexStringLower(secret.DeriveTokenKey(new byte[16], 1024)));
    }

    [Fact]
    public void Rfc7717Secret_SpiTexts_AreSixteenHexDigitsInWireOrder()
    {
        using var secret = new Rfc7717Secret(0x8e5c3ae507221684, 0x00000000000000ab, new byte[20], Rfc7717KeyDerivation.Pbkdf2) { PeerIdentity = "peer@example" };

        Assert.Equal("8e5c3ae507221684", secret.SpiIText);
        Assert.Equal("00000000000000ab", secret.SpiRText);
        Assert.Equal("peer@example", secret.PeerIdentity);
    }

    [Fact]
    public void StampAuthenticator_EmptyKey_RefusedByName()
    {
        Assert.Equal("key", Assert.Throws<ArgumentException>(() => new StampAuthenticator([])).ParamName);
    }

    [Fact]
    public void StampAuthenticator_ExactlyTheAuthenticatedBase_Verifies()
    {
        using var auth = new StampAuthenticator("key"u8);
        byte[] packet = RandomNumberGenerator.GetBytes(112);

        auth.Sign(packet);

        Assert.True(auth.Verify(packet));
        Assert.False(auth.Verify(packet.AsSpan(0, 111)));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(15)]
    [InlineData(17)]
    [InlineData(32)]
    public void StampAuthenticator_TlvMacOfAnotherLength_DoesNotVerify(int length)
    {
        using var auth = new StampAuthenticator("key"u8);
        byte[] full = new byte[32];
        auth.ComputeTlvMac([0, 0, 0, 1], [1, 2, 3, 4], full.AsSpan(0, 16));
        // Even a MAC that starts with the right 16 octets, or is their prefix, is refused.
        auth.ComputeTlvMac([0, 0, 0, 1], [1, 2, 3, 4], full.AsSpan(16, 16));

        Assert.False(auth.VerifyTlvMac([0, 0, 0, 1], [1, 2, 3, 4], full.AsSpan(0, length)));
        Assert.True(auth.VerifyTlvMac([0, 0, 0, 1], [1, 2, 3, 4], full.AsSpan(0, 16)));
    }

    [Fact]
    public void Aes128NiBlocks_MisuseIsRefused_AndUseAfterDisposeThrows()
    {
        if (!Aes128NiBlocks.IsSupported)
        {
            Assert.Throws<PlatformNotSupportedException>(() => new Aes128NiBlocks(new byte[16]));
            return;
        }
        Assert.Equal("key", Assert.Throws<ArgumentException>(() => new Aes128NiBlocks(new byte[15])).ParamName);
        Assert.Equal("key", Assert.Throws<ArgumentException>(() => new Aes128NiBlocks(new byte[32])).ParamName);

        var aes = new Aes128NiBlocks(new byte[16]);
        byte[] destination = Enumerable.Repeat((byte)0xA5, 32).ToArray();
        Assert.Throws<ArgumentException>(() => aes.EncryptCbcZeroIv(new byte[17], destination));
        Assert.Throws<ArgumentException>(() => aes.DecryptCbcZeroIv(new byte[17], destination));
        Assert.Throws<ArgumentException>(() => aes.EncryptCbcZeroIv(new byte[32], new byte[16]));
        Assert.Throws<ArgumentException>(() => aes.DecryptCbcZeroIv(new byte[32], new byte[16]));
        Assert.All(destination, b => Assert.Equal(0xA5, b));
        aes.EncryptCbcZeroIv(new byte[16], destination); // a longer destination is fine: only the source's length is written
        Assert.All(destination.AsSpan(16).ToArray(), b => Assert.Equal(0xA5, b));

        aes.Dispose();
        aes.Dispose();
        Assert.Throws<ObjectDisposedException>(() => aes.EncryptCbcZeroIv(new byte[16], new byte[16]));
        Assert.Throws<ObjectDisposedException>(() => aes.DecryptCbcZeroIv(new byte[16], new byte[16]));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(15)]
    [InlineData(17)]
    public void ControlStreamCipher_HmacFieldNotOneBlock_Throws_InEveryMode(int length)
    {
        using ControlStreamCipher open = ControlStreamCipher.CreateOpen();
        using ControlKeys keys = ControlKeys.CreateRandom();
        using ControlStreamCipher cipher = ControlStreamCipher.Create(keys, new byte[16]);

        Assert.Throws<ArgumentException>(() => open.VerifyHmac(new byte[length]));
        Assert.Throws<ArgumentException>(() => cipher.VerifyHmac(new byte[length]));
        Assert.Throws<ArgumentException>(() => open.Seal(new byte[length]));
    }

    [Fact]
    public void ControlStreamCipher_Open_EncryptUnsealedLeavesTheBlocksAsTheyAre()
    {
        using ControlStreamCipher open = ControlStreamCipher.CreateOpen();
        byte[] blocks = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();

        open.EncryptUnsealed(blocks);

        Assert.Equal(Enumerable.Range(0, 32).Select(i => (byte)i), blocks);
    }

    [Fact]
    public void SessionSchedule_NullSlots_IsArgumentNull()
    {
        Assert.Equal("slots", Assert.Throws<ArgumentNullException>(() => new SessionSchedule(s_sid, null!)).ParamName);
    }

    /// <summary>The base library's AES with the C# SHA-1: the engines a machine without AES-NI and libcrypto runs.</summary>
    private static TestPacketCipher Fallback(SecurityMode mode) =>
        new(mode, Enumerable.Range(0, 16).Select(i => (byte)i).ToArray(), Enumerable.Range(0, 32).Select(i => (byte)(i * 3)).ToArray(), useAesNi: false, Sha1Engine.Managed);

    [Theory]
    [InlineData(SecurityMode.Authenticated)]
    [InlineData(SecurityMode.Encrypted)]
    public void Fallback_EmptyBatch_TouchesNothing(SecurityMode mode)
    {
        using TestPacketCipher cipher = Fallback(mode);

        cipher.ProtectMany(_ => throw new InvalidOperationException("no packet to ask for"), 0, TestPacketLayout.SenderHmacOffset);
        cipher.TryUnprotectMany(_ => throw new InvalidOperationException("no packet to ask for"), 0, TestPacketLayout.SenderHmacOffset, []);
    }

    [Theory]
    [InlineData(SecurityMode.Authenticated)]
    [InlineData(SecurityMode.Encrypted)]
    public void Fallback_BatchOfShortPackets_AllInvalidAndLeftAsReceived(SecurityMode mode)
    {
        using TestPacketCipher cipher = Fallback(mode);
        // Each is shorter than the HMAC's end (octet 48) but long enough to hold the covered octets.
        byte[][] packets = [Enumerable.Repeat((byte)0x5A, 47).ToArray(), Enumerable.Repeat((byte)0x5A, 33).ToArray()];
        bool[] valid = [true, true];

        cipher.TryUnprotectMany(i => packets[i], packets.Length, TestPacketLayout.SenderHmacOffset, valid);

        Assert.Equal(new[] { false, false }, valid);
        Assert.All(packets, p => Assert.All(p, b => Assert.Equal(0x5A, b)));
    }

    [Theory]
    [InlineData(SecurityMode.Authenticated)]
    [InlineData(SecurityMode.Encrypted)]
    public void Fallback_BatchWithAShortPacketBetweenGoodOnes_UnprotectsTheGoodOnes(SecurityMode mode)
    {
        using TestPacketCipher cipher = Fallback(mode);
        byte[][] plain = Enumerable.Range(0, 3).Select(i =>
        {
            byte[] p = new byte[TestPacketLayout.SenderProtectedHeader];
            new SenderPacket((uint)i, new NtpTimestamp(0xeeb54d93_80000000 + (ulong)i), new ErrorEstimate(0x8001)).Write(p, protectedLayout: true);
            return p;
        }).ToArray();
        byte[][] packets = plain.Select(p => (byte[])p.Clone()).ToArray();
        foreach (byte[] p in packets)
        {
            cipher.Protect(p, TestPacketLayout.SenderHmacOffset);
        }
        packets[1] = packets[1][..40];
        bool[] valid = new bool[3];

        cipher.TryUnprotectMany(i => packets[i], 3, TestPacketLayout.SenderHmacOffset, valid);

        Assert.Equal(new[] { true, false, true }, valid);
        Assert.Equal(Convert.ToHexStringLower(plain[0].AsSpan(0, 32)), Convert.ToHexStringLower(packets[0].AsSpan(0, 32)));
        Assert.Equal(Convert.ToHexStringLower(plain[2].AsSpan(0, 32)), Convert.ToHexStringLower(packets[2].AsSpan(0, 32)));
    }

    [Theory]
    [InlineData(63)]
    [InlineData(64)] // exactly one block: used as it is, not hashed (RFC 2104 §2 hashes only keys longer than B)
    [InlineData(65)]
    public void HmacSha1Key_KeyAroundTheBlockLength_EqualsHmacSha1_EveryEngine(int keyLength)
    {
        byte[] key = Enumerable.Range(0, keyLength).Select(i => (byte)(i + 1)).ToArray();
        byte[] message = "the message"u8.ToArray();
        string expected = Convert.ToHexStringLower(HMACSHA1.HashData(key, message));
        var engines = new List<Sha1Engine> { Sha1Engine.Managed, Sha1Engine.Bcl };
        if (HmacSha1Key.DefaultEngine == Sha1Engine.LibCrypto)
        {
            engines.Add(Sha1Engine.LibCrypto);
        }

        foreach (Sha1Engine engine in engines)
        {
            using var hmac = new HmacSha1Key(key, engine);
            byte[] mac = new byte[20];
            hmac.Compute(message, mac);
            Assert.Equal(expected, Convert.ToHexStringLower(mac));
        }
    }
}
