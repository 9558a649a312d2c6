using System.Net;
using System.Net.Sockets;
using Ippm.Tests.Cli;
using Ippm.Wire;
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

    [Fact]
    public async Task MaxSessionDuration_ALongerScheduleGetsAccept4()
    {
        using var server = new ServerProcess("server", "--owamp-listen", "127.0.0.1:0", "--max-session-duration", "60");
        var endPoint = new IPEndPoint(IPAddress.Loopback, await server.OwampPortAsync(s_timeout));
        await using HostileClient client = await HostileClient.OpenAsync("127.0.0.1", endPoint, ControlProtocol.Owamp).WaitAsync(s_timeout);
        var request = new SessionRequest { ConfReceiver = 1, SenderPort = 9, Timeout = NtpTimestamp.FromSeconds(1) };
        ScheduleSlot[] everyTenSeconds = [new(ScheduleSlotType.Fixed, NtpTimestamp.FromSeconds(10))];
        Assert.Equal(AcceptCode.PermanentResourceLimitation, (await client.RequestOwampAsync(request with { PacketCount = 7 }, everyTenSeconds).WaitAsync(s_timeout)).Accept);
        Assert.Equal(AcceptCode.Ok, (await client.RequestOwampAsync(request with { PacketCount = 5 }, everyTenSeconds).WaitAsync(s_timeout)).Accept);
        await server.WaitForLogAsync("the schedule ends 70 s ahead (limit 60 s)", s_timeout);
    }

    [Theory]
    [InlineData("--max-connections-per-source", "0")]
    [InlineData("--max-memory-per-source", "lots")]
    [InlineData("--setup-timeout", "-1")]
    [InlineData("--max-session-duration", "0")]
    public async Task NonsenseLimits_RefusedAsUsageErrors(string flag, string value)
    {
        (int exit, _, string stderr) = await IppmProcess.RunAsync(s_timeout, "server", "--twamp-listen", "127.0.0.1:0", flag, value);
        Assert.Equal(1, exit);
        Assert.Contains(flag.TrimStart('-').Split('-')[0], stderr, StringComparison.Ordinal);
    }
}
