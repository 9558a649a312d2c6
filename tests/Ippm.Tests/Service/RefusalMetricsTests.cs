using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Ippm.Sessions.Twamp;
using Ippm.Tests.Cli;
using Ippm.Tests.Loopback;
using Ippm.Wire;
using Ippm.Wire.Control;

namespace Ippm.Tests.Service;

/// <summary>
/// Refusals an operator must see in Prometheus: IKE set-ups by outcome, and the per-source shares' refusals as policy
/// refusal reasons. A real <c>ippm server</c> process, real clients, and its <c>--metrics-listen</c> text endpoint.
/// </summary>
public sealed class RefusalMetricsTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private static readonly HttpClient s_http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly string _dir = Directory.CreateTempSubdirectory("ippm-refusal-metrics-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string S(int value) => value.ToString(CultureInfo.InvariantCulture);

    [Fact]
    public async Task IkeSetups_WrongPskAndUnlistedIdentity_CountedAsFailuresBesideTheEstablishedOne()
    {
        string goodPsk = Path.Combine(_dir, "good.psk"), badPsk = Path.Combine(_dir, "bad.psk");
        File.WriteAllText(goodPsk, "the key the server holds\n");
        File.WriteAllText(badPsk, "some other key\n");
        using var server = new ServerProcess("server", "--twamp-listen", "127.0.0.1:0", "--ike-listen", "127.0.0.1:0",
            "--ike-psk-file", goodPsk, "--ike-allow", "allowed.test", "--metrics-listen", "127.0.0.1:0");
        await server.WaitForLogAsync("ready (pid", Timeout);
        int twampPort = await server.TwampPortAsync(Timeout), metricsPort = await server.MetricsPortAsync(Timeout), ikePort = await server.IkePortAsync(Timeout);

        Task<(int ExitCode, string Stdout, string Stderr)> Twping(string psk, string localId) => IppmProcess.RunAsync(Timeout,
            "twping", "--ike", "--ike-port", S(ikePort), "--ike-psk-file", psk, "--ike-local-id", localId, "--ike-timeout", "5",
            "-A", "A", "-c", "5", "-i", "0.01", $"127.0.0.1:{twampPort}");

        var wrongKey = await Twping(badPsk, "allowed.test");
        Assert.Equal(2, wrongKey.ExitCode);
        Assert.Contains("AuthenticationFailed", wrongKey.Stderr, StringComparison.Ordinal);
        var unlisted = await Twping(goodPsk, "rogue.test");
        Assert.Equal(2, unlisted.ExitCode);
        await server.WaitForLogAsync("matches none of the allowed identities (allowed.test)", Timeout);
        var admitted = await Twping(goodPsk, "allowed.test");
        Assert.True(admitted.ExitCode == 0, admitted.Stderr);

        string url = $"http://127.0.0.1:{metricsPort}/metrics";
        await WaitForSeriesAsync(url, "ippm_ike_setups_total", "outcome", "authentication_failed", 1);
        await WaitForSeriesAsync(url, "ippm_ike_setups_total", "outcome", "identity_refused", 1);
        await WaitForSeriesAsync(url, "ippm_ike_setups_total", "outcome", "established", 1);
        Assert.False(server.HasExited);
    }

    [Fact]
    public async Task PerSourceShares_ModesZeroAndAcceptFive_CountedAsPolicyRefusals()
    {
        using var server = new ServerProcess("server", "--twamp-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
            "--max-connections-per-source", "1", "--max-sessions-per-source", "1");
        await server.WaitForLogAsync("ready (pid", Timeout);
        int twampPort = await server.TwampPortAsync(Timeout), metricsPort = await server.MetricsPortAsync(Timeout);
        var endPoint = new IPEndPoint(IPAddress.Loopback, twampPort);

        await using (TwampControlClient client = await TwampControlClient.ConnectAsync(endPoint, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout())
        {
            AcceptSession first = await client.RequestSessionAsync(new IPEndPoint(IPAddress.Loopback, 9), 0, 64, TimeSpan.FromSeconds(1), 0, CancellationToken.None).DefaultTimeout();
            AcceptSession second = await client.RequestSessionAsync(new IPEndPoint(IPAddress.Loopback, 9), 0, 64, TimeSpan.FromSeconds(1), 0, CancellationToken.None).DefaultTimeout();
            Assert.Equal(AcceptCode.Ok, first.Accept);
            Assert.Equal(AcceptCode.TemporaryResourceLimitation, second.Accept);

            // The source's one connection is held: the next gets a Server-Greeting with Modes = 0 (RFC 4656 §3.1:
            // Unused 12 octets, then Modes).
            using var refused = new TcpClient();
            await refused.ConnectAsync(IPAddress.Loopback, twampPort).DefaultTimeout();
            byte[] greeting = new byte[64];
            await refused.GetStream().ReadExactlyAsync(greeting).AsTask().DefaultTimeout();
            Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(greeting.AsSpan(12, 4)));
        }

        string url = $"http://127.0.0.1:{metricsPort}/metrics";
        await WaitForSeriesAsync(url, "ippm_policy_refusals_total", "reason", "sessions_per_source", 1);
        await WaitForSeriesAsync(url, "ippm_policy_refusals_total", "reason", "connections_per_source", 1);
        Assert.False(server.HasExited);
    }

    /// <summary>Scrapes until the series NAME{…LABEL="VALUE"…} reads <paramref name="expected"/> (the exporter caches a scrape briefly).</summary>
    private static async Task WaitForSeriesAsync(string url, string name, string label, string value, long expected)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        string text = "";
        for (int i = 0; i < 100 && DateTime.UtcNow < deadline; i++)
        {
            text = await s_http.GetStringAsync(url);
            if (SeriesValue(text, name, label, value) == expected)
            {
                return;
            }
            await Task.Delay(200);
        }
        Assert.Fail($"{name}{{{label}=\"{value}\"}} never read {expected}; last scrape:\n{text}");
    }

    private static long? SeriesValue(string text, string name, string label, string value)
    {
        foreach (string line in text.Split('\n'))
        {
            if (line.StartsWith(name + "{", StringComparison.Ordinal) && line.Contains($"{label}=\"{value}\"", StringComparison.Ordinal))
            {
                string[] parts = line[(line.LastIndexOf('}') + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return (long)double.Parse(parts[0], CultureInfo.InvariantCulture);
            }
        }
        return null;
    }
}
