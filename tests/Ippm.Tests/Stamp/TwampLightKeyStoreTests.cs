using System.Net;
using Ippm.Security;
using Ippm.Security.TwampLight;
using Ippm.Sessions.Stamp;
using Ippm.Wire;

namespace Ippm.Tests.Stamp;

/// <summary>The per-peer rule that tells TWAMP-Light A/E senders from STAMP senders, and the key-line syntax.</summary>
public sealed class TwampLightKeyStoreTests
{
    private const string Hex = "0102030405060708090a0b0c0d0e0f10";

    [Fact]
    public void MostSpecificLineWins_AcrossStampAndTwampLightLines()
    {
        using KeyFile file = KeyFile.Parse($"light-E@192.0.2.0/24 {Hex}\n192.0.2.7 {Hex}\nlight-a@2001:db8::1 {Hex}\n* {Hex}\n");
        using var store = new StampKeyStore(file);

        StampKeyStore.PeerKey? prefix = store.FindPeer(StampKeyStore.SockaddrOf(new IPEndPoint(IPAddress.Parse("192.0.2.8"), 9), new byte[28]));
        Assert.Equal(SecurityMode.Encrypted, prefix!.TwampLight!.Mode);
        Assert.Null(prefix.Stamp);
        Assert.Null(store.Find(new IPEndPoint(IPAddress.Parse("192.0.2.8"), 9)));      // no STAMP key for a TWAMP-Light peer

        StampKeyStore.PeerKey? host = store.FindPeer(StampKeyStore.SockaddrOf(new IPEndPoint(IPAddress.Parse("192.0.2.7"), 9), new byte[28]));
        Assert.NotNull(host!.Stamp);                                                    // the /32 STAMP line beats the /24
        Assert.Null(host.TwampLight);

        StampKeyStore.PeerKey? v6 = store.FindPeer(StampKeyStore.SockaddrOf(new IPEndPoint(IPAddress.Parse("2001:db8::1"), 9), new byte[28]));
        Assert.Equal(SecurityMode.Authenticated, v6!.TwampLight!.Mode);                // letters are case-insensitive

        Assert.NotNull(store.Find(new IPEndPoint(IPAddress.Parse("198.51.100.1"), 9))); // '*' is STAMP
    }

    [Theory]
    [InlineData("light-X@192.0.2.1")]
    [InlineData("light-A@not-an-address")]
    [InlineData("light-AE@192.0.2.1")]
    public void BadTwampLightSelectors_AreRefused(string identity)
    {
        using KeyFile file = KeyFile.Parse($"{identity} {Hex}\n");
        Assert.Throws<FormatException>(() => new StampKeyStore(file));
    }

    [Fact]
    public void TwoDefaultLines_AreRefused()
    {
        using KeyFile file = KeyFile.Parse($"* {Hex}\nlight-A@* {Hex}\n");
        Assert.Throws<FormatException>(() => new StampKeyStore(file));
    }

    [Fact]
    public void Keys_DependOnTheKeyOnly_NotOnTheMode()
    {
        using var a = new TwampLightKeys(SecurityMode.Authenticated, Convert.FromHexString(Hex));
        using var e = new TwampLightKeys(SecurityMode.Encrypted, Convert.FromHexString(Hex));
        using var other = new TwampLightKeys(SecurityMode.Authenticated, Convert.FromHexString(Hex + "00"));
        Assert.Equal(a.Sid, e.Sid);
        Assert.NotEqual(a.Sid, other.Sid);
        Assert.Throws<ArgumentException>(() => new TwampLightKeys(SecurityMode.Open, Convert.FromHexString(Hex)));
        Assert.Throws<ArgumentException>(() => new TwampLightKeys(SecurityMode.Mixed, Convert.FromHexString(Hex)));
    }
}
