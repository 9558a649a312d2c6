using System.Net;
using System.Net.Sockets;
using System.Text;
using Ippm.Sessions.Twamp;
using Ippm.Tests.Cli;

namespace Ippm.Tests.Service;

/// <summary>The metrics endpoint under a flood of scrapes and junk HTTP: the measurement running beside it loses nothing.</summary>
public sealed class MetricsEndpointTests
{
    [Fact]
    public async Task ScrapeFloodAndJunkHttp_MeasurementUnaffected_EndpointStillAnswers()
    {
        using var server = new ServerProcess("server", "--twamp-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0");
        await server.WaitForLogAsync("ready (pid", TimeSpan.FromSeconds(30));
        int twampPort = await server.TwampPortAsync(TimeSpan.FromSeconds(30)), metricsPort = await server.MetricsPortAsync(TimeSpan.FromSeconds(30));
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        string url = $"http://127.0.0.1:{metricsPort}/metrics";

        Task<TwampSessionResult> measurement = TwampMeasurement.RunAsync(
            new TwpingOptions { Server = new IPEndPoint(IPAddress.Loopback, twampPort), Count = 100, Schedule = new SendSchedule(0.01, Exponential: false) },
            CancellationToken.None);
        using var flood = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        int scrapes = 0, junk = 0;
        async Task ScrapeLoop()
        {
            for (int i = 0; i < 100 && !measurement.IsCompleted; i++)
            {
                try
                {
                    using HttpResponseMessage _ = await http.GetAsync(url, flood.Token);
                    Interlocked.Increment(ref scrapes);
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                }
            }
        }
        async Task JunkLoop()
        {
            byte[] garbage = Encoding.ASCII.GetBytes("BREW /coffee HTCPCP/1.0\r\nContent-Length: -7\r\n\r\n\0\0\xff");
            for (int i = 0; i < 50 && !measurement.IsCompleted; i++)
            {
                try
                {
                    using var tcp = new TcpClient();
                    await tcp.ConnectAsync(IPAddress.Loopback, metricsPort, flood.Token);
                    await tcp.GetStream().WriteAsync(garbage, flood.Token);
                    Interlocked.Increment(ref junk);
                }
                catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
                {
                }
            }
        }
        await Task.WhenAll(ScrapeLoop(), ScrapeLoop(), JunkLoop());
        TwampSessionResult result = await measurement.WaitAsync(TimeSpan.FromSeconds(60));
        string after = await http.GetStringAsync(url);

        Assert.Equal(100, result.Sent);
        Assert.Equal(100, result.Replies.Count);
        Assert.True(scrapes > 0 && junk > 0, $"{scrapes} scrapes, {junk} junk requests");
        Assert.Contains("ippm_control_connections_total{", after, StringComparison.Ordinal);
        Assert.False(server.HasExited);
    }
}
