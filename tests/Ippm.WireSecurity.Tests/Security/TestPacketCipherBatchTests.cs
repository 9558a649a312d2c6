using System.Security.Cryptography;
using Ippm.Security;
using Ippm.Security.BlockCiphers;
using Ippm.Security.Hashing;
using Ippm.Wire;
using Ippm.Wire.Test;

namespace Ippm.Tests.Security;

/// <summary>The batch forms of test-packet protection must produce exactly what the per-packet forms do.</summary>
public sealed class TestPacketCipherBatchTests
{
    private static readonly SessionId s_sid = SessionId.Parse("7f000001eeb54d909c9613d336cd38ef");

    [Theory]
    [InlineData(SecurityMode.Authenticated, TestPacketLayout.ReflectorHmacOffset, 112)]
    [InlineData(SecurityMode.Encrypted, TestPacketLayout.ReflectorHmacOffset, 150)]
    [InlineData(SecurityMode.Encrypted, TestPacketLayout.SenderHmacOffset, 48)]
    public void ProtectMany_EqualsProtectPerPacket_AndUnprotectManyRestoresThem(SecurityMode mode, int hmacOffset, int length)
    {
        using var keys = ControlKeys.CreateRandom();
        using var single = TestPacketCipher.Create(mode, keys, s_sid);
        using var batch = TestPacketCipher.Create(mode, keys, s_sid);
        byte[][] plain = Enumerable.Range(0, 7).Select(_ => RandomNumberGenerator.GetBytes(length)).ToArray();
        byte[][] expected = plain.Select(p => (byte[])p.Clone()).ToArray();
        byte[][] actual = plain.Select(p => (byte[])p.Clone()).ToArray();
        foreach (byte[] packet in expected)
        {
            single.Protect(packet, hmacOffset);
        }

        batch.ProtectMany(i => actual[i], actual.Length, hmacOffset);

        for (int i = 0; i < actual.Length; i++)
        {
            Assert.Equal(Convert.ToHexString(expected[i]), Convert.ToHexString(actual[i]));
        }
        actual[3][5] ^= 0x01;
        bool[] valid = new bool[actual.Length];
        batch.TryUnprotectMany(i => actual[i], actual.Length, hmacOffset, valid);
        for (int i = 0; i < actual.Length; i++)
        {
            if (i == 3)
            {
                Assert.False(valid[i]);
                Assert.Equal(Convert.ToHexString(expected[i].AsSpan(0, 5)), Convert.ToHexString(actual[i].AsSpan(0, 5)));
            }
            else
            {
                Assert.True(valid[i]);
                Assert.Equal(Convert.ToHexString(plain[i].AsSpan(0, hmacOffset)), Convert.ToHexString(actual[i].AsSpan(0, hmacOffset)));
            }
        }
    }

    [Fact]
    public void TryUnprotectMany_ShortPacket_InvalidOthersUnaffected()
    {
        using var keys = ControlKeys.CreateRandom();
        using var cipher = TestPacketCipher.Create(SecurityMode.Authenticated, keys, s_sid);
        byte[] good = new byte[48];
        new SenderPacket(1, new NtpTimestamp(0xeeb54d9380000000), new ErrorEstimate(0x8001)).Write(good, protectedLayout: true);
        cipher.Protect(good, TestPacketLayout.SenderHmacOffset);
        byte[][] packets = [new byte[20], good];
        bool[] valid = new bool[2];

        cipher.TryUnprotectMany(i => packets[i], 2, TestPacketLayout.SenderHmacOffset, valid);

        Assert.False(valid[0]);
        Assert.True(valid[1]);
        SenderPacket.TryRead(good, protectedLayout: true, out SenderPacket parsed);
        Assert.Equal(1u, parsed.SequenceNumber);
    }

    /// <summary>
    /// Every engine combination (AES-NI or the base library's keyed transforms; libcrypto, C# or base-library
    /// HMAC) protects exactly as the base library alone does, one packet at a time and in batches, and each
    /// unprotects what the others protected.
    /// </summary>
    [Theory]
    [InlineData(SecurityMode.Authenticated, TestPacketLayout.SenderHmacOffset, 48)]
    [InlineData(SecurityMode.Authenticated, TestPacketLayout.ReflectorHmacOffset, 112)]
    [InlineData(SecurityMode.Encrypted, TestPacketLayout.SenderHmacOffset, 48)]
    [InlineData(SecurityMode.Encrypted, TestPacketLayout.ReflectorHmacOffset, 150)]
    public void EveryEngine_ProtectsAsTheBaseLibrary(SecurityMode mode, int hmacOffset, int length)
    {
        using var keys = ControlKeys.CreateRandom();
        byte[] aesKey = new byte[16];
        byte[] hmacKey = new byte[32];
        TestPacketCipher.DeriveSessionKeys(keys, s_sid, aesKey, hmacKey);
        using var reference = new TestPacketCipher(mode, aesKey, hmacKey, useAesNi: false, Sha1Engine.Bcl);
        byte[][] plain = Enumerable.Range(0, 9).Select(_ => RandomNumberGenerator.GetBytes(length)).ToArray();
        byte[][] expected = plain.Select(p => (byte[])p.Clone()).ToArray();
        foreach (byte[] packet in expected)
        {
            reference.Protect(packet, hmacOffset);
        }
        var engines = new List<Sha1Engine> { Sha1Engine.Managed, Sha1Engine.Bcl };
        if (HmacSha1Key.DefaultEngine == Sha1Engine.LibCrypto)
        {
            engines.Add(Sha1Engine.LibCrypto);
        }
        foreach (bool aesNi in Aes128NiBlocks.IsSupported ? new[] { false, true } : [false])
        {
            foreach (Sha1Engine engine in engines)
            {
                using var cipher = new TestPacketCipher(mode, aesKey, hmacKey, aesNi, engine);
                byte[][] single = plain.Select(p => (byte[])p.Clone()).ToArray();
                byte[][] batch = plain.Select(p => (byte[])p.Clone()).ToArray();
                foreach (byte[] packet in single)
                {
                    cipher.Protect(packet, hmacOffset);
                }
                cipher.ProtectMany(i => batch[i], batch.Length, hmacOffset);
                for (int i = 0; i < plain.Length; i++)
                {
                    Assert.Equal(Convert.ToHexString(expected[i]), Convert.ToHexString(single[i]));
                    Assert.Equal(Convert.ToHexString(expected[i]), Convert.ToHexString(batch[i]));
                }
                batch[4][hmacOffset] ^= 0x01;
                bool[] valid = new bool[batch.Length];
                cipher.TryUnprotectMany(i => batch[i], batch.Length, hmacOffset, valid);
                Assert.True(cipher.TryUnprotect(single[0], hmacOffset), $"{aesNi} {engine}");
                Assert.Equal(Convert.ToHexString(plain[0].AsSpan(0, hmacOffset)), Convert.ToHexString(single[0].AsSpan(0, hmacOffset)));
                for (int i = 0; i < batch.Length; i++)
                {
                    Assert.Equal(i != 4, valid[i]);
                    Assert.Equal(Convert.ToHexString(i == 4 ? expected[i].AsSpan(0, hmacOffset) : plain[i].AsSpan(0, hmacOffset)), Convert.ToHexString(batch[i].AsSpan(0, hmacOffset)));
                }
            }
        }
    }
}
