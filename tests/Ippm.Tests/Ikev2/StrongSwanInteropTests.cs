using System.Diagnostics;
using System.Net;
using System.Text.Json;

namespace Ippm.Tests.Ikev2;

/// <summary>
/// ippm ↔ strongSwan over loopback (ports 155xx), through shared/interop/strongswan. strongSwan is installed by
/// the scripts if missing; if that fails the tests FAIL (never skip). Proof: both sides hold the same SK_d.
/// </summary>
[Collection("strongswan")]
public sealed class StrongSwanInteropTests
{
    private const string Psk = "ippm interop psk";

    private static readonly Lazy<string> s_scripts = new(() =>
    {
        for (DirectoryInfo? d = new(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            string candidate = Path.Combine(d.FullName, "shared", "interop", "strongswan");
            if (File.Exists(Path.Combine(candidate, "run-responder.sh")))
            {
                return candidate;
            }
        }
        Assert.Fail("shared/interop/strongswan not found above " + AppContext.BaseDirectory);
        return "";
    });

    private static readonly Lazy<string> s_pki = new(() =>
    {
        string dir = Path.Combine(Path.GetTempPath(), "ippm-ike-pki");
        Run(Path.Combine(s_scripts.Value, "gen-certs.sh"), dir);
        return dir;
    });

    private static string Run(string script, params string[] args)
    {
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(script);
        foreach (string a in args)
        {
            info.ArgumentList.Add(a);
        }
        using Process p = Process.Start(info)!;
        Task<string> err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(180_000), $"{script} hung");
        Assert.True(p.ExitCode == 0, $"{Path.GetFileName(script)} {string.Join(' ', args)} failed (exit {p.ExitCode}); strongSwan must be installable (apt packages strongswan-charon strongswan-swanctl strongswan-pki libstrongswan-standard-plugins):\n{err.Result}\n{output}");
        return output;
    }

    private sealed class Charon : IDisposable
    {
        public Charon(string name, params string[] args)
        {
            Dir = Path.Combine(Path.GetTempPath(), "ippm-ike-sw-" + name);
            Run(Path.Combine(s_scripts.Value, "stop-responder.sh"), "--dir", Dir, "--purge");
            Run(Path.Combine(s_scripts.Value, "run-responder.sh"), ["--dir", Dir, .. args]);
        }

        public string Dir { get; }
        public string Log => Path.Combine(Dir, "run", "charon.log");

        public void Dispose() => Run(Path.Combine(s_scripts.Value, "stop-responder.sh"), "--dir", Dir, "--purge");
    }

    private static string[] CertArgs(string who, string type) =>
        ["--ca", Path.Combine(s_pki.Value, "ca.crt"), "--cert", Path.Combine(s_pki.Value, $"{who}-{type}.crt"), "--key", Path.Combine(s_pki.Value, $"{who}-{type}.key")];

    private static string PskFile()
    {
        string f = Path.Combine(Path.GetTempPath(), "ippm-ike-interop.psk");
        File.WriteAllText(f, Psk + "\n");
        return f;
    }

