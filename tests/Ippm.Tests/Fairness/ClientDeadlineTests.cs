using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Ippm.Sessions.Control;
using Ippm.Sessions.Owamp;
using Ippm.Sessions.Twamp;
using Ippm.Tests.Loopback;
using Ippm.Wire;
using Ippm.Wire.Control;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ippm.Tests.Fairness;

/// <summary>
/// Hostile servers against twping/owping: one that completes the handshake (Server-Start) and then never answers,
/// and one that accepts a session with Accept=0 but test port 0. The clients end with a clear error, not a hang
/// or a "successful" run.
/// </summary>
public sealed class ClientDeadlineTests
{
    /// <summary>A one-connection server: open-mode handshake, then <paramref name="afterHandshake"/>.</summary>
    private static async Task<(IPEndPoint EndPoint, Task Serving)> HostileServerAsync(ControlProtocol protocol, Func<ControlChannel, Task> afterHandshake)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var endPoint = (IPEndPoint)listener.LocalEndpoint;
        Task serving = Task.Run(async () =>
        {
            using (listener.Server)
            {
                using TcpClient tcp = await listener.AcceptTcpClientAsync();
                listener.Stop();
                await using var channel = new ControlChannel(tcp.GetStream());
                using ControlHandshakeResult? handshake = await ControlHandshake.AcceptAsync(
                    channel, protocol, (uint)SecurityMode.Open, 1024, null, NullLogger.Instance, "client", CancellationToken.None);
                await afterHandshake(channel);
            }
        });
        await Task.Yield();
        return (endPoint, serving);
    }

    private static async Task SilentUntilClosed(ControlChannel channel)
    {
        // Reads whatever the client sends and never answers, until the client gives up and closes.
        byte[] block = new byte[16];
        try
        {
            while (true)
            {
                await channel.ReadRawAsync(block, CancellationToken.None);
            }
        }
        catch (Exception e) when (e is ControlProtocolException or IOException)
        {
        }
    }

    [Fact]
    public async Task Twping_ServerSilentAfterServerStart_GivesUpAtTheReplyDeadline()
    {
        (IPEndPoint server, Task serving) = await HostileServerAsync(ControlProtocol.Twamp, SilentUntilClosed);
        var clock = Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            TwampMeasurement.RunAsync(new TwpingOptions { Server = server, Count = 5, ReplyTimeout = TimeSpan.FromSeconds(1) }, CancellationToken.None)).DefaultTimeout();
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(20));
        await serving.DefaultTimeout();
    }

    [Fact]
    public async Task Owping_ServerSilentAfterServerStart_GivesUpAtTheReplyDeadline()
    {
        (IPEndPoint server, Task serving) = await HostileServerAsync(ControlProtocol.Owamp, SilentUntilClosed);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            OwampMeasurement.RunAsync(new OwpingOptions { Server = server, Count = 5, ReplyTimeout = TimeSpan.FromSeconds(1) }, CancellationToken.None)).DefaultTimeout();
        await serving.DefaultTimeout();
    }

    [Fact]
    public async Task Twping_AcceptZeroWithPortZero_RefusedWithAClearError()
    {
        (IPEndPoint server, Task serving) = await HostileServerAsync(ControlProtocol.Twamp, async channel =>
        {
            byte[] request = new byte[SessionRequest.Length];
            await channel.ReadMessageAsync(request, 0, CancellationToken.None);
            byte[] accept = new byte[AcceptSession.Length];
            new AcceptSession(AcceptCode.Ok, 0, new SessionId(1, 2)).Write(accept);
            await channel.SendMessageAsync(accept, CancellationToken.None);
            await SilentUntilClosed(channel);
        });
        ControlProtocolException e = await Assert.ThrowsAsync<ControlProtocolException>(() =>
            TwampMeasurement.RunAsync(new TwpingOptions { Server = server, Count = 5, ReplyTimeout = TimeSpan.FromSeconds(5) }, CancellationToken.None)).DefaultTimeout();
        Assert.Contains("test port 0", e.Message, StringComparison.Ordinal);
        await serving.DefaultTimeout();
    }
}
