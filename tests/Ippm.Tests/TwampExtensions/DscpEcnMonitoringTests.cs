using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Ippm.Sessions.Control;
using Ippm.Sessions.Twamp;
using Ippm.Wire.Control;
using Ippm.Tests.Cli;
using Ippm.Tests.Loopback;
using Ippm.Wire;

namespace Ippm.Tests.TwampExtensions;

/// <summary>
/// RFC 7750 end to end: the reflector reports the TOS octet it received (IP_RECVTOS), the sender reads the one its
/// replies arrived with, and re-marking on the path is detected, here by an nftables rule in a network namespace
/// the test creates for itself.
/// </summary>
public sealed class DscpEcnMonitoringTests
{
    private static TwpingOptions Options(TestServer server, SecurityMode mode, byte dscp, byte ecn) => new()
    {
        Server = server.TwampEndPoint,
        AcceptableModes = (uint)mode,
        Identity = TestServer.Identity,
        Secret = TestServer.Passphrase,
        Count = 20,
        Schedule = new SendSchedule(0.002, false),
        Dscp = dscp,
        Ecn = ecn,
    };

    [Theory]
    [InlineData(SecurityMode.Open, 46, 1)]
    [InlineData(SecurityMode.Authenticated, 10, 2)]
    [InlineData(SecurityMode.Encrypted, 0, 3)]
    [InlineData(SecurityMode.Mixed, 34, 0)]
    public async Task Loopback_ReflectorReportsTheTosItReceived_NoRemarking(SecurityMode mode, byte dscp, byte ecn)
    {
        await using var server = new TestServer();

        TwampSessionResult result = await TwampMeasurement.RunAsync(Options(server, mode, dscp, ecn), CancellationToken.None).DefaultTimeout();
        TwampReport report = TwampReport.Create("test", result);

        Assert.True(result.DscpEcnMonitoring);
        Assert.Equal(20, result.Replies.Count);
        // What the kernel put on the wire is what the reflector read from the IP header: DSCP and ECN as sent.
        Assert.All(result.Replies, s => Assert.Equal((byte)((dscp << 2) | ecn), s.ReflectorTos));
        // Replies leave with the Type-P DSCP and Not-ECT.
        Assert.All(result.Replies, s => Assert.Equal((byte)(dscp << 2), s.BackwardTos));
        Assert.Equal(0, report.ForwardDscpRemarked + report.ForwardEcnChanged + report.BackwardDscpRemarked + report.BackwardEcnChanged);
        using JsonDocument json = JsonDocument.Parse(report.ToJson());
        JsonElement d = json.RootElement.GetProperty("dscp_ecn");
        Assert.Equal(dscp, d.GetProperty("at_reflector")[0].GetProperty("dscp").GetInt32());
        Assert.Equal(ecn, d.GetProperty("at_reflector")[0].GetProperty("ecn").GetInt32());
        Assert.False(d.GetProperty("remarked").GetBoolean());
    }

    [Fact]
    public async Task OverIpv6_TrafficClassReadBothWays()
    {
        await using var server = new TestServer(o => o.TwampListen = new IPEndPoint(IPAddress.IPv6Loopback, 0));

        TwampSessionResult result = await TwampMeasurement.RunAsync(Options(server, SecurityMode.Open, 46, 2), CancellationToken.None).DefaultTimeout();

        Assert.Equal(20, result.Replies.Count);
        Assert.All(result.Replies, s => Assert.Equal((byte)((46 << 2) | 2), s.ReflectorTos)); // IPV6_RECVTCLASS at the reflector
        Assert.All(result.Replies, s => Assert.Equal((byte)(46 << 2), s.BackwardTos));
    }

    /// <summary>On the wire, from a plain socket: the reply is 42 octets and octet 41 carries the TOS sent (RFC 7750).</summary>
    [Fact]
    public async Task OnTheWire_OpenReply_Octet41CarriesTheReceivedTos()
    {
        await using var server = new TestServer();
        await using TwampControlClient client = await TwampControlClient.ConnectAsync(
            server.TwampEndPoint, (uint)SecurityMode.Open, null, null, ControlHandshake.DefaultMaxCount, (uint)TwampModes.DscpEcnMonitoring, CancellationToken.None).DefaultTimeout();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        socket.ReceiveTimeout = 5000;
        socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.TypeOfService, 0xb9); // DSCP 46, ECN 1
        socket.Ttl = 200;
        AcceptSession accept = await client.RequestSessionAsync((IPEndPoint)socket.LocalEndPoint!, 0, 0, TimeSpan.FromSeconds(1), 46, CancellationToken.None).DefaultTimeout();
        socket.Connect(new IPEndPoint(IPAddress.Loopback, accept.Port));
        await client.StartSessionsAsync(CancellationToken.None).DefaultTimeout();

