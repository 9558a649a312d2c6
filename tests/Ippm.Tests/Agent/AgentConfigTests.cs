using Ippm.Agent;
using Ippm.Policy;
using Ippm.Wire;

namespace Ippm.Tests.Agent;

/// <summary><c>ippm agent --config</c>: what a file means, and every mistake refused with its file:line.</summary>
public sealed class AgentConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ippm-agent-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string KeyFile(string identity = "alice")
    {
        string path = Path.Combine(_dir, identity + ".pfs");
        File.WriteAllText(path, global::Ippm.Security.KeyFile.FormatLine(identity, "secret-passphrase"u8));
        return path;
    }

    [Fact]
    public void Parse_FullFile_GivesEveryTestItsSettings()
    {
        string key = KeyFile();
        AgentConfig config = AgentConfigFile.Parse($"""
            # global settings
            archive = {_dir}/agent.jsonl
            archive-max-size = 10M
            archive-max-age = 6h
            archive-keep = 3
            packets = yes
            retry-initial = 0.5
            retry-max = 2m

            [test lab-twamp]
            target = 192.0.2.7:8620
            protocol = twamp
            mode = authenticated
            key-file = {key}
            count = 50
            interval = 0.02f
            dscp = 46
            padding = 100
            every = 30s

            [test lab-owamp]
            target = [2001:db8::7]
            protocol = owamp
            direction = to
            interval = 0.1
            duration = 10
            back-to-back = yes
            """, Path.Combine(_dir, "agent.conf"));
        Assert.Equal(10L << 20, config.Archive.MaxBytes);
        Assert.Equal(TimeSpan.FromHours(6), config.Archive.MaxAge);
        Assert.Equal(3, config.Archive.Keep);
        Assert.True(config.Archive.Packets);
        Assert.Equal(Path.Combine(_dir, "agent.packets.jsonl"), config.Archive.PacketsPath);
        Assert.Equal(TimeSpan.FromMinutes(2), config.RetryMax);
        AgentTest twamp = config.Tests[0];
        Assert.Equal(("lab-twamp", "192.0.2.7", 8620, TestProtocol.Twamp, SecurityMode.Authenticated), (twamp.Name, twamp.Host, twamp.Port, twamp.Protocol, twamp.Mode));
        Assert.Equal("alice", twamp.Identity);
        Assert.Equal("secret-passphrase"u8.ToArray(), twamp.Secret);
        Assert.Equal((50, 0.02, false, (byte)46, 100, TimeSpan.FromSeconds(30)), (twamp.Count, twamp.Interval.IntervalSeconds, twamp.Interval.Exponential, twamp.Dscp, twamp.Padding!.Value, twamp.Every));
        AgentTest owamp = config.Tests[1];
        Assert.Equal(("2001:db8::7", 861, OwampDirection.To, true, 100), (owamp.Host, owamp.Port, owamp.Direction, owamp.BackToBack, owamp.Count));
        Assert.True(owamp.Interval.Exponential);
    }

    public static TheoryData<string, int, string> Mistakes => new()
    {
        { "archive = a.jsonl\n[test t]\ntarget = 127.0.0.1\nprotocol = twamp\ncolour = blue\n", 5, "unknown key 'colour'" },
        { "archive = a.jsonl\ncount = 5\n", 2, "a test key" },
        { "archive = a.jsonl\n[test t]\ntarget = 300.1.1.1:862\nprotocol = twamp\n", 3, "target '300.1.1.1:862'" },
        { "archive = a.jsonl\n[test t]\ntarget = host:99999\nprotocol = twamp\n", 3, "is not HOST[:PORT]" },
        { "archive = a.jsonl\n[test t]\ntarget = bad_host!:862\nprotocol = twamp\n", 3, "is not HOST[:PORT]" },
        { "archive = a.jsonl\n[test t]\ntarget = 127.0.0.1\nprotocol = twamp\nmode = authenticated\nkey-file = /nonexistent/alice.pfs\n", 6, "cannot read key file" },
        { "archive = a.jsonl\n[test t]\ntarget = 127.0.0.1\nprotocol = twamp\nmode = encrypted\n", 5, "needs 'key-file" },
        { "archive = a.jsonl\n[test t]\ntarget = 127.0.0.1\nprotocol = owamp\nmode = mixed\n", 5, "TWAMP only" },
        { "archive = a.jsonl\n[test t]\ntarget = 127.0.0.1\nprotocol = twamp\ndirection = to\n", 5, "for OWAMP tests" },
        { "archive = a.jsonl\n[test t]\ntarget = 127.0.0.1\nprotocol = udp\n", 4, "protocol 'udp'" },
        { "archive = a.jsonl\n[test t]\ntarget = 127.0.0.1\nprotocol = twamp\n[test t]\n", 5, "already defined on line 2" },
        { "archive = a.jsonl\n[test t]\nprotocol = twamp\n", 2, "has no 'target" },
        { "archive = a.jsonl\n[test t]\ntarget = 127.0.0.1\nprotocol = twamp\ninterval = fast\n", 5, "interval 'fast'" },
        { "archive = a.jsonl\n[test t]\ntarget = 127.0.0.1\nprotocol = owamp\nevery = 10\nback-to-back = yes\n", 5, "not both" },
        { "[test t]\ntarget = 127.0.0.1\nprotocol = twamp\n", 1, "'archive'" },
        { "archive = a.jsonl\n[probe t]\n", 2, "expected '[test NAME]'" },
        { "archive = a.jsonl\n[test t]\ntarget = 127.0.0.1\nprotocol = twamp\nmode = authenticated\nike-psk-file = /nonexistent/psk\n", 6, "cannot read IKE pre-shared key file" },
        { "archive = a.jsonl\n[test t]\ntarget = 127.0.0.1\nprotocol = twamp\nike-remote-id = fqdn:x.test\n", 5, "needs 'ike-psk-file'" },
    };

    [Theory]
    [MemberData(nameof(Mistakes))]
    public void Parse_Mistake_IsRefusedWithFileAndLine(string text, int line, string problem)
    {
        var e = Assert.Throws<PolicyFormatException>(() => AgentConfigFile.Parse(text, "agent.conf"));
        Assert.Equal(line, e.Line);
        Assert.StartsWith($"agent.conf:{line}: ", e.Message);
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void Parse_IkeWithOpenModeOrWithAPassphrase_IsRefused()
    {
        string psk = Path.Combine(_dir, "x.psk");
        File.WriteAllText(psk, "k\n");
        string key = KeyFile();
        var open = Assert.Throws<PolicyFormatException>(() => AgentConfigFile.Parse($"archive = a\n[test t]\ntarget = 127.0.0.1\nprotocol = twamp\nike-psk-file = {psk}\n", "f"));
        Assert.Equal((5, true), (open.Line, open.Message.Contains("keys a protected mode", StringComparison.Ordinal)));
        var both = Assert.Throws<PolicyFormatException>(() => AgentConfigFile.Parse($"archive = a\n[test t]\ntarget = 127.0.0.1\nprotocol = twamp\nmode = encrypted\nkey-file = {key}\nike-psk-file = {psk}\n", "f"));
        Assert.Equal((7, true), (both.Line, both.Message.Contains("not both", StringComparison.Ordinal)));
        AgentTest ike = AgentConfigFile.Parse($"archive = a\n[test t]\ntarget = 127.0.0.1\nprotocol = owamp\nmode = encrypted\nike-psk-file = {psk}\nike-remote-id = fqdn:server.test\nike-port = 4500\n", "f").Tests[0];
        Assert.Equal("k"u8.ToArray(), ike.IkePsk);
        Assert.Equal(("fqdn:server.test", 4500), (ike.IkeRemoteId, ike.IkePort));
    }

    [Fact]
    public void Parse_KeyFileWithoutTheUser_IsRefusedAtTheUserLine()
    {
        string key = KeyFile("bob");
        var e = Assert.Throws<PolicyFormatException>(() => AgentConfigFile.Parse(
            $"archive = a.jsonl\n[test t]\ntarget = 127.0.0.1\nprotocol = twamp\nmode = authenticated\nuser = alice\nkey-file = {key}\n", "agent.conf"));
        Assert.Equal(6, e.Line);
        Assert.Contains("no passphrase for 'alice'", e.Message);
    }

    [Fact]
    public void Fingerprint_ChangesWithASettingOrTheKeyFile_NotWithOtherTests()
    {
        string key = KeyFile();
        string Test(string extra) => $"[test a]\ntarget = 127.0.0.1\nprotocol = twamp\nmode = authenticated\nkey-file = {key}\n{extra}";
        AgentTest first = AgentConfigFile.Parse("archive = a.jsonl\n" + Test("count = 10\n"), "f").Tests[0];
        AgentTest same = AgentConfigFile.Parse("archive = b.jsonl\n# a comment\n" + Test("count = 10\n") + "[test b]\ntarget = 127.0.0.2\nprotocol = owamp\n", "f").Tests[0];
        AgentTest changed = AgentConfigFile.Parse("archive = a.jsonl\n" + Test("count = 11\n"), "f").Tests[0];
        Assert.Equal(first.Fingerprint, same.Fingerprint);
        Assert.NotEqual(first.Fingerprint, changed.Fingerprint);
        File.WriteAllText(key, global::Ippm.Security.KeyFile.FormatLine("alice", "another-passphrase"u8));
        AgentTest rekeyed = AgentConfigFile.Parse("archive = a.jsonl\n" + Test("count = 10\n"), "f").Tests[0];
        Assert.NotEqual(first.Fingerprint, rekeyed.Fingerprint);
    }
}
