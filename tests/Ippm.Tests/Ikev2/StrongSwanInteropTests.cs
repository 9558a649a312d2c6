using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Ippm.Ikev2.Crypto;
using Ippm.Ikev2.Exchanges;
using Ippm.Ikev2.SaDatabase;

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

    /// <summary>shared/interop/strongswan (fails the test if it is not found).</summary>
    internal static string Scripts => s_scripts.Value;

    /// <summary>Runs a strongSwan helper script with bash; fails the test on a non-zero exit or after 180 s.</summary>
    internal static string Run(string script, params string[] args)
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

    /// <summary>One private charon started by run-responder.sh in a temp directory; Dispose stops it and purges the directory.</summary>
    internal sealed class Charon : IDisposable
    {
        public Charon(string name, params string[] args)
        {
            // Per process: a directory left by a run that was killed must not block the next one.
            Dir = Path.Combine(Path.GetTempPath(), $"ippm-ike-sw-{name}-{Environment.ProcessId}");
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
        // charon's own ports go into its configuration before it starts (fixed, below the ephemeral range); ippm's
        // responder binds port 0 and charon is told the port it got.
        using var ippm = new Cli.ServerProcess(["ike", "respond", "--listen", "127.0.0.1:0", .. auth, "--json", "--show-keys"]);
        string ippmPort = (await ippm.IkePortAsync(TimeSpan.FromSeconds(30))).ToString(System.Globalization.CultureInfo.InvariantCulture);
        using var sw = new Charon("i", ["--port", "15700", "--psk", Psk, "--id", "initiator.test", .. CertArgs("initiator", "rsa"), "--peer-addr", "127.0.0.1", "--peer-port", ippmPort, "--peer-proposals", proposal]);
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

    /// <summary>strongSwan's keys for the SA with this SPIi: spi_i spi_r prf sk_d ippm.</summary>
    private static string[] StrongSwanKeys(Charon sw, ulong spiI)
    {
        string text = Ippm.Ikev2.Messages.IkeHeader.FormatSpi(spiI);
        string keys = Run(Path.Combine(s_scripts.Value, "extract-keys.sh"), "--ippm", sw.Log, text).Trim();
        string[] f = keys.Split(' ');
        Assert.True(f.Length == 5, $"strongSwan logged no keys for SA {text}_i: '{keys}'");
        return f;
    }

    private static void AssertSameKeys(Charon sw, IkeSaEntry entry)
    {
        string[] f = StrongSwanKeys(sw, entry.SpiI);
        Assert.Equal(f[1], Ippm.Ikev2.Messages.IkeHeader.FormatSpi(entry.SpiR));
        Assert.Equal(f[2], Prf.Name(entry.Prf));
        Assert.Equal(f[3], Convert.ToHexStringLower(entry.SkD));
        Assert.Equal(f[4], Convert.ToHexStringLower(entry.DeriveIppmSecret()));
    }

    private static async Task WaitFor(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, what + " not seen within 20 s");
            await Task.Delay(25);
        }
    }

    /// <summary>
    /// strongSwan initiates and then rekeys the IKE SA (CREATE_CHILD_SA, RFC 7296 §1.3.2) towards ippm's responder:
    /// the new SA lands in the database with new SPIs and strongSwan's SK_d; the old one stays, marked rekeyed, with
    /// its keys, until released. Then strongSwan deletes the new SA (INFORMATIONAL Delete): marked deleted, keys kept.
    /// </summary>
    [Theory]
    [InlineData("aes256-sha256-modp2048")]
    [InlineData("aes256gcm16-prfsha384-x25519")]
    public async Task StrongSwanRekeysAndDeletes_IppmResponder_KeepsOldKeys(string proposal)
    {
        using var db = new IkeSaDatabase();
        await using var responder = new IkeResponder(new IkeResponderOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Credentials = new IkeCredentials { PreSharedKey = System.Text.Encoding.UTF8.GetBytes(Psk) },
        }, db);
        responder.Start();
        using var sw = new Charon("rk-i", ["--port", "15720", "--psk", Psk, "--id", "initiator.test", "--peer-addr", "127.0.0.1", "--peer-port", responder.LocalEndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--peer-proposals", proposal]);
        string[] first = Run(Path.Combine(s_scripts.Value, "initiate.sh"), "--dir", sw.Dir, "--conn", "to-peer-psk", "--ippm").Trim().Split(' ');
        Assert.Equal(5, first.Length);
        await WaitFor(() => db.Count == 1, "the first SA");
        IkeSaEntry old = db.Entries.Single();
        AssertSameKeys(sw, old);
        byte[] oldSkD = old.SkD.ToArray();

        Run(Path.Combine(sw.Dir, "sw"), "--rekey", "--ike", "to-peer-psk");
        await WaitFor(() => db.Count == 2 && old.State == IkeSaState.Rekeyed, "the rekeyed SA");
        IkeSaEntry fresh = db.Entries.Single(e => e != old);
        Assert.Equal(IkeSaState.Established, fresh.State);
        Assert.NotEqual(old.SpiI, fresh.SpiI);
        Assert.NotEqual(old.SpiR, fresh.SpiR);
        Assert.Equal((fresh.SpiI, fresh.SpiR), old.ReplacedBy);
        AssertSameKeys(sw, fresh);
        Assert.NotEqual(oldSkD, fresh.SkD.ToArray());
        // strongSwan deletes the old SA after the rekey; its keys stay for holders.
        await WaitFor(() => File.ReadAllText(sw.Log).Contains("rekeyed between", StringComparison.Ordinal), "strongSwan's rekey");
        Assert.True(db.TryGet(old.SpiI, old.SpiR, out IkeSaEntry? kept));
        Assert.Equal(IkeSaState.Rekeyed, kept!.State);
        Assert.Equal(oldSkD, kept.SkD.ToArray());
        Assert.NotNull(db.DeriveIppmSecret(old.SpiI, old.SpiR));

        Run(Path.Combine(sw.Dir, "sw"), "--terminate", "--ike", "to-peer-psk", "--timeout", "10");
        await WaitFor(() => fresh.State == IkeSaState.Deleted, "the Delete");
        Assert.Equal(Convert.FromHexString(StrongSwanKeys(sw, fresh.SpiI)[3]), fresh.SkD.ToArray());
        Assert.Equal(2, db.Count);
        Assert.True(db.Remove(old.SpiI, old.SpiR));
        Assert.Null(db.DeriveIppmSecret(old.SpiI, old.SpiR));
        Assert.True(db.Remove(fresh.SpiI, fresh.SpiR));
        Assert.Equal(0, db.Count);
        Assert.DoesNotContain("retransmit", File.ReadAllText(sw.Log), StringComparison.Ordinal);
    }

    /// <summary>
    /// ippm initiates; strongSwan, the responder, rekeys the IKE SA and later deletes it. ippm answers both on its
    /// session, keeps the old SA's keys (rekeyed) and strongSwan's SK_d for the new SA.
    /// </summary>
    [Fact]
    public async Task StrongSwanResponderRekeysAndDeletes_IppmInitiator_KeepsOldKeys()
    {
        using var sw = new Charon("rk-r", "--addr", "127.0.0.1", "--port", "15540", "--psk", Psk);
        using var db = new IkeSaDatabase();
        var options = new IkeInitiatorOptions
        {
            Credentials = new IkeCredentials { PreSharedKey = System.Text.Encoding.UTF8.GetBytes(Psk) },
            Proposals = IkeProposalSpec.ParseList("aes128gcm16-prfsha256-ecp256"),
        };
        await using IkeInitiatorSession session = await IkeInitiator.ConnectAsync(new IPEndPoint(IPAddress.Loopback, 15540), options, db);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        Task serve = session.ServeAsync(stop.Token);
        IkeSaEntry old = db.Entries.Single();
        AssertSameKeys(sw, old);
        IkeSaEntry firstSessionEntry = session.Entry; // the session's own copy of the first SA's SK_d

        Run(Path.Combine(sw.Dir, "sw"), "--rekey", "--ike", "psk");
        await WaitFor(() => db.Count == 2 && old.State == IkeSaState.Rekeyed, "the rekeyed SA");
        IkeSaEntry fresh = db.Entries.Single(e => e != old);
        Assert.Equal((fresh.SpiI, fresh.SpiR), old.ReplacedBy);
        Assert.NotEqual(old.SpiI, fresh.SpiI);
        AssertSameKeys(sw, fresh);
        Assert.Equal(fresh.SpiI, session.Entry.SpiI);
        await WaitFor(() => File.ReadAllText(sw.Log).Contains("rekeyed between", StringComparison.Ordinal), "strongSwan's rekey");
        await session.CheckLivenessAsync(stop.Token); // our own request on the new SA, while serving strongSwan's

        Run(Path.Combine(sw.Dir, "sw"), "--terminate", "--ike", "psk", "--timeout", "10");
        await WaitFor(() => fresh.State == IkeSaState.Deleted, "the Delete");
        Assert.True(session.IsDeleted);
        await serve.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(IkeSaState.Rekeyed, old.State);
        Assert.NotNull(db.DeriveIppmSecret(old.SpiI, old.SpiR));
        Assert.NotNull(db.DeriveIppmSecret(fresh.SpiI, fresh.SpiR));
        Assert.DoesNotContain("retransmit", File.ReadAllText(sw.Log), StringComparison.Ordinal);
        // Replaced, the session's first entry kept its SK_d for late readers; gone with the session, it is wiped.
        Assert.True(firstSessionEntry.SkD.IndexOfAnyExcept((byte)0) >= 0);
        await session.DisposeAsync();
        Assert.True(firstSessionEntry.SkD.IndexOfAnyExcept((byte)0) < 0);
    }
}
