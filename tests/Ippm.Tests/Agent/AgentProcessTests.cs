using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Ippm.Tests.Cli;
using Ippm.Tests.Loopback;

namespace Ippm.Tests.Agent;

/// <summary><c>ippm agent</c> as a separate process: bad files at start, SIGHUP reload (good and broken), SIGTERM, and the real Prometheus.</summary>
public sealed class AgentProcessTests
{
    private static readonly TimeSpan s_bound = TimeSpan.FromSeconds(60);
    private static readonly HttpClient s_http = new() { Timeout = TimeSpan.FromSeconds(5) };

    private static string Test(string name, int port, int count = 3, string interval = "0.01f", string every = "0.2") => $"""
        [test {name}]
        target = 127.0.0.1:{port}
        protocol = twamp
        count = {count}
        interval = {interval}
        every = {every}

        """;

    [Fact]
    public async Task Agent_BadConfigAtStart_ExitsOneNamingFileAndLine()
    {
        using var h = new AgentHarness();
        File.WriteAllText(h.ConfigPath, $"archive = {h.ArchivePath}\n[test a]\ntarget = 127.0.0.1\nprotocol = twamp\nmode = authenticated\nkey-file = {h.Directory}/missing.pfs\n");
        (int exit, _, string stderr) = await IppmProcess.RunAsync(s_bound, "agent", "--config", h.ConfigPath);
        Assert.Equal(1, exit);
        Assert.Contains($"{h.ConfigPath}:6: cannot read key file", stderr);
        Assert.False(File.Exists(h.ArchivePath));
    }

    [Fact]
    public async Task Agent_Sighup_ReloadsTheTestList_RefusesABrokenFile_AndSigtermArchivesTheRunningSession()
    {
        using var h = new AgentHarness();
        await using var server = new TestServer();
        int port = server.TwampEndPoint.Port;
        string head = $"archive = {h.ArchivePath}\n";
        File.WriteAllText(h.ConfigPath, head + Test("first", port));
        using var agent = new ServerProcess("agent", "--config", h.ConfigPath);
        await agent.WaitForLogAsync("ready (pid", s_bound);
        await UntilAsync(() => Count(h, "first") >= 2);

        // A broken file: refused with its file:line, the running test goes on.
        File.WriteAllText(h.ConfigPath, head + Test("first", port) + "[test second]\ntarget = 127.0.0.1:70000\nprotocol = twamp\n");
        IppmProcess.Signal(agent.Pid, "HUP");
        await agent.WaitForLogAsync($"reload failed, the running tests are unchanged: {h.ConfigPath}:", s_bound);
        int badLine = File.ReadAllLines(h.ConfigPath).ToList().FindIndex(l => l.Contains("70000", StringComparison.Ordinal)) + 1;
        Assert.Contains($"{h.ConfigPath}:{badLine}: target '127.0.0.1:70000'", agent.Log);
        int firstSoFar = Count(h, "first");
        await UntilAsync(() => Count(h, "first") >= firstSoFar + 2);

        // A good file: "first" removed, "second" added.
        File.WriteAllText(h.ConfigPath, head + Test("second", port, count: 200, interval: "0.05f", every: "60"));
        IppmProcess.Signal(agent.Pid, "HUP");
        await agent.WaitForLogAsync("1 tests started, 1 stopped, 0 unchanged", s_bound);
        int firstFinal = Count(h, "first");
        // "second" sends 200 packets over 10 s: SIGTERM arrives while it runs.
        await Task.Delay(500);
        IppmProcess.Signal(agent.Pid, "TERM");
        Assert.Equal(0, await agent.WaitForExitAsync(s_bound));
        Assert.Equal(firstFinal, Count(h, "first"));
        JsonElement last = Assert.Single(h.Lines(), l => l.GetProperty("test").GetString() == "second");
        Assert.Equal("interrupted", last.GetProperty("outcome").GetString());
        Assert.True(last.GetProperty("interrupted").GetBoolean());
        int sent = last.GetProperty("sent").GetInt32();
        Assert.InRange(sent, 1, 199);
        Assert.Equal(sent, last.GetProperty("round_trip_ms").GetProperty("count").GetInt32());
    }

