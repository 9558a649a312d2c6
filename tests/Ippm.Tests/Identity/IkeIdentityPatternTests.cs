using System.Net;
using System.Text;
using Ippm.Ikev2.Exchanges;
using Ippm.Ikev2.Identity;
using Ippm.Ikev2.Messages;

namespace Ippm.Tests.Identity;

public sealed class IkeIdentityPatternTests
{
    private static IdPayload Fqdn(string name) => new(IdType.Fqdn, Encoding.ASCII.GetBytes(name));

    [Theory]
    [InlineData("server.test", "server.test", true)]
    [InlineData("server.test", "SERVER.Test.", true)]
    [InlineData("server.test", "xserver.test", false)]
    [InlineData("*.example.net", "a.example.net", true)]
    [InlineData("*.example.net", "a.b.example.net", true)]
    [InlineData("*.example.net", "example.net", false)]
    [InlineData("*.example.net", "a.example.net.evil", false)]
    [InlineData("probe-*.example.net", "probe-12.example.net", true)]
    public void Fqdn_ExactAndGlob(string pattern, string id, bool matches) =>
        Assert.Equal(matches, IkeIdentityPattern.Parse(pattern).Matches(Fqdn(id)));

    [Fact]
    public void Dn_InStrongSwanOrder_WithStarValues()
    {
        IdPayload dn = IkeIdentity.Parse("C=XX, O=ippm tests, CN=client.test");
        Assert.True(IkeIdentityPattern.Parse("C=XX, O=ippm tests, CN=client.test").Matches(dn));
        Assert.True(IkeIdentityPattern.Parse("C=XX, O=IPPM Tests, CN=*").Matches(dn));
        Assert.False(IkeIdentityPattern.Parse("C=XX, O=other, CN=*").Matches(dn));
        Assert.False(IkeIdentityPattern.Parse("O=ippm tests, CN=client.test").Matches(dn));
        Assert.False(IkeIdentityPattern.Parse("CN=client.test, O=ippm tests, C=XX").Matches(dn));
        Assert.False(IkeIdentityPattern.Parse("C=XX, O=ippm tests, CN=client.test").Matches(Fqdn("client.test")));
    }

    [Fact]
    public void Exactly_DoesNotTreatStarAsAWildcard()
    {
        IkeIdentityPattern exact = IkeIdentityPattern.Exactly(Fqdn("*.example.net"));
        Assert.True(exact.Matches(Fqdn("*.example.net")));
        Assert.False(exact.Matches(Fqdn("a.example.net")));
    }

    [Fact]
    public void Addresses_MatchAddressIdsOfTheSameValue()
    {
        Assert.True(IkeIdentityPattern.Parse("127.0.0.1").Matches(IkeIdentity.FromAddress(IPAddress.Loopback)));
        Assert.True(IkeIdentityPattern.Parse("::ffff:127.0.0.1").Matches(IkeIdentity.FromAddress(IPAddress.Loopback)));
        Assert.True(IkeIdentityPattern.Parse("::1").Matches(IkeIdentity.FromAddress(IPAddress.IPv6Loopback)));
        Assert.False(IkeIdentityPattern.Parse("127.0.0.2").Matches(IkeIdentity.FromAddress(IPAddress.Loopback)));
        Assert.False(IkeIdentityPattern.Parse("127.0.0.1").Matches(Fqdn("127.0.0.1")));
    }

    [Fact]
    public void Policy_MatchesCertificateNames_AndSaysWhoWasRefused()
    {
        var peer = new IkePeerIdentity(IkeIdentity.Parse("C=XX, CN=rogue.test"), [IkeIdentity.Parse("C=XX, CN=rogue.test"), Fqdn("rogue.test")]);
        var policy = new IkePeerPolicy([IkeIdentityPattern.Parse("client.test")]);
        string? refusal = policy.Refusal(peer);
        Assert.Equal("identity 'C=XX, CN=rogue.test (certificate names DNS:rogue.test)' matches none of the allowed identities (client.test)", refusal);
        Assert.Null(new IkePeerPolicy([IkeIdentityPattern.Parse("rogue.test")]).Refusal(peer));
    }

    [Theory]
    [InlineData("")]
    [InlineData("bad name")]
    [InlineData("CN=")]
    public void Parse_RejectsNonsense(string text) => Assert.ThrowsAny<FormatException>(() => IkeIdentityPattern.Parse(text));
}

public sealed class IkeIdentityFormatTests
{
    [Fact]
    public void Format_PeerChosenControlCharacters_CannotForgeLogLines()
    {
        var id = new IdPayload(IdType.Fqdn, Encoding.ASCII.GetBytes("evil.test\nwarn: Ippm.Ike[1201] IKE SA established\r\x1b[31m"));
        string text = IkeIdentity.Format(id);
        Assert.DoesNotContain('\n', text);
        Assert.DoesNotContain('\r', text);
        Assert.DoesNotContain('\x1b', text);
        Assert.StartsWith("evil.test?warn", text, StringComparison.Ordinal);
        Assert.True(IkeIdentity.Format(new IdPayload(IdType.Fqdn, new byte[4000])).Length <= 257);
    }
}
