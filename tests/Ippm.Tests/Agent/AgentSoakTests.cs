using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Ippm.Tests.Cli;
using Ippm.Tests.Loopback;
using Xunit.Abstractions;

namespace Ippm.Tests.Agent;

/// <summary>
/// A bounded soak: 2 000 very short sessions (4 tests back to back, one packet each) through one <c>ippm agent</c>
/// process, archive rotation on. The agent's own endpoint gives the session count (<c>ippm_agent_sessions_total</c>)
/// and the runtime's figures (the managed heap after the last collection, the resident set); after a warm-up of 400
/// sessions both must stay flat: the archive, the metrics and the runners keep nothing per session.
/// </summary>
public sealed partial class AgentSoakTests(ITestOutputHelper output)
{
    private const int WarmUp = 400;
    private const int Total = 2_000;

    /// <summary>Growth allowed from warm-up to the end. Keeping one report (a few KiB) per session would be several MiB.</summary>
    private const double ManagedBound = 3 << 20;

    private const double ResidentBound = 24 << 20;

    private static readonly HttpClient s_http = new() { Timeout = TimeSpan.FromSeconds(5) };

    [Fact]
    public async Task Agent_TwoThousandShortSessions_KeepsMemoryFlat()
    {
        using var h = new AgentHarness();
        // The server's per-source shares are for hostile clients; 4 back-to-back tests from one address with reflectors
        // lingering for their timeout after Stop-Sessions reach the default memory share (Accept=5, archived as refused).
        await using var server = new TestServer(o =>
        {
            o.MaxMemoryPerSource = 1L << 30;
            o.MaxSessionsPerSource = 100_000;
        });
        int metricsPort = IppmProcess.FreeTcpPort();
        string tests = string.Concat(Enumerable.Range(0, 4).Select(i => $"""
            [test soak-{i}]
            target = 127.0.0.1:{server.TwampEndPoint.Port}
            protocol = twamp
            count = 1
            interval = 0.001f
            timeout = 0.5
            back-to-back = yes

            """));
        File.WriteAllText(h.ConfigPath, $"archive = {h.ArchivePath}\narchive-max-size = 256K\narchive-keep = 2\n" + tests);
        using var agent = new ServerProcess("agent", "--config", h.ConfigPath, "--metrics-listen", $"127.0.0.1:{metricsPort}", "--log-level", "Warning");
        string url = $"http://127.0.0.1:{metricsPort}/metrics";
        var clock = Stopwatch.StartNew();
        (double sessions, double managed, double resident) warm = await UntilSessionsAsync(url, WarmUp, agent);
        double warmSeconds = clock.Elapsed.TotalSeconds;
        (double sessions, double managed, double resident) end = await UntilSessionsAsync(url, Total, agent);
        IppmProcess.Signal(agent.Pid, "TERM");
        Assert.Equal(0, await agent.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{end.sessions} sessions in {clock.Elapsed.TotalSeconds:0.0} s (warm-up {warm.sessions} in {warmSeconds:0.0} s); managed heap {warm.managed / 1024:0} → {end.managed / 1024:0} KiB, RSS {warm.resident / 1048576:0.0} → {end.resident / 1048576:0.0} MiB"));
        // Rotation bounded the files: the current one and at most 2 rotated, each at most 256 KiB.
        string[] files = Directory.GetFiles(h.Directory, "agent.jsonl*");
        Assert.InRange(files.Length, 2, 3);
        Assert.All(files, f => Assert.True(new FileInfo(f).Length <= 256 << 10));
        Assert.All(h.Lines(), l => Assert.Contains(l.GetProperty("outcome").GetString(), new[] { "ok", "interrupted" }));
        Assert.True(end.managed - warm.managed < ManagedBound, $"managed heap grew {(end.managed - warm.managed) / 1024:0} KiB over {end.sessions - warm.sessions} sessions");
        Assert.True(end.resident - warm.resident < ResidentBound, $"resident set grew {(end.resident - warm.resident) / 1048576:0.0} MiB over {end.sessions - warm.sessions} sessions");
    }

    /// <summary>Scrapes until the sessions counter reaches <paramref name="wanted"/> (bounded: 5 minutes); returns it with the memory figures.</summary>
    private static async Task<(double Sessions, double Managed, double Resident)> UntilSessionsAsync(string url, int wanted, ServerProcess agent)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            Assert.False(agent.HasExited, agent.Log);
            Assert.True(deadline.Elapsed < TimeSpan.FromMinutes(5), "the soak did not reach its session count within 5 minutes");
            string text;
            try
            {
                text = await s_http.GetStringAsync(url);
            }
            catch (HttpRequestException)
            {
                await Task.Delay(200);
                continue;
            }
            double sessions = Sum(text, "ippm_agent_sessions_total");
            if (sessions >= wanted)
            {
                return (sessions, Sum(text, "dotnet_gc_last_collection_heap_size_bytes"), Sum(text, "dotnet_process_memory_working_set_bytes"));
            }
            await Task.Delay(200);
        }
    }

    /// <summary>The sum of every series of one metric in the Prometheus text format.</summary>
    private static double Sum(string exposition, string metric)
    {
        double sum = 0;
        foreach (Match m in Series().Matches(exposition))
        {
            if (m.Groups["name"].Value == metric)
            {
                sum += double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture);
            }
        }
        return sum;
    }

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (?<value>[-+0-9.eE]+)", RegexOptions.Multiline)]
    private static partial Regex Series();
}
