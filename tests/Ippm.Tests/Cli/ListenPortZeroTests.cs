using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Ippm.Cli;

namespace Ippm.Tests.Cli;

/// <summary>Port 0 on the server's listen flags: the system picks the ports and ippm says which, whatever the log level.</summary>
public sealed class ListenPortZeroTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("127.0.0.1:0", "127.0.0.1", 0)]
    [InlineData("[::1]:0", "::1", 0)]
    [InlineData(":0", "::", 0)]
    [InlineData("127.0.0.1:862", "127.0.0.1", 862)]
    [InlineData("127.0.0.1", "127.0.0.1", 4242)]
    public void ListenAddresses_TakePortZero(string text, string address, int port)
    {
        Assert.True(EndpointParser.TryParseListen(text, 4242, out IPEndPoint? endPoint));
        Assert.Equal(new IPEndPoint(IPAddress.Parse(address), port), endPoint);
        Assert.Equal(port == 0, EndpointParser.AsksForAnyPort(text));
    }

    [Theory]
    [InlineData("127.0.0.1:65536")]
    [InlineData("127.0.0.1:-1")]
    [InlineData(":x")]
    [InlineData("host.example:0")]
    public void ListenAddresses_StillRefuseNonsense(string text) => Assert.False(EndpointParser.TryParseListen(text, 862, out _));

    [Fact]
    public void ClientTargets_StillNeedARealPort()
    {
        Assert.False(EndpointParser.TrySplit("127.0.0.1:0", 862, out _, out _));
        Assert.True(EndpointParser.TrySplit("127.0.0.1:1", 862, out _, out int port));
        Assert.Equal(1, port);
    }

    [Fact]
    public async Task Server_EveryListenerOnPortZero_AtWarningLevel_SaysTheBoundPortsOnStandardOutput_AndServesThem()
    {
        string psk = Path.GetTempFileName();
        await File.WriteAllTextAsync(psk, "pre-shared key of the port 0 test\n");
        try
        {
            using var server = new ServerProcess("server", "--twamp-listen", "127.0.0.1:0", "--owamp-listen", "127.0.0.1:0", "--stamp-listen", "127.0.0.1:0",
                "--ike-listen", "127.0.0.1:0", "--ike-psk-file", psk, "--metrics-listen", "127.0.0.1:0", "--log-level", "Warning");
            await server.WaitForLogAsync("ippm: listening on", Timeout);
            string line = server.Stdout.Split('\n').Single(l => l.StartsWith("ippm: listening on", StringComparison.Ordinal)).TrimEnd('\r');
            Match m = Regex.Match(line, @"^ippm: listening on TWAMP 127\.0\.0\.1:(\d+), OWAMP 127\.0\.0\.1:(\d+), STAMP 127\.0\.0\.1:(\d+), IKE 127\.0\.0\.1:(\d+), metrics 127\.0\.0\.1:(\d+)$");
            Assert.True(m.Success, line);
            int[] ports = [.. m.Groups.Values.Skip(1).Select(g => int.Parse(g.Value, System.Globalization.CultureInfo.InvariantCulture))];
            Assert.All(ports, p => Assert.InRange(p, 1, 65535));
            // The Information lines are not there (Warning level), so standard output is the only place that says the ports.
            Assert.DoesNotContain("control listening on", server.Log, StringComparison.Ordinal);

            // Each port is the listener's: TWAMP and OWAMP greet, the metrics endpoint answers over HTTP.
            foreach (int control in ports[..2])
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, control).WaitAsync(Timeout);
                byte[] greeting = new byte[64];
                await client.GetStream().ReadExactlyAsync(greeting).AsTask().WaitAsync(Timeout);
            }
            using var http = new HttpClient { Timeout = Timeout };
            using HttpResponseMessage scrape = await http.GetAsync($"http://127.0.0.1:{ports[4]}/metrics");
            Assert.True(scrape.IsSuccessStatusCode, scrape.StatusCode.ToString());
            Assert.Equal("text/plain", scrape.Content.Headers.ContentType?.MediaType);
            // The STAMP and IKE sockets are bound: binding their ports again fails.
            foreach (int udp in ports[2..4])
            {
                using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                SocketException taken = Assert.Throws<SocketException>(() => probe.Bind(new IPEndPoint(IPAddress.Loopback, udp)));
                Assert.Equal(SocketError.AddressAlreadyInUse, taken.SocketErrorCode);
            }
        }
        finally
        {
            File.Delete(psk);
        }
    }
}
