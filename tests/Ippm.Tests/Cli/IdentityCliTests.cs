using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Ippm.Tests.Identity;

namespace Ippm.Tests.Cli;

/// <summary>RFC 7717 identity checks from the <c>ippm</c> executable, as separate processes over loopback.</summary>
public sealed class IdentityCliTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly string _dir = Directory.CreateTempSubdirectory("ippm-ident-").FullName;
    private readonly TestPki _pki = new();

    public IdentityCliTests()
    {
        File.WriteAllText(P("ca.crt"), _pki.Root.ExportCertificatePem());
    }

    public void Dispose()
    {
        _pki.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private string P(string name) => Path.Combine(_dir, name);

    private static string S(int value) => value.ToString(CultureInfo.InvariantCulture);

    private async Task<(ServerProcess Server, int Port, int IkePort)> StartServerAsync(string certName, params string[] extra)
    {
        var server = new ServerProcess([
            "server", "--twamp-listen", "127.0.0.1:0", "--ike-listen", "127.0.0.1:0",
            "--ike-cert", P(certName + ".crt"), "--ike-key", P(certName + ".key"), "--ike-ca", P("ca.crt"), .. extra]);
        try
        {
            int ikePort = await server.IkePortAsync(Timeout);
            int port = await server.TwampPortAsync(Timeout);
            return (server, port, ikePort);
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    private Task<(int ExitCode, string Stdout, string Stderr)> TwpingAsync(string clientName, int ikePort, string host, params string[] extra) =>
        IppmProcess.RunAsync(Timeout, [
            "twping", "--ike", "--ike-port", S(ikePort), "--ike-cert", P(clientName + ".crt"), "--ike-key", P(clientName + ".key"), "--ike-ca", P("ca.crt"),
            "-A", "E", "-c", "10", "-i", "0.01", .. extra, host]);

    [Fact]
    public async Task Twping_ServerPresentsOtherTest_ExpectedServerTest_ExitsFourNamingBothIdentities()
    {
        TestPki.Write(_dir, "other", _pki.Issue("other.test", new CertificateSpec { DnsNames = ["other.test"], Addresses = [IPAddress.Loopback] }));
        TestPki.Write(_dir, "client", _pki.Issue("client.test"));
        (ServerProcess server, int port, int ikePort) = await StartServerAsync("other", "--ike-allow", "client.test");
        using (server)
        {
            var byRemoteId = await TwpingAsync("client", ikePort, $"127.0.0.1:{port}", "--ike-remote-id", "server.test");
            Assert.Equal(4, byRemoteId.ExitCode);
            Assert.Contains("'server.test' was expected", byRemoteId.Stderr, StringComparison.Ordinal);
            Assert.Contains("CN=other.test (certificate names DNS:other.test, IP:127.0.0.1)", byRemoteId.Stderr, StringComparison.Ordinal);
            Assert.Empty(byRemoteId.Stdout);

            // HOST as a DNS name (localhost resolves to 127.0.0.1 here): it must be a dNSName of the certificate.
            var byHost = await TwpingAsync("client", ikePort, $"localhost:{port}");
            Assert.Equal(4, byHost.ExitCode);
            Assert.Contains("'localhost' was expected (HOST as typed", byHost.Stderr, StringComparison.Ordinal);
            Assert.Contains("other.test", byHost.Stderr, StringComparison.Ordinal);

            // The same server by its IP literal: 127.0.0.1 is an iPAddress SAN, so it measures.
            var byAddress = await TwpingAsync("client", ikePort, $"127.0.0.1:{port}", "--json");
            Assert.True(byAddress.ExitCode == 0, byAddress.Stderr);
            using JsonDocument json = JsonDocument.Parse(byAddress.Stdout);
            Assert.Equal("C=XX, O=ippm tests, CN=other.test", json.RootElement.GetProperty("peer_identity").GetString());
            Assert.Equal(0, json.RootElement.GetProperty("lost").GetInt32());
        }
    }

    [Fact]
    public async Task Server_AllowsClientTest_RefusesRogueExpiredAndRevoked_ServesClientTest()
    {
        TestPki.Write(_dir, "server", _pki.Issue("server.test", new CertificateSpec { DnsNames = ["server.test"], Addresses = [IPAddress.Loopback] }));
        TestPki.Write(_dir, "client", _pki.Issue("client.test"));
        TestPki.Write(_dir, "rogue", _pki.Issue("rogue.test"));
        TestPki.Write(_dir, "chained", _pki.Issue("client.test", new CertificateSpec { ViaIntermediate = true }), _pki.Intermediate);
        TestPki.Write(_dir, "expired", _pki.Issue("client.test", new CertificateSpec { NotBefore = DateTimeOffset.UtcNow.AddDays(-9), NotAfter = DateTimeOffset.UtcNow.AddDays(-2) }));
        var revoked = _pki.Issue("client.test");
        TestPki.Write(_dir, "revoked", revoked);
        File.WriteAllText(P("ca.crl"), TestPki.CrlPem(TestPki.Crl(_pki.Root, revoked)));

        (ServerProcess server, int port, int ikePort) = await StartServerAsync("server", "--ike-allow", "client.test", "--ike-crl", P("ca.crl"));
        using (server)
        {
            var rogue = await TwpingAsync("rogue", ikePort, $"127.0.0.1:{port}");
            Assert.Equal(2, rogue.ExitCode);
            Assert.Contains("AuthenticationFailed", rogue.Stderr, StringComparison.Ordinal);
            await server.WaitForLogAsync("identity 'C=XX, O=ippm tests, CN=rogue.test (certificate names DNS:rogue.test)' matches none of the allowed identities (client.test)", Timeout);

            var expired = await TwpingAsync("expired", ikePort, $"127.0.0.1:{port}");
            Assert.Equal(2, expired.ExitCode);
            var withRevoked = await TwpingAsync("revoked", ikePort, $"127.0.0.1:{port}");
            Assert.Equal(2, withRevoked.ExitCode);
            await server.WaitForLogAsync($"(serial {revoked.SerialNumber}) is revoked", Timeout);

            var served = await TwpingAsync("client", ikePort, $"127.0.0.1:{port}", "--json");
            Assert.True(served.ExitCode == 0, served.Stderr);
            using JsonDocument json = JsonDocument.Parse(served.Stdout);
            Assert.Equal("C=XX, O=ippm tests, CN=server.test", json.RootElement.GetProperty("peer_identity").GetString());
            await server.WaitForLogAsync("[ike:C=XX, O=ippm tests, CN=client.test]: session", Timeout);

            // A certificate from the intermediate CA, the intermediate after it in --ike-cert: sent in a CERT payload.
            var chained = await TwpingAsync("chained", ikePort, $"127.0.0.1:{port}");
            Assert.True(chained.ExitCode == 0, chained.Stderr);
            Assert.Contains("expired", server.Log, StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public async Task Server_CaWithoutAllowList_RefusesToStart_AndSaysWhatToAdd()
    {
        TestPki.Write(_dir, "server", _pki.Issue("server.test"));
        var (exit, _, stderr) = await IppmProcess.RunAsync(Timeout,
            "server", "--twamp-listen", "127.0.0.1:0", "--ike-listen", "127.0.0.1:0", "--ike-cert", P("server.crt"), "--ike-key", P("server.key"), "--ike-ca", P("ca.crt"));
        Assert.Equal(1, exit);
        Assert.Contains("--ike-allow PATTERN", stderr, StringComparison.Ordinal);
        Assert.Contains("--ike-allow-any-ca-signed", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Twping_IkeTimeout_SilentResponder_GivesUpOnTime()
    {
        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        silent.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        File.WriteAllText(P("ike.psk"), "psk");
        var (exit, _, stderr) = await IppmProcess.RunAsync(Timeout,
            "twping", "--ike", "--ike-psk-file", P("ike.psk"), "--ike-port", S(((IPEndPoint)silent.LocalEndPoint!).Port), "--ike-timeout", "2", "-c", "1", "127.0.0.1:862");
        Assert.Equal(3, exit);
        // The exact schedule (3 sends at 0, 0.5, 1.5 s, giving up at 2 s) is RetransmissionScheduleTests' on a manual
        // clock; here, on the real one, a process the machine starves may fit fewer sends into the budget, but it
        // never gives up before the budget and never sends more than the schedule holds.
        Match given = Regex.Match(stderr, @"no answer from \S+ after (\d+) tries in (\d+\.\d) s");
        Assert.True(given.Success, stderr);
        Assert.InRange(int.Parse(given.Groups[1].Value, CultureInfo.InvariantCulture), 1, 3);
        Assert.True(double.Parse(given.Groups[2].Value, CultureInfo.InvariantCulture) >= 2.0, stderr);
    }

    /// <summary>The README's openssl recipe, run exactly as written, makes certificates ippm measures with.</summary>
    [Fact]
    public async Task ReadmeOpensslRecipe_CertificatesWork_ForAnAuthenticatedMeasurement()
    {
        string readme = File.ReadAllText(Path.Combine(RepositoryRoot(), "README.md"));
        int marker = readme.IndexOf("<!-- rfc7717-openssl-recipe -->", StringComparison.Ordinal);
        Assert.True(marker >= 0, "README.md lacks the recipe marker");
        int start = readme.IndexOf("```sh\n", marker, StringComparison.Ordinal) + "```sh\n".Length;
        int end = readme.IndexOf("```", start, StringComparison.Ordinal);
        string recipe = readme[start..end];
        string work = Directory.CreateDirectory(P("recipe")).FullName;
        File.WriteAllText(Path.Combine(work, "recipe.sh"), recipe);

        var info = new ProcessStartInfo("bash", ["-euo", "pipefail", "recipe.sh"]) { WorkingDirectory = work, RedirectStandardError = true, RedirectStandardOutput = true };
        info.Environment["SERVER"] = "server.test";
        info.Environment["SERVER_IP"] = "127.0.0.1";
        info.Environment["CLIENT"] = "client.test";
        using (Process bash = Process.Start(info)!)
        {
            Task<string> output = bash.StandardError.ReadToEndAsync();
            _ = bash.StandardOutput.ReadToEndAsync();
            await bash.WaitForExitAsync().WaitAsync(Timeout);
            Assert.True(bash.ExitCode == 0, await output);
        }

        string F(string name) => Path.Combine(work, name);
        using var server = new ServerProcess("server", "--twamp-listen", "127.0.0.1:0", "--owamp-listen", "127.0.0.1:0", "--ike-listen", "127.0.0.1:0",
            "--ike-cert", F("server.test.crt"), "--ike-key", F("server.test.key"), "--ike-ca", F("ca.crt"), "--ike-allow", "client.test");
        int ikePort = await server.IkePortAsync(Timeout);
        int port = await server.TwampPortAsync(Timeout), owampPort = await server.OwampPortAsync(Timeout);
        var (exit, stdout, stderr) = await IppmProcess.RunAsync(Timeout, "twping", "--ike", "--ike-port", S(ikePort),
            "--ike-cert", F("client.test.crt"), "--ike-key", F("client.test.key"), "--ike-ca", F("ca.crt"), "-A", "A", "-c", "20", "-i", "0.01", "--json", $"127.0.0.1:{port}");
        Assert.True(exit == 0, stderr);
        using JsonDocument json = JsonDocument.Parse(stdout);
        Assert.Equal("authenticated", json.RootElement.GetProperty("mode").GetString());
        Assert.Equal("ikev2", json.RootElement.GetProperty("key_source").GetString());
        Assert.Equal("C=XX, O=Example, CN=server.test", json.RootElement.GetProperty("peer_identity").GetString());
        Assert.Equal(20, json.RootElement.GetProperty("sent").GetInt32());
        Assert.Equal(0, json.RootElement.GetProperty("lost").GetInt32());

        var owping = await IppmProcess.RunAsync(Timeout, "owping", "--ike", "--ike-port", S(ikePort),
            "--ike-cert", F("client.test.crt"), "--ike-key", F("client.test.key"), "--ike-ca", F("ca.crt"), "-A", "E", "-c", "10", "-i", "0.01f", "-L", "1", $"127.0.0.1:{owampPort}");
        Assert.True(owping.ExitCode == 0, owping.Stderr);
        Assert.Contains("peer identity:\tC=XX, O=Example, CN=server.test", owping.Stdout, StringComparison.Ordinal);
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Ippm.slnx")))
            {
                return dir.FullName;
            }
        }
        throw new DirectoryNotFoundException("Ippm.slnx not found above " + AppContext.BaseDirectory);
    }
}