    [Fact]
    public async Task Prometheus_ScrapesAnAgentAndReadsThePerTestSeriesBack()
    {
        Assert.True(File.Exists("/usr/bin/prometheus"), "the prometheus package is required (.ci/run installs it)");
        using var h = new AgentHarness();
        await using var server = new TestServer();
        // Prometheus's own port must be known before it starts (it does not say which port a :0 got), so it is picked.
        int prometheusPort = IppmProcess.FreeTcpPort();
        // One session only (every = 1 h): its figures are exactly known. And one down target.
        File.WriteAllText(h.ConfigPath, $"""
            archive = {h.ArchivePath}
            retry-initial = 0.2
            retry-max = 0.4

            [test prom-twamp]
            target = 127.0.0.1:{server.TwampEndPoint.Port}
            protocol = twamp
            mode = authenticated
            key-file = {h.KeyFile}
            count = 20
            interval = 0.005f
            dscp = 10
            every = 1h

            [test prom-down]
            target = 127.0.0.1:{h.ClosedPort()}
            protocol = owamp
            """);
        using var agent = new ServerProcess("agent", "--config", h.ConfigPath, "--metrics-listen", "127.0.0.1:0");
        int metricsPort = await agent.MetricsPortAsync(s_bound);
        File.WriteAllText(Path.Combine(h.Directory, "prometheus.yml"), $"""
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: ippm-agent
                static_configs:
                  - targets: ['127.0.0.1:{metricsPort}']
            """);
        using Process prometheus = Process.Start(new ProcessStartInfo("/usr/bin/prometheus",
            [$"--config.file={Path.Combine(h.Directory, "prometheus.yml")}", $"--storage.tsdb.path={Path.Combine(h.Directory, "data")}",
             $"--web.listen-address=127.0.0.1:{prometheusPort}", "--log.level=warn"])
        { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false })!;
        prometheus.BeginErrorReadLine();
        prometheus.BeginOutputReadLine();
        try
        {
            await agent.WaitForLogAsync("ready (pid", s_bound);
            await UntilAsync(() => Count(h, "prom-twamp") >= 1);
            JsonElement session = h.Lines().First(l => l.GetProperty("test").GetString() == "prom-twamp");
            Assert.Equal("ok", session.GetProperty("outcome").GetString());
            string labels = "test=\"prom-twamp\",target=\"127.0.0.1:" + session.GetProperty("target").GetString()!.Split(':')[1] + "\",protocol=\"twamp\",mode=\"authenticated\",dscp=\"10\"";
            string api = $"http://127.0.0.1:{prometheusPort}/api/v1/query?query=";
            Assert.Equal(20, await WaitForValueAsync(api, $"ippm_agent_packets_sent_total{{{labels},direction=\"round_trip\"}}", 20));
            Assert.Equal(0, await WaitForValueAsync(api, $"ippm_agent_packets_lost_total{{{labels},direction=\"round_trip\"}}", 0));
            Assert.Equal(20, await WaitForValueAsync(api, $"ippm_agent_rtt_seconds_count{{{labels}}}", 20));
            // Every loopback round trip is under 10 s, the top explicit bucket; the bucket below 10 µs holds none.
            Assert.Equal(20, await WaitForValueAsync(api, $"ippm_agent_rtt_seconds_bucket{{{labels},le=\"+Inf\"}}", 20));
            // The explicit boundaries, not the SDK's defaults (0, 5, 10, 25 … 10000): 19 bounds and +Inf, 1 ms among them.
            Assert.Equal(20, await WaitForValueAsync(api, $"count(ippm_agent_rtt_seconds_bucket{{{labels}}})", 20));
            Assert.Equal(1, await WaitForValueAsync(api, $"count(ippm_agent_rtt_seconds_bucket{{{labels},le=\"0.001\"}})", 1));
            Assert.Equal(20, await WaitForValueAsync(api, $"ippm_agent_delay_seconds_count{{{labels},direction=\"forward\"}}", 20));
            Assert.Equal(0, await WaitForValueAsync(api, $"ippm_agent_loss_ratio{{{labels},direction=\"round_trip\"}}", 0));
            // The clock state exported is the session's own (this host may or may not be synchronised).
            double synchronized = session.GetProperty("clocks_synchronized").GetBoolean() ? 1 : 0;
            Assert.Equal(synchronized, await WaitForValueAsync(api, $"ippm_agent_clock_synchronized{{{labels},direction=\"round_trip\"}}", synchronized));
            double error = session.GetProperty("round_trip_error_ms").GetDouble() / 1000;
            Assert.Equal(error, await WaitForValueAsync(api, $"ippm_agent_clock_error_seconds{{{labels},direction=\"round_trip\"}}", error), 1e-9);
            Assert.Equal(1, await WaitForValueAsync(api, $"ippm_agent_sessions_total{{{labels},outcome=\"ok\"}}", 1));
            Assert.True(await WaitForValueAsync(api, "ippm_agent_sessions_total{test=\"prom-down\",outcome=\"unreachable\",direction=\"both\"}", 3) >= 3);
            Assert.Equal(1, await WaitForValueAsync(api, "up{job=\"ippm-agent\"}", 1));
        }
        finally
        {
            prometheus.Kill(entireProcessTree: true);
            await prometheus.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    [Fact]
    public async Task Agent_PushesItsPerTestSeriesOverOtlp()
    {
        using var h = new AgentHarness();
        await using var server = new TestServer();
        await using var collector = Service.OtlpExportTests.FakeCollector.Start();
        int collectorPort = collector.Port;
        File.WriteAllText(h.ConfigPath, $"archive = {h.ArchivePath}\n" + Test("otlp-twamp", server.TwampEndPoint.Port, count: 7, every: "1h"));
        using var agent = new ServerProcess("agent", "--config", h.ConfigPath, "--otlp-endpoint", $"http://127.0.0.1:{collectorPort}", "--otlp-interval", "0.5");
        await agent.WaitForLogAsync("ready (pid", s_bound);
        Service.OtlpExportTests.OtlpPost? seen = null;
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(30) && seen is null)
        {
            Service.OtlpExportTests.OtlpPost post = await collector.Posts.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
            // The session's figures and its outcome are added one after the other: wait for a push with both.
            if (post.Sum("ippm.agent.packets.sent") is { Value: 7 } && post.Sum("ippm.agent.sessions") is { Value: 1 })
            {
                seen = post;
            }
        }
        Assert.True(seen is not null, "no OTLP export carried ippm.agent.packets.sent = 7 and one session;\n" + agent.Log);
        Assert.Equal("Ippm.Agent", seen.Scope);
        Service.OtlpExportTests.OtlpPoint point = Assert.Single(seen.Sum("ippm.agent.packets.sent")!.Points);
        Assert.Equal(("otlp-twamp", "twamp", "open", "round_trip"), (point.Attributes["test"], point.Attributes["protocol"], point.Attributes["mode"], point.Attributes["direction"]));
        Assert.Equal(1, seen.Sum("ippm.agent.sessions")!.Points.Single(p => p.Attributes["outcome"] == "ok").Value);
    }

    private static int Count(AgentHarness h, string test) =>
        File.Exists(h.ArchivePath) ? h.Lines().Count(l => l.GetProperty("test").GetString() == test) : 0;

    private static async Task UntilAsync(Func<bool> condition)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(deadline.Elapsed < s_bound, "condition not reached in time");
            await Task.Delay(50);
        }
    }

    /// <summary>Polls the query API (bounded: 30 s) until the value is at least <paramref name="expected"/> (or equal, for 0); returns the last value.</summary>
    private static async Task<double> WaitForValueAsync(string api, string query, double expected)
    {
        double last = double.NaN;
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            try
            {
                using JsonDocument json = JsonDocument.Parse(await s_http.GetStringAsync(api + Uri.EscapeDataString(query)));
                JsonElement result = json.RootElement.GetProperty("data").GetProperty("result");
                if (result.GetArrayLength() > 0)
                {
                    last = double.Parse(result[0].GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture);
                    if (last == expected || (expected > 0 && last > expected))
                    {
                        return last;
                    }
                }
            }
            catch (HttpRequestException)
            {
                // Prometheus still starting.
            }
            await Task.Delay(250);
        }
        return last;
    }
}
