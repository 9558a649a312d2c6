using System.Net;
using Ippm.Policy;

namespace Ippm.Tests.Service;

/// <summary>perfSONAR's limits syntax, read unchanged; the example values are the ones of owampd.limits(5) and twampd.limits(5).</summary>
public sealed class LimitsFileTests
{
    private const string ManPageExample = """
        limit root with \
            bandwidth=900m, \
            allow_open_mode=off

        limit jail with \
            parent=root, \
            bandwidth=1, \
            allow_open_mode=off

        limit open with \
            parent=root, \
            bandwidth=10k, \
            allow_open_mode=on

        # default open
        assign default open
        # badguys subnet
        assign net 192.168.1.0/24 jail
        # network admins
        assign user joe root
        assign user jim root
        """;

    [Fact]
    public void ManPageExample_ParsesWithInheritanceAndSiSuffixes()
    {
        LimitsFile policy = LimitsFile.Parse(ManPageExample, "twampd.limits");

        Assert.Equal("root", policy.Root.Name);
        Assert.Equal(900_000_000UL, policy.Classes["root"].Bandwidth);
        Assert.Equal(10_000UL, policy.Classes["open"].Bandwidth);
        Assert.True(policy.Classes["open"].AllowOpenMode);
        Assert.False(policy.Classes["jail"].AllowOpenMode);
        Assert.Equal(["jail", "root"], policy.Classes["jail"].SelfAndAncestors().Select(c => c.Name));
        Assert.False(policy.Classes["open"].DeleteOnFetch);
        Assert.Equal(0UL, policy.Classes["open"].Disk);
    }

    [Fact]
    public void Classify_UserBeatsAddress_ClosestNetWins_ElseDefault()
    {
        LimitsFile policy = LimitsFile.Parse(ManPageExample + "\nlimit host with parent=jail, bandwidth=2k\nassign net 192.168.1.7/32 host\nassign net ::1/128 jail\n", "x");

        Assert.Equal("jail", policy.ClassifyAddress(IPAddress.Parse("192.168.1.9")).Name);
        Assert.Equal("host", policy.ClassifyAddress(IPAddress.Parse("192.168.1.7")).Name);
        Assert.Equal("host", policy.ClassifyAddress(IPAddress.Parse("::ffff:192.168.1.7")).Name);
        Assert.Equal("jail", policy.ClassifyAddress(IPAddress.IPv6Loopback).Name);
        Assert.Equal("open", policy.ClassifyAddress(IPAddress.Parse("10.1.2.3")).Name);
        Assert.Equal("root", policy.Classify(IPAddress.Parse("192.168.1.9"), "joe").Name);
        Assert.Equal("jail", policy.Classify(IPAddress.Parse("192.168.1.9"), "mallory").Name);
        // Inherited from jail (allow_open_mode=off), own bandwidth.
        Assert.False(policy.Classes["host"].AllowOpenMode);
        Assert.Equal(2_000UL, policy.Classes["host"].Bandwidth);
    }

    [Fact]
    public void NoDefault_FallsBackToRoot_AsOwampd()
    {
        LimitsFile policy = LimitsFile.Parse("limit root with disk=2g, delete_on_fetch=on, test_sessions=4", "x");

        LimitClass c = policy.ClassifyAddress(IPAddress.Parse("203.0.113.1"));
        Assert.Equal("root", c.Name);
        Assert.Equal(2_000_000_000UL, c.Disk);
        Assert.True(c.DeleteOnFetch);
        Assert.Equal(4UL, c.TestSessions);
    }

    [Fact]
    public void IkeIdentities_AreUsers_AndNeedNoPfsEntry()
    {
        LimitsFile policy = LimitsFile.Parse("limit root with bandwidth=1\nlimit peers with parent=root, bandwidth=5m\nassign user \"ike:CN=alice, O=Example\" peers\n", "x", isKnownUser: _ => false);

        Assert.Equal("peers", policy.Classify(IPAddress.Loopback, "ike:CN=alice, O=Example").Name);
        Assert.Equal("root", policy.Classify(IPAddress.Loopback, "ike:CN=bob").Name);
    }

