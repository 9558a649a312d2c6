using System.Text.Json;

namespace Ippm.Tests.Cli;

/// <summary>The README's promises, tried the way a user tries them: separate processes, real sockets.</summary>
public sealed class CliEndToEndTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("ippm-cli-").FullName;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string WriteKeyFile(string name, string passphraseHex)
    {
        string path = Path.Combine(_directory, name);
        File.WriteAllText(path, $"# perfSONAR pfs format\nalice\t{passphraseHex}\n");
        return path;
    }

    [Fact]
    public async Task ServerAndTwping_EveryMode_FiftySentNoneLost_WrongPassphraseExitsNonZero()
    {
        string keys = WriteKeyFile("keys.pfs", "7465737470617373313233");
        string wrong = WriteKeyFile("wrong.pfs", "77726f6e6770617373");
        using var server = new ServerProcess("server", "--twamp-listen", "127.0.0.1:0", "--pfs", keys);
        int port = await server.TwampPortAsync(Timeout);

        foreach ((string letter, string mode) in new[] { ("O", "open"), ("A", "authenticated"), ("E", "encrypted"), ("M", "mixed") })
        {
            var (exit, stdout, stderr) = await IppmProcess.RunAsync(Timeout, "twping", "-A", letter, "-u", "alice", "-k", keys, "-c", "50", "-i", "0.01", "--json", $"127.0.0.1:{port}");
            Assert.True(exit == 0, $"twping -A {letter} exited {exit}: {stderr}");
            using JsonDocument json = JsonDocument.Parse(stdout);
            JsonElement root = json.RootElement;
            Assert.Equal(mode, root.GetProperty("mode").GetString());
            Assert.Equal(50, root.GetProperty("sent").GetInt32());
            Assert.Equal(0, root.GetProperty("lost").GetInt32());
            Assert.Equal(0, root.GetProperty("duplicates").GetInt32());
            Assert.Equal(0, root.GetProperty("reordered").GetInt32());
            Assert.True(root.GetProperty("round_trip_ms").GetProperty("median").GetDouble() > 0);
        }

        var refused = await IppmProcess.RunAsync(Timeout, "twping", "-A", "A", "-u", "alice", "-k", wrong, "-c", "5", "127.0.0.1:" + port);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("denied", refused.Stderr, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(refused.Stdout);

        var after = await IppmProcess.RunAsync(Timeout, "twping", "-A", "E", "-k", keys, "-c", "10", "-i", "0.01f", $"127.0.0.1:{port}");
        Assert.Equal(0, after.ExitCode);
        Assert.Contains("10 sent, 0 lost", after.Stdout, StringComparison.Ordinal);
        Assert.False(server.HasExited);
        Assert.DoesNotContain("7465737470617373313233", server.Log, StringComparison.Ordinal);
        Assert.DoesNotContain("testpass123", server.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ServerAndOwping_EveryMode_BothDirectionsFiftySentNoneLost()
    {
        string keys = WriteKeyFile("keys.pfs", "7465737470617373313233");
        using var server = new ServerProcess("server", "--owamp-listen", "127.0.0.1:0", "--pfs", keys);
        int port = await server.OwampPortAsync(Timeout);

        foreach ((string letter, string mode) in new[] { ("O", "open"), ("A", "authenticated"), ("E", "encrypted") })
        {
            var (exit, stdout, stderr) = await IppmProcess.RunAsync(Timeout, "owping", "-A", letter, "-u", "alice", "-k", keys, "-c", "50", "-i", "0.01", "-L", "3", "--json", $"127.0.0.1:{port}");
            Assert.True(exit == 0, $"owping -A {letter} exited {exit}: {stderr}");
            using JsonDocument json = JsonDocument.Parse(stdout);
            Assert.Equal(mode, json.RootElement.GetProperty("mode").GetString());
            foreach (string direction in new[] { "outbound", "inbound" })
            {
                JsonElement d = json.RootElement.GetProperty(direction);
                Assert.Equal(50, d.GetProperty("sent").GetInt32());
                Assert.Equal(0, d.GetProperty("lost").GetInt32());
                Assert.Equal(0, d.GetProperty("duplicates").GetInt32());
                Assert.Equal(50, d.GetProperty("delay_ms").GetProperty("count").GetInt32());
            }
        }

        var to = await IppmProcess.RunAsync(Timeout, "owping", "-t", "-c", "10", "-i", "0.01f", "-L", "1", "--json", $"127.0.0.1:{port}");
        using (JsonDocument json = JsonDocument.Parse(to.Stdout))
        {
            Assert.Equal(10, json.RootElement.GetProperty("outbound").GetProperty("sent").GetInt32());
            Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("inbound").ValueKind);
        }
        var from = await IppmProcess.RunAsync(Timeout, "owping", "-f", "-c", "10", "-i", "0.01f", "-L", "1", $"127.0.0.1:{port}");
        Assert.Equal(0, from.ExitCode);
        Assert.Contains("owping statistics from", from.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("owping statistics to", from.Stdout, StringComparison.Ordinal);
        Assert.False(server.HasExited);
    }

    [Fact]
    public async Task ServerWithIke_TwpingWithCertificates_MeasuresWithZeroLoss()
    {
        string dir = Path.Combine(_directory, "pki");
        Directory.CreateDirectory(dir);
        using (var pki = global::Ippm.Cli.ThrowawayPki.Create())
        {
            File.WriteAllText(Path.Combine(dir, "ca.crt"), pki.Ca.ExportCertificatePem());
            foreach ((string name, System.Security.Cryptography.X509Certificates.X509Certificate2 cert) in new[] { ("server", pki.Server), ("client", pki.Client) })
            {
                File.WriteAllText(Path.Combine(dir, name + ".crt"), cert.ExportCertificatePem());
                using var key = System.Security.Cryptography.X509Certificates.ECDsaCertificateExtensions.GetECDsaPrivateKey(cert)!;
                File.WriteAllText(Path.Combine(dir, name + ".key"), key.ExportPkcs8PrivateKeyPem());
            }
        }
        using var server = new ServerProcess("server", "--twamp-listen", "127.0.0.1:0",
            "--ike-listen", "127.0.0.1:0", "--ike-cert", Path.Combine(dir, "server.crt"), "--ike-key", Path.Combine(dir, "server.key"), "--ike-ca", Path.Combine(dir, "ca.crt"),
            "--ike-allow", global::Ippm.Cli.ThrowawayPki.ClientName);
        int ikePort = await server.IkePortAsync(Timeout);
        int port = await server.TwampPortAsync(Timeout);

        var (exit, stdout, stderr) = await IppmProcess.RunAsync(Timeout, "twping", "--ike", "--ike-port", ikePort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--ike-cert", Path.Combine(dir, "client.crt"), "--ike-key", Path.Combine(dir, "client.key"), "--ike-ca", Path.Combine(dir, "ca.crt"),
            "-A", "E", "-c", "50", "-i", "0.01", "--json", $"127.0.0.1:{port}");

        Assert.True(exit == 0, $"twping --ike exited {exit}: {stderr}");
        using JsonDocument json = JsonDocument.Parse(stdout);
        Assert.Equal("ikev2", json.RootElement.GetProperty("key_source").GetString());
        Assert.Equal(50, json.RootElement.GetProperty("sent").GetInt32());
        Assert.Equal(0, json.RootElement.GetProperty("lost").GetInt32());
        await server.WaitForLogAsync("key from ikev2", Timeout);
        Assert.DoesNotContain("sk_d", server.Log, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The harness works end to end (no speed is asserted: figures are for people, not for CI).</summary>
    [Fact]
    public async Task BenchReflector_ShortRun_ReportsRatesAgainstTheFloor()
    {
        var (exit, stdout, stderr) = await IppmProcess.RunAsync(TimeSpan.FromSeconds(120), "bench", "reflector", "-A", "A", "--seconds", "0.5", "--json");

        Assert.True(exit == 0, stderr);
        using JsonDocument json = JsonDocument.Parse(stdout);
        JsonElement root = json.RootElement;
        Assert.Equal("authenticated", root.GetProperty("mode").GetString());
        Assert.True(root.GetProperty("reflector_pps").GetDouble() > 0);
        Assert.True(root.GetProperty("floor_pps").GetDouble() > 0);
        Assert.True(root.GetProperty("ratio").GetDouble() > 0);
        Assert.True(root.GetProperty("t3_t2_us_one_in_flight").GetProperty("samples").GetInt32() > 0);
    }

    /// <summary>
    /// Interleaved rounds: floor, reflector, …, floor; the ratio is the median of each reflector round over the mean
    /// of the floors around it (recomputed here from the per-round figures), and an inconsistent floor is flagged.
    /// </summary>
    [Fact]
    public async Task BenchReflector_Rounds_ReportsMedianOfPairedRatiosAndTheirSpread()
    {
        var (exit, stdout, stderr) = await IppmProcess.RunAsync(TimeSpan.FromSeconds(120), "bench", "reflector", "-A", "E", "--seconds", "0.9", "--rounds", "3", "--json");

        Assert.True(exit == 0, stderr);
        using JsonDocument json = JsonDocument.Parse(stdout);
        JsonElement root = json.RootElement;
        Assert.Equal(3, root.GetProperty("rounds").GetInt32());
        double[] floors = root.GetProperty("floor_pps_rounds").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        double[] reflector = root.GetProperty("reflector_pps_rounds").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        double[] ratios = root.GetProperty("ratios").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        Assert.Equal(4, floors.Length);
        Assert.Equal(3, reflector.Length);
        for (int i = 0; i < 3; i++)
        {
            // Per-round rates are rounded to whole packets/s in the JSON: compare to a few parts per thousand.
            Assert.Equal(reflector[i] / ((floors[i] + floors[i + 1]) / 2), ratios[i], 0.01);
        }
        Assert.Equal(ratios.Order().ElementAt(1), root.GetProperty("ratio").GetDouble(), 0.001);
        JsonElement spread = root.GetProperty("ratio_spread");
        Assert.Equal(ratios.Min(), spread.GetProperty("min").GetDouble(), 0.001);
        Assert.Equal(ratios.Max(), spread.GetProperty("max").GetDouble(), 0.001);
        bool consistent = (floors.Max() - floors.Min()) / ((floors.Order().ElementAt(1) + floors.Order().ElementAt(2)) / 2) <= 0.25;
        Assert.Equal(consistent, root.GetProperty("floor_consistent").GetBoolean());
        Assert.Equal(!consistent, stderr.Contains("warning: the floor varied", StringComparison.Ordinal));
        Assert.True(root.GetProperty("reflector_cpu_us_per_packet").GetDouble() > 0);
        // The echo's own CPU per packet, from /proc in 10 ms ticks: a short round on a busy machine may see none.
        Assert.True(root.GetProperty("floor_cpu_us_per_packet").GetDouble() >= 0);
    }

    [Fact]
    public async Task Twping_Unreachable_ExitsThree()
    {
        (System.Net.Sockets.Socket holder, int port) = IppmProcess.ClosedTcpPort();
        using var holderScope = holder;
        var (exit, stdout, stderr) = await IppmProcess.RunAsync(Timeout, "twping", "-c", "1", $"127.0.0.1:{port}");
        Assert.Equal(3, exit);
        Assert.Contains("cannot reach", stderr, StringComparison.Ordinal);
        Assert.Empty(stdout);
    }

    [Fact]
    public async Task Demo_Json_MeasuresAgainstEmbeddedServer()
    {
        var (exit, stdout, stderr) = await IppmProcess.RunAsync(Timeout, "demo", "--json");
        Assert.True(exit == 0, stderr);
        using JsonDocument json = JsonDocument.Parse(stdout);
        Assert.Equal("ikev2", json.RootElement.GetProperty("key_source").GetString());
        JsonElement twamp = json.RootElement.GetProperty("twamp");
        Assert.Equal("authenticated", twamp.GetProperty("mode").GetString());
        Assert.Equal("ikev2", twamp.GetProperty("key_source").GetString());
        Assert.Equal(16, twamp.GetProperty("spi_i").GetString()!.Length);
        Assert.Equal(100, twamp.GetProperty("sent").GetInt32());
        Assert.Equal(0, twamp.GetProperty("lost").GetInt32());
        JsonElement owamp = json.RootElement.GetProperty("owamp");
        Assert.Equal("authenticated", owamp.GetProperty("mode").GetString());
        Assert.Equal("ikev2", owamp.GetProperty("key_source").GetString());
        Assert.Equal(100, owamp.GetProperty("outbound").GetProperty("sent").GetInt32());
        Assert.Equal(0, owamp.GetProperty("outbound").GetProperty("lost").GetInt32());
        Assert.Equal(100, owamp.GetProperty("inbound").GetProperty("sent").GetInt32());
        Assert.Equal(0, owamp.GetProperty("inbound").GetProperty("lost").GetInt32());
    }

    [Fact]
    public async Task Twping_NoHost_MeasuresAgainstEmbeddedServer()
    {
        var (exit, stdout, stderr) = await IppmProcess.RunAsync(Timeout, "twping", "-A", "E", "-c", "20", "-i", "0.005f");
        Assert.True(exit == 0, stderr);
        Assert.Contains("mode:\tencrypted, key from passphrase", stdout, StringComparison.Ordinal);
        Assert.Contains("20 sent, 0 lost", stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("twping", "-A", "X", "127.0.0.1")]
    [InlineData("twping", "-i", "fast", "127.0.0.1")]
    [InlineData("server", "--twamp-listen", "nonsense")]
    [InlineData("server", "--twamp-listen", "127.0.0.1:0", "--pbkdf2-count", "10")]
    public async Task BadArguments_ExitOneWithMessage(params string[] args)
    {
        var (exit, _, stderr) = await IppmProcess.RunAsync(Timeout, args);
        Assert.Equal(1, exit);
        Assert.False(string.IsNullOrWhiteSpace(stderr));
    }
}
