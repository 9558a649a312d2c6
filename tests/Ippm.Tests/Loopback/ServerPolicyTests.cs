using System.Net;
using System.Net.Sockets;
using Ippm.Sessions.Control;
using Ippm.Sessions.Owamp;
using Ippm.Sessions.Twamp;
using Ippm.Wire;
using Ippm.Wire.Control;

namespace Ippm.Tests.Loopback;

/// <summary>What the server refuses to do for a client, whatever the client asks.</summary>
public sealed class ServerPolicyTests
{
    private static readonly ScheduleSlot[] s_slot = [new(ScheduleSlotType.Fixed, NtpTimestamp.FromSeconds(0.01))];

    [Fact]
    public async Task OwampSender_ToAnotherHost_RefusedUnlessThirdPartyAllowed()
    {
        await using var strict = new TestServer();
        await using var permissive = new TestServer(o => o.AllowThirdPartyTestAddresses = true);
        var victim = IPAddress.Parse("127.0.0.2");
        var request = new SessionRequest { ConfSender = 1, PacketCount = 5, ReceiverPort = 9, ReceiverAddress = victim, SenderAddress = IPAddress.Loopback, Timeout = NtpTimestamp.FromSeconds(1) };

        AcceptSession refused;
        await using (OwampControlClient client = await OwampControlClient.ConnectAsync(strict.OwampEndPoint, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout())
        {
            refused = await client.RequestSessionAsync(request, s_slot, CancellationToken.None).DefaultTimeout();
        }
        AcceptSession allowed;
        await using (OwampControlClient client = await OwampControlClient.ConnectAsync(permissive.OwampEndPoint, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout())
        {
            allowed = await client.RequestSessionAsync(request, s_slot, CancellationToken.None).DefaultTimeout();
        }

        Assert.Equal(AcceptCode.Failure, refused.Accept);
        Assert.Contains(strict.LoggerFactory.Entries, e => e.EventId == 205 && e.Message.Contains("127.0.0.2", StringComparison.Ordinal));
        Assert.Equal(AcceptCode.Ok, allowed.Accept);
    }

    [Fact]
    public async Task TwampReflector_ForAnotherHost_Refused()
    {
        await using var server = new TestServer();
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.TwampEndPoint);
        await using var channel = new ControlChannel(tcp.GetStream());
        using ControlHandshakeResult handshake = await ControlHandshake.ConnectAsync(
            channel, ControlProtocol.Twamp, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout();

        byte[] message = new byte[SessionRequest.Length];
        new SessionRequest { SenderPort = 9999, SenderAddress = IPAddress.Parse("127.0.0.3"), Timeout = NtpTimestamp.FromSeconds(1) }.Write(message);
        await channel.SendMessageAsync(message, CancellationToken.None);
        byte[] answer = new byte[AcceptSession.Length];
        await channel.ReadMessageAsync(answer, 0, CancellationToken.None).DefaultTimeout();

        Assert.Equal((byte)AcceptCode.Failure, answer[0]);
    }

    [Fact]
    public async Task OwampRequests_BeyondServerWidePacketBudget_RefusedWithAccept5()
    {
        // Both connections come from 127.0.0.1: its per-source share is set to the whole budget to test the server-wide limit.
        await using var server = new TestServer(o => { o.MaxScheduledPackets = 100; o.MaxScheduledPacketsPerSource = 100; });
        await using OwampControlClient first = await OwampControlClient.ConnectAsync(server.OwampEndPoint, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout();
        await using OwampControlClient second = await OwampControlClient.ConnectAsync(server.OwampEndPoint, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout();
        var request = new SessionRequest { ConfReceiver = 1, SenderPort = 9, SenderAddress = IPAddress.Loopback, Timeout = NtpTimestamp.FromSeconds(1) };

        AcceptSession a = await first.RequestSessionAsync(request with { PacketCount = 80 }, s_slot, CancellationToken.None).DefaultTimeout();
        AcceptSession b = await second.RequestSessionAsync(request with { PacketCount = 30 }, s_slot, CancellationToken.None).DefaultTimeout();
        await first.DisposeAsync();
        // The server releases the first connection's packets when it sees it close, however long that takes here:
        // asked again until it has (a refusal changes nothing on the server), within the default timeout.
        AcceptSession c;
        using (var deadline = new CancellationTokenSource(TaskTimeouts.Default))
        {
            while ((c = await second.RequestSessionAsync(request with { PacketCount = 30 }, s_slot, CancellationToken.None).DefaultTimeout()).Accept
                == AcceptCode.TemporaryResourceLimitation)
            {
                await Task.Delay(20, deadline.Token);
            }
        }

        Assert.Equal(AcceptCode.Ok, a.Accept);
        Assert.Equal(AcceptCode.TemporaryResourceLimitation, b.Accept);
        Assert.Equal(AcceptCode.Ok, c.Accept);
    }

    [Fact]
    public async Task Control_ClientStallsMidMessage_ClosedAfterSetupTimeout()
    {
        await using var server = new TestServer(o => o.SetupTimeout = TimeSpan.FromMilliseconds(400));
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.TwampEndPoint);
        await using var channel = new ControlChannel(tcp.GetStream());
        using ControlHandshakeResult handshake = await ControlHandshake.ConnectAsync(
            channel, ControlProtocol.Twamp, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout();

        byte[] firstBlockOnly = new byte[16];
        firstBlockOnly[0] = (byte)CommandNumber.RequestTwSession;
        await channel.WriteRawAsync(firstBlockOnly, CancellationToken.None);

        Assert.Equal(0, await tcp.GetStream().ReadAtLeastAsync(new byte[1], 1, throwOnEndOfStream: false).AsTask().DefaultTimeout());
        Assert.True(server.LoggerFactory.Contains(202));
    }

    [Fact]
    public async Task Twamp_ClientSilentAfterSessionsEnded_ClosedAfterServWait()
    {
        await using var server = new TestServer(o =>
        {
            o.RefWait = TimeSpan.FromMilliseconds(200);
            o.ServWait = TimeSpan.FromMilliseconds(300);
        });
        await using TwampControlClient client = await TwampControlClient.ConnectAsync(
            server.TwampEndPoint, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout();
        await client.RequestSessionAsync(new IPEndPoint(IPAddress.Loopback, 9999), 0, 27, TimeSpan.FromSeconds(1), 0, CancellationToken.None).DefaultTimeout();
        await client.StartSessionsAsync(CancellationToken.None).DefaultTimeout();

        for (int i = 0; i < 100 && !server.LoggerFactory.Contains(202); i++)
        {
            await Task.Delay(50);
        }

        Assert.True(server.LoggerFactory.Contains(302), "the reflector stopped after REFWAIT");
        Assert.True(server.LoggerFactory.Contains(202), "then SERVWAIT closed the silent connection");
    }
}
