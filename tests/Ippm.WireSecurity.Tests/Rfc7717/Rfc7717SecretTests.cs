using Ippm.Ikev2.Crypto;
using Ippm.Ikev2.Messages;
using Ippm.Security;

namespace Ippm.Tests.Rfc7717;

/// <summary>The RFC 7717 key derivation, with the worked values of the spec digest (crypto §8.3).</summary>
public sealed class Rfc7717SecretTests
{
    private static readonly byte[] s_skD = Convert.FromHexString("6f1b12cad3cbe097b35430356d869d54cddb0198");
    private static readonly byte[] s_salt = Convert.FromHexString("000102030405060708090a0b0c0d0e0f");

    [Fact]
    public void Secret_HmacSha1Prf_MatchesDigestVector()
    {
        byte[] s = Prf.Compute(PrfId.HmacSha1, s_skD, "IPPM"u8);
        Assert.Equal("cefc3501d05ce46bc2b6a3d0210a300710de76a7", Convert.ToHexStringLower(s));
    }

    [Fact]
    public void Secret_HmacSha256Prf_MatchesDigestVector()
    {
        byte[] s = Prf.Compute(PrfId.HmacSha256, s_skD, "IPPM"u8);
        Assert.Equal("4cee9ee6cc55669e8a5d432e7e81702bc1120e3217a572402f1b6ff78e1ff540", Convert.ToHexStringLower(s));
    }

    [Theory]
    [InlineData(Rfc7717KeyDerivation.Pbkdf2, "1719a547a5d5c667c9fb592808045070")]
    [InlineData(Rfc7717KeyDerivation.Direct, "cefc3501d05ce46bc2b6a3d0210a3007")]
    public void TokenKey_BothInterpretations_MatchDigestVectors(Rfc7717KeyDerivation derivation, string expected)
    {
        byte[] s = Prf.Compute(PrfId.HmacSha1, s_skD, "IPPM"u8);
        using var secret = new Rfc7717Secret(0x8e5c3ae507221684, 0xb1f201bb155c3acd, s, derivation);

        Assert.Equal(expected, Convert.ToHexStringLower(secret.DeriveTokenKey(s_salt, 2048)));
    }

    [Fact]
    public void KeyId_SpisThenSixtyFourZeros()
    {
        using var secret = new Rfc7717Secret(0x8e5c3ae507221684, 0xb1f201bb155c3acd, new byte[20], Rfc7717KeyDerivation.Pbkdf2);

        byte[] keyId = secret.KeyId();

        Assert.Equal(80, keyId.Length);
        Assert.Equal("8e5c3ae507221684b1f201bb155c3acd" + new string('0', 128), Convert.ToHexStringLower(keyId));
        // The server reads only the first 16 octets: non-zero padding changes nothing.
        keyId[40] = 0xFF;
        Assert.Equal((0x8e5c3ae507221684UL, 0xb1f201bb155c3acdUL), Rfc7717Secret.ReadSpis(keyId));
    }
}
