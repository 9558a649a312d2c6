using System.Security.Cryptography;
using Ippm.Security;
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
}
