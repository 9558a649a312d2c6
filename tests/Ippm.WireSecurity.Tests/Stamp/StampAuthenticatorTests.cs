using System.Security.Cryptography;
using System.Text;
using Ippm.Security;

namespace Ippm.Tests.Stamp;

/// <summary>RFC 8762 §4.4 / RFC 8972 §4.8 integrity: HMAC-SHA-256 truncated to 128 bits, checked against RFC 4231.</summary>
public sealed class StampAuthenticatorTests
{
    // RFC 4231 §4.3, test case 2: key "Jefe", data "what do ya want for nothing?".
    private const string Rfc4231Case2 = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";

    [Fact]
    public void TlvMac_IsRfc4231Case2TruncatedTo128Bits_OverSequenceNumberThenPrecedingTlvs()
    {
        using var auth = new StampAuthenticator("Jefe"u8);
        byte[] data = Encoding.ASCII.GetBytes("what do ya want for nothing?");
        byte[] mac = new byte[16];
        // The first four octets play the Sequence Number, the rest the TLVs before the HMAC TLV.
        auth.ComputeTlvMac(data.AsSpan(0, 4), data.AsSpan(4), mac);
        Assert.Equal(Rfc4231Case2[..32], Convert.ToHexStringLower(mac));
        Assert.True(auth.VerifyTlvMac(data.AsSpan(0, 4), data.AsSpan(4), mac));
        mac[15] ^= 1;
        Assert.False(auth.VerifyTlvMac(data.AsSpan(0, 4), data.AsSpan(4), mac));
    }

    [Fact]
    public void Sign_CoversOctets0To95Only_AndEveryOneBitTamperThereFails()
    {
        byte[] key = Convert.FromHexString("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
        using var auth = new StampAuthenticator(key);
        byte[] packet = new byte[140];
        RandomNumberGenerator.Fill(packet);
        auth.Sign(packet);

        byte[] expected = HMACSHA256.HashData(key, packet.AsSpan(0, 96))[..16];
        Assert.Equal(Convert.ToHexStringLower(expected), Convert.ToHexStringLower(packet.AsSpan(96, 16)));
        Assert.True(auth.Verify(packet));
        packet[120] ^= 0xFF; // TLVs after the base packet are not covered by the base HMAC
        Assert.True(auth.Verify(packet));
        for (int octet = 0; octet < 112; octet += 7)
        {
            packet[octet] ^= 0x10;
            Assert.False(auth.Verify(packet));
            packet[octet] ^= 0x10;
        }
        Assert.False(auth.Verify(packet.AsSpan(0, 111)));
    }
}
