using System.Net;
using System.Net.Sockets;
using Ippm.Tests.Cli;
using Ippm.Wire.Control;

namespace Ippm.Tests.Fairness;

/// <summary>The limit flags of the <c>ippm server</c> executable: taken, enforced, and refused when nonsense.</summary>
public sealed class ServerFlagsTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task MaxConnectionsPerSource_EnforcedWithModesZeroGreeting()
    {
        using var server = new ServerProcess("server", "--twamp-listen", "127.0.0.1:0", "--max-connections-per-source", "2", "--setup-timeout", "30");
        var endPoint = new IPEndPoint(IPAddress.Loopback, await server.TwampPortAsync(s_timeout));
        var clients = new List<HostileClient>();
        try
        {
            clients.Add(await HostileClient.ConnectAsync("127.0.0.2", endPoint));
            clients.Add(await HostileClient.ConnectAsync("127.0.0.2", endPoint));
            clients.Add(await HostileClient.ConnectAsync("127.0.0.2", endPoint));
            clients.Add(await HostileClient.ConnectAsync("127.0.0.3", endPoint));
            uint?[] modes = await Task.WhenAll(clients.Select(async c => (await c.ReadGreetingAsync().WaitAsync(s_timeout))?.Modes));
            Assert.NotEqual(0u, modes[0]);
            Assert.NotEqual(0u, modes[1]);
            Assert.Equal(0u, modes[2]);
            Assert.NotEqual(0u, modes[3]); // another address has its own share
            await server.WaitForLogAsync("its address already holds 2 control connections", s_timeout);
        }
        finally
        {
            foreach (HostileClient c in clients)
            {
                await c.DisposeAsync();
            }
        }
    }

    [Theory]
    [InlineData("--max-connections-per-source", "0")]
    [InlineData("--max-memory-per-source", "lots")]
    [InlineData("--setup-timeout", "-1")]
    public async Task NonsenseLimits_RefusedAsUsageErrors(string flag, string value)
    {
        (int exit, _, string stderr) = await IppmProcess.RunAsync(s_timeout, "server", "--twamp-listen", "127.0.0.1:0", flag, value);
        Assert.Equal(1, exit);
        Assert.Contains(flag.TrimStart('-').Split('-')[0], stderr, StringComparison.Ordinal);
    }
}
