using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Ippm.Agent;
using Ippm.Tests.Cli;

namespace Ippm.Tests.Agent;

/// <summary>The agent's systemd unit, its sd_notify conversation, and the configuration files the package and the README ship.</summary>
public sealed partial class AgentServiceTests
{
    private static string RepositoryFile(params string[] parts)
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "Ippm.slnx")))
        {
            dir = Path.GetDirectoryName(dir);
        }
        Assert.NotNull(dir);
        return Path.Combine([dir!, .. parts]);
    }

    [Fact]
    public async Task AgentUnitFile_PassesSystemdAnalyzeVerify()
    {
        Assert.True(File.Exists("/usr/bin/systemd-analyze"), "systemd-analyze is required (.ci/run installs the systemd package)");
        string unit = File.ReadAllText(RepositoryFile("packaging", "systemd", "ippm-agent.service"));
        Assert.Contains("Type=notify", unit, StringComparison.Ordinal);
        Assert.Contains("ExecStart=/usr/bin/ippm agent --config /etc/ippm/agent.conf", unit, StringComparison.Ordinal);
        string apphost = Path.Combine(AppContext.BaseDirectory, "ippm");
        Assert.True(File.Exists(apphost), apphost);
        string dir = Directory.CreateTempSubdirectory("ippm-agent-unit-").FullName;
        try
        {
            string copy = Path.Combine(dir, "ippm-agent.service");
            File.WriteAllText(copy, unit.Replace("/usr/bin/ippm", apphost, StringComparison.Ordinal));
            using Process verify = Process.Start(new ProcessStartInfo("systemd-analyze", ["verify", "--man=no", copy])
            { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false })!;
            Task<string> stderr = verify.StandardError.ReadToEndAsync();
            Task<string> stdout = verify.StandardOutput.ReadToEndAsync();
            await verify.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Equal("", (await stderr).Trim() + (await stdout).Trim());
            Assert.Equal(0, verify.ExitCode);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Agent_NotifiesReadyReloadingAndStopping()
    {
        using var h = new AgentHarness();
        File.WriteAllText(h.ConfigPath, $"archive = {h.ArchivePath}\n");
        string socketPath = Path.Combine(h.Directory, "notify");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(socketPath));
        ProcessStartInfo info = IppmProcess.StartInfo("agent", "--config", h.ConfigPath);
        info.Environment["NOTIFY_SOCKET"] = socketPath;
        using Process agent = Process.Start(info)!;
        _ = agent.StandardError.ReadToEndAsync();
        _ = agent.StandardOutput.ReadToEndAsync();
        try
        {
            string ready = await ReceiveAsync(socket);
            IppmProcess.Signal(agent.Id, "HUP");
            string reloading = await ReceiveAsync(socket);
            string readyAgain = await ReceiveAsync(socket);
            IppmProcess.Signal(agent.Id, "TERM");
            string stopping = await ReceiveAsync(socket);
            await agent.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.StartsWith("READY=1\nSTATUS=measuring 0 tests", ready, StringComparison.Ordinal);
            Assert.Contains($"MAINPID={agent.Id}", ready, StringComparison.Ordinal);
            Assert.StartsWith("RELOADING=1\nMONOTONIC_USEC=", reloading, StringComparison.Ordinal);
            Assert.StartsWith("READY=1\nSTATUS=measuring 0 tests; reloaded", readyAgain, StringComparison.Ordinal);
            Assert.Equal("STOPPING=1", stopping);
            Assert.Equal(0, agent.ExitCode);
        }
        finally
        {
            if (!agent.HasExited)
            {
                agent.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    public void PackagedConfig_Parses()
    {
        AgentConfig config = AgentConfigFile.Load(RepositoryFile("packaging", "agent.conf"));
        Assert.Equal("/var/lib/ippm-agent/agent.jsonl", config.Archive.Path);
        Assert.Empty(config.Tests);
    }

    /// <summary>The README's example configuration is a valid file (its key file made up here), with the tests it describes.</summary>
    [Fact]
    public void ReadmeExampleConfig_Parses()
    {
        string readme = File.ReadAllText(RepositoryFile("README.md"));
        Match example = ReadmeExample().Match(readme);
        Assert.True(example.Success, "README.md has no ```ini block after 'Continuous measurement'");
        string dir = Directory.CreateTempSubdirectory("ippm-agent-readme-").FullName;
        try
        {
            string keyFile = Path.Combine(dir, "alice.pfs");
            File.WriteAllText(keyFile, global::Ippm.Security.KeyFile.FormatLine("alice", "x"u8));
            string psk = Path.Combine(dir, "edge.psk");
            File.WriteAllText(psk, "a pre-shared key\n");
            string text = example.Groups[1].Value.Replace("/etc/ippm/alice.pfs", keyFile, StringComparison.Ordinal).Replace("/etc/ippm/edge.psk", psk, StringComparison.Ordinal);
            AgentConfig config = AgentConfigFile.Parse(text, "README.md");
            Assert.Equal(["lab-twamp", "lab-owamp", "dc-edge"], config.Tests.Select(t => t.Name));
            Assert.Equal("fqdn:edge.example.net", config.Tests[2].IkeRemoteId);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [GeneratedRegex(@"## Continuous measurement[^\n]*\n(?:.*?\n)*?```ini\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex ReadmeExample();

    private static async Task<string> ReceiveAsync(Socket socket)
    {
        byte[] buffer = new byte[4096];
        int n = await socket.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(30));
        return Encoding.UTF8.GetString(buffer, 0, n);
    }
}