    [Theory]
    [InlineData("aes256-sha256-modp2048", false)]
    [InlineData("aes128gcm16-prfsha256-ecp256", false)]
    [InlineData("aes256gcm16-prfsha384-x25519", false)]
    [InlineData("aes256-sha256-modp2048", true)]
    [InlineData("aes256gcm16-prfsha384-x25519", true)]
    public async Task IppmInitiator_StrongSwanResponder_SameSkD(string proposal, bool certificates)
    {
        using var sw = new Charon("r", ["--addr", "127.0.0.1", "--port", "15500", "--psk", Psk, .. CertArgs("responder", "rsa"), "--cert-id", "responder.test"]);
        string[] auth = certificates
            ? ["--cert", Path.Combine(s_pki.Value, "initiator-ecdsa.crt"), "--key", Path.Combine(s_pki.Value, "initiator-ecdsa.key"), "--ca", Path.Combine(s_pki.Value, "ca.crt"), "--remote-id", "responder.test"]
            : ["--psk-file", PskFile()];
        var (code, stdout, stderr) = await Cli.IppmProcess.RunAsync(TimeSpan.FromSeconds(60), ["ike", "initiate", "127.0.0.1:15500", .. auth, "--proposal", proposal, "--json", "--show-keys"]);
        Assert.True(code == 0, stderr);
        using JsonDocument json = JsonDocument.Parse(stdout);
        string spiI = json.RootElement.GetProperty("spi_i").GetString()!;
        string keys = Run(Path.Combine(s_scripts.Value, "extract-keys.sh"), "--ippm", sw.Log, spiI).Trim();
        string[] f = keys.Split(' ');
        Assert.True(f.Length == 5, $"strongSwan logged no SA {spiI}: '{keys}'");
        Assert.Equal(json.RootElement.GetProperty("spi_r").GetString(), f[1]);
        Assert.Equal(json.RootElement.GetProperty("prf").GetString(), f[2]);
        Assert.Equal(f[3], json.RootElement.GetProperty("sk_d").GetString());
        Assert.Equal(f[4], json.RootElement.GetProperty("ippm_key").GetString());
        Assert.Contains("established between", File.ReadAllText(sw.Log), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("aes256-sha256-modp2048", false)]
    [InlineData("aes128gcm16-prfsha256-ecp256", false)]
    [InlineData("aes256gcm16-prfsha384-x25519", false)]
    [InlineData("aes128gcm16-prfsha256-ecp256", true)]
    public async Task StrongSwanInitiator_IppmResponder_SameSkD(string proposal, bool certificates)
    {
        string[] auth = certificates
            ? ["--cert", Path.Combine(s_pki.Value, "responder-ecdsa.crt"), "--key", Path.Combine(s_pki.Value, "responder-ecdsa.key"), "--ca", Path.Combine(s_pki.Value, "ca.crt")]
            : ["--psk-file", PskFile()];
        using var ippm = new Cli.ServerProcess(["ike", "respond", "--listen", "127.0.0.1:15600", .. auth, "--json", "--show-keys"]);
        await ippm.WaitForLogAsync("listening", TimeSpan.FromSeconds(30));
        using var sw = new Charon("i", ["--port", "15700", "--psk", Psk, "--id", "initiator.test", .. CertArgs("initiator", "rsa"), "--peer-addr", "127.0.0.1", "--peer-port", "15600", "--peer-proposals", proposal]);
        string[] f = Run(Path.Combine(s_scripts.Value, "initiate.sh"), "--dir", sw.Dir, "--conn", certificates ? "to-peer-cert" : "to-peer-psk", "--ippm").Trim().Split(' ');
        Assert.Equal(5, f.Length);
        await ippm.WaitForLogAsync(f[0], TimeSpan.FromSeconds(10));
        string line = ippm.Log.Split('\n').First(l => l.Contains(f[0], StringComparison.Ordinal) && l.StartsWith('{'));
        using JsonDocument json = JsonDocument.Parse(line);
        Assert.Equal(f[1], json.RootElement.GetProperty("spi_r").GetString());
        Assert.Equal(f[2], json.RootElement.GetProperty("prf").GetString());
        Assert.Equal(f[3], json.RootElement.GetProperty("sk_d").GetString());
        Assert.Equal(f[4], json.RootElement.GetProperty("ippm_key").GetString());
    }

    [Fact]
    public async Task IppmInitiator_WrongPsk_And_NoCommonProposal_Refused()
    {
        using var sw = new Charon("r2", "--addr", "127.0.0.1", "--port", "15520", "--psk", Psk, "--proposals", "aes256-sha256-modp2048");
        string wrong = Path.Combine(Path.GetTempPath(), "ippm-ike-wrong.psk");
        File.WriteAllText(wrong, "not the psk");
        var (code, _, stderr) = await Cli.IppmProcess.RunAsync(TimeSpan.FromSeconds(60), "ike", "initiate", "127.0.0.1:15520", "--psk-file", wrong, "--proposal", "aes256-sha256-modp2048");
        Assert.Equal(2, code);
        Assert.Contains("AUTHENTICATION_FAILED", stderr, StringComparison.Ordinal);
        (code, _, stderr) = await Cli.IppmProcess.RunAsync(TimeSpan.FromSeconds(60), "ike", "initiate", "127.0.0.1:15520", "--psk-file", PskFile(), "--proposal", "aes128gcm16-prfsha256-ecp256");
        Assert.Equal(2, code);
        Assert.Contains("NO_PROPOSAL_CHOSEN", stderr, StringComparison.Ordinal);
    }

}
