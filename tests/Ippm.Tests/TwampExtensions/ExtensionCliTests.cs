using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Ippm.Tests.Cli;

namespace Ippm.Tests.TwampExtensions;

/// <summary>The extensions from the <c>ippm</c> executable: well-known ports (RFC 8545), several sessions, a legacy-mode server.</summary>
public sealed class ExtensionCliTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// No port anywhere: the server listens on 862 (TWAMP) and 861 (OWAMP) and the clients connect there. In a network
    /// namespace of the test's own, so the well-known ports are free whatever else runs on the machine.
    /// </summary>
    [Fact]
    public async Task WellKnownPorts_NoPortGiven_ServerAndClientsUse862And861()
    {
        string ns = $"ippm-ports-{Environment.ProcessId}-{Random.Shared.Next(100000)}";
        await RunAsync("ip", "netns", "add", ns);
        Process? server = null;
        var log = new StringBuilder();
        try
        {
            await RunAsync("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up");
            var info = new ProcessStartInfo("ip") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            foreach (string a in new[] { "netns", "exec", ns, "dotnet", IppmProcess.DllPath, "server", "--twamp-listen", "127.0.0.1", "--owamp-listen", "127.0.0.1" })
            {
                info.ArgumentList.Add(a);
            }
            server = Process.Start(info)!;
            server.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
            server.BeginErrorReadLine();
            server.BeginOutputReadLine();
            var deadline = DateTime.UtcNow + Timeout;
            while (!Contains(log, "127.0.0.1:861") || !Contains(log, "127.0.0.1:862"))
            {
                Assert.True(DateTime.UtcNow < deadline && !server.HasExited, $"server did not listen on 861 and 862:\n{log}");
                await Task.Delay(50);
            }

            string twamp = await RunAsync("ip", "netns", "exec", ns, "dotnet", IppmProcess.DllPath, "twping", "-c", "5", "-i", "0.01f", "--json", "127.0.0.1");
            Assert.Equal(5, JsonDocument.Parse(twamp).RootElement.GetProperty("received").GetInt32());
            string owamp = await RunAsync("ip", "netns", "exec", ns, "dotnet", IppmProcess.DllPath, "owping", "-t", "-c", "5", "-i", "0.01f", "-L", "1", "--json", "127.0.0.1");
            Assert.Equal(5, JsonDocument.Parse(owamp).RootElement.GetProperty("outbound").GetProperty("received").GetInt32());
        }
        finally
        {
            if (server is { HasExited: false })
            {
                server.Kill(entireProcessTree: true);
                await server.WaitForExitAsync();
            }
            server?.Dispose();
            await RunAsync("ip", "netns", "del", ns);
        }
    }

    private static bool Contains(StringBuilder log, string text)
    {
        lock (log)
        {
            return log.ToString().Contains(text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Twping_ThreeSessions_JsonHasOneReportEach()
    {
        using var server = new ServerProcess("server", "--twamp-listen", "127.0.0.1:0", "--log-level", "Information");
        int port = await server.TwampPortAsync(Timeout);

        var (exit, stdout, stderr) = await IppmProcess.RunAsync(Timeout, "twping", "-c", "10", "-i", "0.01f", "--sessions", "3", "--stagger", "0.1", "--session-dscp", "0,46,10", "--json", $"127.0.0.1:{port}");

        Assert.True(exit == 0, stderr);
        JsonElement[] sessions = JsonDocument.Parse(stdout).RootElement.GetProperty("sessions").EnumerateArray().ToArray();
        Assert.Equal(3, sessions.Length);
        Assert.Equal([0, 46, 10], sessions.Select(s => s.GetProperty("dscp_ecn").GetProperty("at_reflector")[0].GetProperty("dscp").GetInt32()));
        Assert.All(sessions, s => Assert.Equal(10, s.GetProperty("received").GetInt32()));
        await server.WaitForLogAsync("RFC 5938: 1 session(s) stopped", Timeout);
    }

    [Fact]
    public async Task Server_TwampFeaturesNone_BehavesAsRfc5357()
    {
        using var server = new ServerProcess("server", "--twamp-listen", "127.0.0.1:0", "--twamp-features", "none");
        int port = await server.TwampPortAsync(Timeout);

        var (exit, stdout, stderr) = await IppmProcess.RunAsync(Timeout, "twping", "-c", "5", "-i", "0.01f", "--json", $"127.0.0.1:{port}");

        Assert.True(exit == 0, stderr);
        JsonElement root = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(41, root.GetProperty("packet_size").GetInt32());
        Assert.False(root.GetProperty("dscp_ecn").GetProperty("monitoring").GetBoolean());
        var refused = await IppmProcess.RunAsync(Timeout, "twping", "-c", "5", "--reflect-octets", "4", $"127.0.0.1:{port}");
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("Reflect Octets", refused.Stderr, StringComparison.Ordinal);
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
        using var cts = new CancellationTokenSource(Timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{string.Join(' ', command)} did not finish within {Timeout}.");
        }
        Assert.True(process.ExitCode == 0, $"{string.Join(' ', command)} exited {process.ExitCode}: {await stderr} (network namespaces need root and iproute2)");
        return await stdout;
    }
}
