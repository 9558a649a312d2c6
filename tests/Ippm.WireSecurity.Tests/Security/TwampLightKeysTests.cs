using System.Security.Cryptography;
using System.Text;
using Ippm.Security;
using Ippm.Security.TwampLight;
using Ippm.Wire;
using Ippm.Wire.Test;

namespace Ippm.Tests.Security;

/// <summary>
/// TWAMP-Light test keys (RFC 5357 Appendix I, ippm's HKDF convention): checked against RFC 5869 HKDF computed here
/// from HMAC-SHA256 alone, and the key-file identities that ask for them.
/// </summary>
public sealed class TwampLightKeysTests
{
    private static readonly byte[] s_key = Convert.FromHexString("0102030405060708090a0b0c0d0e0f10");

    /// <summary>RFC 5869 §2.2–2.3 for outputs of at most one hash: T(1) = HMAC(PRK, info ‖ 0x01).</summary>
    private static byte[] Hkdf(byte[] ikm, string salt, string info, int length)
    {
        byte[] prk = HMACSHA256.HashData(Encoding.ASCII.GetBytes(salt), ikm);
        byte[] t1 = HMACSHA256.HashData(prk, Encoding.ASCII.GetBytes(info + "\u0001"));
        return t1[..length];
    }

    [Fact]
    public void Keys_AreRfc5869HkdfOfTheConfiguredKey_WithIppmsLabels()
    {
        byte[] aes = Hkdf(s_key, "ippm twamp-light v1", "ippm twamp-light K_aes", 16);
        byte[] hmac = Hkdf(s_key, "ippm twamp-light v1", "ippm twamp-light K_hmac", 32);
        byte[] sid = Hkdf(s_key, "ippm twamp-light v1", "ippm twamp-light SID", 16);

        foreach (SecurityMode mode in new[] { SecurityMode.Authenticated, SecurityMode.Encrypted })
        {
            using var keys = new TwampLightKeys(mode, s_key);
            Assert.Equal(mode, keys.Mode);
            Assert.Equal(Convert.ToHexStringLower(sid), Convert.ToHexStringLower(keys.Sid.ToArray()));

            // The cipher it hands out protects a packet exactly as one built from the expected K_aes, K_hmac and SID.
            using var controlKeys = new ControlKeys(aes, hmac);
            using TestPacketCipher expected = TestPacketCipher.Create(mode, controlKeys, keys.Sid);
            using TestPacketCipher actual = keys.CreateCipher();
            byte[] packet = new byte[TestPacketLayout.SenderProtectedHeader];
            new SenderPacket(7, new NtpTimestamp(0xeeb54d93_80000000), new ErrorEstimate(0x8001)).Write(packet, protectedLayout: true);
            byte[] copy = (byte[])packet.Clone();
            expected.Protect(packet, TestPacketLayout.SenderHmacOffset);
            actual.Protect(copy, TestPacketLayout.SenderHmacOffset);
            Assert.Equal(Convert.ToHexStringLower(packet), Convert.ToHexStringLower(copy));
        }
    }

    [Fact]
    public void Keys_OpenOrMixedModeOrEmptyKey_AreRefusedByName()
    {
        Assert.Equal("mode", Assert.Throws<ArgumentException>(() => new TwampLightKeys(SecurityMode.Open, s_key)).ParamName);
        Assert.Equal("mode", Assert.Throws<ArgumentException>(() => new TwampLightKeys(SecurityMode.Mixed, s_key)).ParamName);
        Assert.Equal("configuredKey", Assert.Throws<ArgumentException>(() => new TwampLightKeys(SecurityMode.Encrypted, [])).ParamName);
    }

    [Theory]
    [InlineData("light-A@192.0.2.1", SecurityMode.Authenticated, "192.0.2.1")]
    [InlineData("light-e@2001:db8::1", SecurityMode.Encrypted, "2001:db8::1")]
    [InlineData("LIGHT-E@*", SecurityMode.Encrypted, "*")]
    [InlineData("light-A@", SecurityMode.Authenticated, "")]
    public void Identity_LightLetterAtPeer_GivesModeAndPeer(string identity, SecurityMode mode, string peer)
    {
        Assert.True(TwampLightKeys.TryParseIdentity(identity, out SecurityMode parsedMode, out string parsedPeer));
        Assert.Equal(mode, parsedMode);
        Assert.Equal(peer, parsedPeer);
    }

    [Theory]
    [InlineData("192.0.2.1", "192.0.2.1")]                  // a STAMP line: no '@'
    [InlineData("light-A192.0.2.1", "light-A192.0.2.1")]    // no '@'
    [InlineData("heavy-A@192.0.2.1", "heavy-A@192.0.2.1")]  // another prefix
    [InlineData("light-AE@192.0.2.1", "light-AE@192.0.2.1")] // two letters
    [InlineData("light-@192.0.2.1", "light-@192.0.2.1")]    // no letter
    [InlineData("ligh-AA@192.0.2.1", "ligh-AA@192.0.2.1")]  // '@' where it belongs, but not after "light-"
    [InlineData("light-X@192.0.2.1", "192.0.2.1")]          // the right shape, a letter that is no mode
    [InlineData("light-O@192.0.2.1", "192.0.2.1")]          // open needs no key
    public void Identity_AnythingElse_IsNotATwampLightLine(string identity, string peer)
    {
        Assert.False(TwampLightKeys.TryParseIdentity(identity, out SecurityMode mode, out string parsedPeer));
        Assert.Equal(SecurityMode.Open, mode);
        Assert.Equal(peer, parsedPeer);
    }
}
