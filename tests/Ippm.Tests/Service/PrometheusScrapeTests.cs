using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Ippm.Sessions.Owamp;
using Ippm.Sessions.Twamp;
using Ippm.Tests.Cli;
using Ippm.Tests.Loopback;
using Ippm.Wire;
using Ippm.Wire.Control;

namespace Ippm.Tests.Service;

/// <summary>
/// The real Prometheus server (Debian package <c>prometheus</c>, installed by .ci/run) scrapes a running
/// <c>ippm server --metrics-listen</c> every second while real TWAMP and OWAMP measurements run, and the counters are
/// read back through Prometheus's HTTP query API. The expected values are what the test itself sent.
/// </summary>
public sealed class PrometheusScrapeTests
{
    private static readonly HttpClient s_http = new() { Timeout = TimeSpan.FromSeconds(5) };

    [Fact]
    public async Task Prometheus_ScrapesTheCountersOfARealMeasurement()
    {
        Assert.True(File.Exists("/usr/bin/prometheus"), "the prometheus package is required (.ci/run installs it)");
        string work = Directory.CreateTempSubdirectory("ippm-prometheus-").FullName;
        string limits = Path.Combine(work, "site.limits");
        File.WriteAllText(limits, "limit root with bandwidth=1m, allow_open_mode=on\n");
        using var server = new ServerProcess("server", "--twamp-listen", "127.0.0.1:0", "--owamp-listen", "127.0.0.1:0",
            "--metrics-listen", "127.0.0.1:0", "--limits", limits);
        await server.WaitForLogAsync("ready (pid", TimeSpan.FromSeconds(30));
        int twampPort = await server.TwampPortAsync(TimeSpan.FromSeconds(30)), owampPort = await server.OwampPortAsync(TimeSpan.FromSeconds(30));
        int metricsPort = await server.MetricsPortAsync(TimeSpan.FromSeconds(30));
        // Prometheus's own port must be known before it starts (it does not say which port a :0 got), so it is picked.
        int prometheusPort = IppmProcess.FreeTcpPort();
        File.WriteAllText(Path.Combine(work, "prometheus.yml"), $"""
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: ippm
                static_configs:
                  - targets: ['127.0.0.1:{metricsPort}']
            """);
        using Process prometheus = Process.Start(new ProcessStartInfo("/usr/bin/prometheus",
            [$"--config.file={Path.Combine(work, "prometheus.yml")}", $"--storage.tsdb.path={Path.Combine(work, "data")}",
             $"--web.listen-address=127.0.0.1:{prometheusPort}", "--log.level=warn"])
        { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false })!;
        prometheus.BeginErrorReadLine();
        prometheus.BeginOutputReadLine();
        try
        {
            TwampSessionResult twamp = await TwampMeasurement.RunAsync(
                new TwpingOptions { Server = new IPEndPoint(IPAddress.Loopback, twampPort), Count = 40, Schedule = new SendSchedule(0.01, Exponential: false) },
                CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));
            OwampResult owamp = await OwampMeasurement.RunAsync(
                new OwpingOptions { Server = new IPEndPoint(IPAddress.Loopback, owampPort), Count = 30, Inbound = false, Schedule = [new ScheduleSlot(ScheduleSlotType.Fixed, NtpTimestamp.FromSeconds(0.01))] },
                CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));
            // One request over the class's 1 Mbit/s: 42 octets × 8 × 10000/s = 3.36 Mbit/s.
            await using (OwampControlClient client = await OwampControlClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, owampPort), (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout())
            {
                var request = new SessionRequest { ConfReceiver = 1, SenderPort = 9, SenderAddress = IPAddress.Loopback, ReceiverAddress = IPAddress.Loopback, PacketCount = 10, Timeout = NtpTimestamp.FromSeconds(1) };
                AcceptSession refused = await client.RequestSessionAsync(request, [new ScheduleSlot(ScheduleSlotType.Fixed, NtpTimestamp.FromSeconds(0.0001))], CancellationToken.None).DefaultTimeout();
                Assert.Equal(AcceptCode.PermanentResourceLimitation, refused.Accept);
            }
            int reflected = twamp.Replies.Count;
            long received = owamp.Outbound!.Records.Count(r => !r.IsLost);
            Assert.Equal(40, reflected);

            string api = $"http://127.0.0.1:{prometheusPort}/api/v1/query?query=";
            Assert.Equal(reflected, await WaitForValueAsync(api, "ippm_test_packets_reflected_total", reflected));
            Assert.Equal(received, await WaitForValueAsync(api, "ippm_test_packets_received_total", received));
            Assert.Equal(1, await WaitForValueAsync(api, "ippm_policy_refusals_total{reason=\"bandwidth\"}", 1));
            Assert.Equal(1, await WaitForValueAsync(api, "ippm_control_connections_total{protocol=\"twamp\",mode=\"open\",accept=\"0\"}", 1));
            Assert.Equal(2, await WaitForValueAsync(api, "ippm_control_connections_total{protocol=\"owamp\",mode=\"open\",accept=\"0\"}", 2));
            Assert.Equal(1, await WaitForValueAsync(api, "ippm_sessions_total{protocol=\"owamp\",accept=\"4\"}", 1));
            Assert.Equal(0, await WaitForValueAsync(api, "sum(ippm_sessions_active)", 0));
            Assert.Equal(1, await WaitForValueAsync(api, "up{job=\"ippm\"}", 1));
        }
        finally
        {
            prometheus.Kill(entireProcessTree: true);
            await prometheus.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>Polls the query API (bounded: 30 s) until the instant value equals <paramref name="expected"/>; returns the last value seen.</summary>
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
                    if (last == expected)
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