        socket.Send(new byte[14]); // an RFC 5357 open sender packet without padding
        byte[] reply = new byte[100];
        int length = socket.Receive(reply);

        Assert.Equal(42, length);
        Assert.Equal(0xb9, reply[41]);
        Assert.Equal(200, reply[40]); // Sender TTL still where RFC 5357 puts it
    }

    [Fact]
    public async Task LegacyServer_NoReport_PacketsAsRfc5357()
    {
        await using var server = new TestServer(o => o.TwampFeatures = 0);

        TwampSessionResult result = await TwampMeasurement.RunAsync(Options(server, SecurityMode.Open, 46, 0), CancellationToken.None).DefaultTimeout();

        Assert.False(result.DscpEcnMonitoring);
        Assert.Equal(41, result.SenderPacketLength);
        Assert.All(result.Replies, s => Assert.Null(s.ReflectorTos));
        Assert.Contains("not reported", TwampReport.Create("test", result).ToHumanReadable(), StringComparison.Ordinal);
    }

    /// <summary>
    /// A namespace of its own with an nftables rule that re-marks DSCP 10 + ECT(0) (only the forward packets carry
    /// ECT(0)) to DSCP 20; twping runs inside it against its embedded loopback server.
    /// </summary>
    [Fact]
    public async Task NetworkNamespace_ForwardRemarking_DetectedInTextAndJson()
    {
        RequireTool("ip", "iproute2");
        RequireTool("nft", "nftables");
        string ns = $"ippm-remark-{Environment.ProcessId}-{Random.Shared.Next(100000)}";
        await RunAsync("ip", "netns", "add", ns);
        try
        {
            await RunAsync("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up");
            await RunAsync("ip", "netns", "exec", ns, "nft", "add table ip remark");
            await RunAsync("ip", "netns", "exec", ns, "nft", "add chain ip remark out { type filter hook output priority mangle; policy accept; }");
            await RunAsync("ip", "netns", "exec", ns, "nft", "add rule ip remark out ip protocol udp ip dscp 10 ip ecn ect0 ip dscp set 20");

            string[] twping = ["ip", "netns", "exec", ns, "dotnet", IppmProcess.DllPath, "twping", "-c", "20", "-i", "0.01f", "-D", "10", "--ecn", "2"];
            string json = await RunAsync([.. twping, "--json"]);
            using JsonDocument doc = JsonDocument.Parse(json);
            JsonElement d = doc.RootElement.GetProperty("dscp_ecn");
            Assert.Equal(20, doc.RootElement.GetProperty("received").GetInt32());
            Assert.Equal(10, d.GetProperty("sent").GetProperty("dscp").GetInt32());
            JsonElement atReflector = Assert.Single(d.GetProperty("at_reflector").EnumerateArray());
            Assert.Equal(20, atReflector.GetProperty("dscp").GetInt32()); // re-marked by the rule
            Assert.Equal(2, atReflector.GetProperty("ecn").GetInt32()); // ECN left alone
            Assert.Equal(20, d.GetProperty("forward_dscp_remarked").GetInt32());
            Assert.Equal(0, d.GetProperty("backward_dscp_remarked").GetInt32()); // replies are Not-ECT: no match
            Assert.Equal(10, Assert.Single(d.GetProperty("received_back").EnumerateArray()).GetProperty("dscp").GetInt32());
            Assert.True(d.GetProperty("remarked").GetBoolean());

            string text = await RunAsync(twping);
            Assert.Contains("DSCP/ECN at reflector (RFC 7750): DSCP 20 ECN 2 x20; re-marked forward: DSCP 20, ECN 0", text, StringComparison.Ordinal);
            Assert.Contains("RE-MARKING DETECTED", text, StringComparison.Ordinal);
        }
        finally
        {
            await RunAsync("ip", "netns", "del", ns);
        }
    }

    private static void RequireTool(string tool, string package)
    {
        bool found = Environment.GetEnvironmentVariable("PATH")!.Split(':').Append("/usr/sbin").Append("/sbin")
            .Any(dir => File.Exists(Path.Combine(dir, tool)));
        Assert.True(found, $"'{tool}' is missing: install the Debian package {package} (.ci/run does), and run the tests as root.");
    }

    private static async Task<string> RunAsync(params string[] command)
    {
        var info = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in command[1..])
        {
            info.ArgumentList.Add(arg);
        }
        using Process process = Process.Start(info)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{string.Join(' ', command)} did not finish within 60 s.");
        }
        Assert.True(process.ExitCode == 0, $"{string.Join(' ', command)} exited {process.ExitCode}: {await stderr} (needs root for network namespaces)");
        return await stdout;
    }
}
