using System.Net;
using System.Net.Sockets;
using Ippm.Sessions.Owamp;
using Ippm.Sessions.Transport;
using Ippm.Sessions.Twamp;
using Ippm.Wire;
using Ippm.Wire.Control;

namespace Ippm.Tests.Loopback;

/// <summary>Datagrams the kernel refuses are counted as not sent; both protocols refuse an over-long Timeout alike.</summary>
public sealed class SendFailureAndLimitsTests
{
    [Fact]
    public async Task SendBatch_ToAClosedPort_ReportsWhatTheKernelRefused()
    {
        // A port that was bound and released by this test's own socket: nothing listens there now.
        IPEndPoint closed;
        using (var gone = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            gone.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            closed = (IPEndPoint)gone.LocalEndPoint!;
        }
        using var socket = new UdpTestSocket(new IPEndPoint(IPAddress.Loopback, 0), TimeSpan.FromMilliseconds(20));
        socket.Connect(closed);
        using var batch = new DatagramBatch(4, 64);
        for (int i = 0; i < 4; i++)
        {
            batch.SetLength(i, 41);
        }

        Assert.Equal(4, socket.SendBatch(batch, 4)); // accepted; the ICMP port-unreachable comes back after
        int later = 4;
        await TaskTimeouts.UntilAsync(() => (later = socket.SendBatch(batch, 4)) < 4);
        Assert.InRange(later, 0, 3);
        Assert.Equal(0, socket.SendBatch(batch, 0));
    }

    [Fact]
    public async Task OverLongTimeout_RefusedWithAccept3_ByTwampAndOwampAlike()
    {
        await using var server = new TestServer(o => o.MaxSessionTimeout = TimeSpan.FromSeconds(60));
        await using TwampControlClient twamp = await TwampControlClient.ConnectAsync(
            server.TwampEndPoint, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout();
        await using OwampControlClient owamp = await OwampControlClient.ConnectAsync(
            server.OwampEndPoint, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout();

        AcceptSession tw = await twamp.RequestSessionAsync(new IPEndPoint(IPAddress.Loopback, 9), 0, 27, TimeSpan.FromSeconds(61), 0, CancellationToken.None).DefaultTimeout();
        AcceptSession ow = await owamp.RequestSessionAsync(
            new SessionRequest { Command = CommandNumber.RequestSession, ConfReceiver = 1, PacketCount = 1, SenderPort = 9, SenderAddress = IPAddress.Loopback, Timeout = NtpTimestamp.FromSeconds(61) },
            [new ScheduleSlot(ScheduleSlotType.Fixed, NtpTimestamp.FromSeconds(0.1))], CancellationToken.None).DefaultTimeout();
        AcceptSession twOk = await twamp.RequestSessionAsync(new IPEndPoint(IPAddress.Loopback, 9), 0, 27, TimeSpan.FromSeconds(60), 0, CancellationToken.None).DefaultTimeout();

        Assert.Equal(AcceptCode.NotSupported, tw.Accept);
        Assert.Equal(AcceptCode.NotSupported, ow.Accept);
        Assert.Equal(AcceptCode.Ok, twOk.Accept);
        Assert.Equal(2, server.LoggerFactory.Entries.Count(e => e.Message.Contains("timeout 61 s exceeds the limit 60 s", StringComparison.Ordinal)));
    }
}