    [Theory]
    [InlineData("limit root with bandwidth=1m\nlimit a with bandwidth=2m", 2, "expected 'parent=CLASS'")]
    [InlineData("limit root with parent=root", 1, "cannot have a parent")]
    [InlineData("limit root with bandwidth=1x", 1, "bandwidth: expected an integer")]
    [InlineData("limit root with allow_open_mode=maybe", 1, "expected on or off")]
    [InlineData("limit root with colour=blue", 1, "unknown limit 'colour'")]
    [InlineData("limit root with bandwidth=1, bandwidth=2", 1, "'bandwidth' given twice")]
    [InlineData("limit root without bandwidth=1", 1, "expected 'with'")]
    [InlineData("limit root with bandwidth=1\nlimit root with parent=root", 2, "already defined")]
    [InlineData("limit root with bandwidth=1\n\n# c\nassign net 10.0.0.1/8 root", 4, "address bits set beyond the /8 mask")]
    [InlineData("limit root with bandwidth=1\nassign net 10.0.0.0/33 root", 2, "prefix length 1-32")]
    [InlineData("limit root with bandwidth=1\nassign user joe nowhere", 2, "class 'nowhere' is not defined above")]
    [InlineData("limit root with bandwidth=1\nassign user joe root", 2, "user 'joe' is not in the .pfs file")]
    [InlineData("limit root with bandwidth=1\nassign default root\nassign default root", 3, "more than one 'assign default'")]
    [InlineData("limit root with bandwidth=1\nassign host x root", 2, "expected 'default', 'net' or 'user'")]
    [InlineData("limit root with bandwidth=1\nallow everything", 2, "expected 'limit' or 'assign'")]
    [InlineData("limit root with \\\n bandwidth=1 \\ x", 2, "'\\' is only allowed at the end of a line")]
    [InlineData("limit root with bandwidth=99999999999999999999k", 1, "bandwidth: expected an integer")]
    [InlineData("assign default root", 1, "class 'root' is not defined above")]
    [InlineData("# nothing\n", 1, "at least one 'limit")]
    public void BadFile_NamesFileLineAndWhatWasExpected(string text, int line, string expected)
    {
        PolicyFormatException e = Assert.Throws<PolicyFormatException>(() => LimitsFile.Parse(text, "site.limits", isKnownUser: _ => false));

        Assert.Equal(line, e.Line);
        Assert.StartsWith($"site.limits:{line}: ", e.Message, StringComparison.Ordinal);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bandwidth_IsChargedToTheClassAndEveryAncestor()
    {
        LimitsFile policy = LimitsFile.Parse("limit root with bandwidth=3m\nlimit a with parent=root, bandwidth=2m\nlimit b with parent=root, bandwidth=2m\n", "x");
        var usage = new PolicyUsage();

        BandwidthReservation? a1 = usage.TryReserve(policy.Classes["a"], 1_500_000, out _);
        BandwidthReservation? a2 = usage.TryReserve(policy.Classes["a"], 1_000_000, out PolicyRefusal? overA);
        BandwidthReservation? b1 = usage.TryReserve(policy.Classes["b"], 1_000_000, out _);
        BandwidthReservation? b2 = usage.TryReserve(policy.Classes["b"], 1_000_000, out PolicyRefusal? overRoot);
        a1!.Dispose();
        a1.Dispose();
        BandwidthReservation? b3 = usage.TryReserve(policy.Classes["b"], 1_000_000, out _);

        Assert.Null(a2);
        Assert.Equal("a", overA!.ClassName);
        Assert.NotNull(b1);
        Assert.Null(b2);
        Assert.Equal("root", overRoot!.ClassName);
        Assert.NotNull(b3);
        Assert.Equal(2_000_000UL, usage.BandwidthInUse("root"));
    }

    [Theory]
    [InlineData(14, 0.001, 336_000UL)]
    [InlineData(48, 0.0001, 6_080_000UL)]
    [InlineData(14, 0.1, 3_360UL)]
    public void TestBandwidth_IsWirePacketTimesRate(int payload, double interval, ulong expected) =>
        Assert.Equal(expected, TestBandwidth.BitsPerSecond(payload, ipv6: false, [interval]));
}
