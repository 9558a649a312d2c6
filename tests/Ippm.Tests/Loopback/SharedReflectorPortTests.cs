using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Ippm.Sessions.Engine;
using Ippm.Sessions.Time;
using Ippm.Sessions.Twamp;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;

namespace Ippm.Tests.Loopback;

/// <summary>
/// TWAMP sessions on shared reflector ports: several sessions' packets through one UDP port, each answered at its own
/// sender and counted in its own session; a sender pair never on one port twice; strangers' datagrams dropped.
/// </summary>
public sealed class SharedReflectorPortTests
{
    [Fact]
    public async Task SessionsOfSeveralSenders_ShareAPort_EachAnsweredAtItsOwnSender_StrangersDropped()
    {
        Assert.NotNull(SessionEngine.Shared);
        await using var server = new TestServer(o => o.SharedTestPortsFrom = 0);
        await using TwampControlClient client = await TwampControlClient.ConnectAsync(
            server.TwampEndPoint, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout();
        Socket[] senders = [.. Enumerable.Range(0, 3).Select(_ => Bound())];
        using Socket sameSenderAgain = Bound();
        using Socket stranger = Bound();
        try
        {
            var ports = new List<int>();
            foreach (Socket sender in senders)
            {
                AcceptSession accept = await client.RequestSessionAsync((IPEndPoint)sender.LocalEndPoint!, 0, 0, TimeSpan.FromSeconds(1), 0, CancellationToken.None).DefaultTimeout();
                Assert.Equal(AcceptCode.Ok, accept.Accept);
                ports.Add(accept.Port);
            }
            // A fourth session for the first sender's address and port: never on the port that already serves that pair.
            AcceptSession again = await client.RequestSessionAsync((IPEndPoint)senders[0].LocalEndPoint!, 0, 0, TimeSpan.FromSeconds(1), 0, CancellationToken.None).DefaultTimeout();
            Assert.Equal(AcceptCode.Ok, again.Accept);
            Assert.NotEqual(ports[0], again.Port);
            // One port per engine loop at most for three sessions: on fewer loops than sessions, some share.
            Assert.Equal(Math.Min(3, SessionEngine.Shared!.Loops.Count), ports.Distinct().Count());
            await client.StartSessionsAsync(CancellationToken.None).DefaultTimeout();

            // Each sender sends two packets with numbers of its own; each gets exactly its own back, from its session's port.
            byte[] packet = new byte[TestPacketLayout.SenderOpenHeader + 27];
            for (int round = 0; round < 2; round++)
            {
                for (int k = 0; k < senders.Length; k++)
                {
                    new SenderPacket((uint)((100 * k) + round), SystemClock.Instance.Now(), SystemClock.UnknownError).Write(packet, false);
                    await senders[k].SendToAsync(packet, new IPEndPoint(IPAddress.Loopback, ports[k]));
                }
            }
            for (int k = 0; k < senders.Length; k++)
            {
                for (int round = 0; round < 2; round++)
                {
                    (ReflectorPacket reply, int from) = await ReceiveReplyAsync(senders[k]);
                    Assert.Equal(ports[k], from);
                    Assert.Equal((uint)((100 * k) + round), reply.SenderSequenceNumber);
                    // The reflector's own numbering is per session: 0, 1 in every session, however the port interleaved them.
                    Assert.Equal((uint)round, reply.SequenceNumber);
                }
            }

            // A datagram from an address and port no session is for is read, counted and dropped.
            new SenderPacket(7, SystemClock.Instance.Now(), SystemClock.UnknownError).Write(packet, false);
            await stranger.SendToAsync(packet, new IPEndPoint(IPAddress.Loopback, ports[0]));
            await TaskTimeouts.UntilAsync(() => server.LoggerFactory.Entries.Any(e => e.EventId == 320 && e.Message.Contains($"port {ports[0]}", StringComparison.Ordinal)));
            Assert.Equal(0, stranger.Available);

            // The sessions' senders still get their answers after it.
            new SenderPacket(2, SystemClock.Instance.Now(), SystemClock.UnknownError).Write(packet, false);
            await senders[0].SendToAsync(packet, new IPEndPoint(IPAddress.Loopback, ports[0]));
            Assert.Equal(2u, (await ReceiveReplyAsync(senders[0])).Reply.SenderSequenceNumber);

            await client.StopSessionsAsync(AcceptCode.Ok, CancellationToken.None).DefaultTimeout();
            // Each session's own totals (event 303: reflected per session, not per port).
            await TaskTimeouts.UntilAsync(() => server.LoggerFactory.Entries.Count(e => e.EventId == 303) == 4);
            string[] ended = [.. server.LoggerFactory.Entries.Where(e => e.EventId == 303).Select(e => e.Message)];
            Assert.Equal(1, ended.Count(m => m.Contains("reflector ended: 3 reflected", StringComparison.Ordinal)));
            Assert.Equal(2, ended.Count(m => m.Contains("reflector ended: 2 reflected", StringComparison.Ordinal)));
            Assert.Equal(1, ended.Count(m => m.Contains("reflector ended: 0 reflected", StringComparison.Ordinal)));
        }
        finally
        {
            foreach (Socket sender in senders)
            {
                sender.Dispose();
            }
        }
    }

    [Fact]
    public async Task PacketsLargerThanTheSharedSlots_SessionGetsASocketOfItsOwn()
    {
        await using var server = new TestServer(o => o.SharedTestPortsFrom = 0);
        await using TwampControlClient client = await TwampControlClient.ConnectAsync(
            server.TwampEndPoint, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout();
        using Socket first = Bound();
        using Socket second = Bound();
        AcceptSession shared = await client.RequestSessionAsync((IPEndPoint)first.LocalEndPoint!, 0, 0, TimeSpan.FromSeconds(1), 0, CancellationToken.None).DefaultTimeout();
        AcceptSession own = await client.RequestSessionAsync((IPEndPoint)second.LocalEndPoint!, 0, 4000, TimeSpan.FromSeconds(1), 0, CancellationToken.None).DefaultTimeout();
        Assert.Equal(AcceptCode.Ok, shared.Accept);
        Assert.Equal(AcceptCode.Ok, own.Accept);
        // 4 000 octets of padding do not fit a shared port's 2 KiB slots: a socket of its own, on another port.
        Assert.NotEqual(shared.Port, own.Port);
        Assert.False(TwampReflector.FitsSharedPort(TestPacketLayout.SenderOpenHeader + 4000, null));
        Assert.True(TwampReflector.FitsSharedPort(TestPacketLayout.SenderOpenHeader + 1400, null));
        await client.StartSessionsAsync(CancellationToken.None).DefaultTimeout();
        byte[] packet = new byte[TestPacketLayout.SenderOpenHeader + 4000];
        new SenderPacket(5, SystemClock.Instance.Now(), SystemClock.UnknownError).Write(packet, false);
        await second.SendToAsync(packet, new IPEndPoint(IPAddress.Loopback, own.Port));
        Assert.Equal(5u, (await ReceiveReplyAsync(second, packet.Length)).Reply.SenderSequenceNumber);
        await client.StopSessionsAsync(AcceptCode.Ok, CancellationToken.None).DefaultTimeout();
    }

    [Fact]
    public async Task Pool_SharesOnlyFromTheThreshold_SamePairNeverTwiceOnAPort_ClosesTheLastPortItLeases()
    {
        using var engine = new SessionEngine(1, TimeProvider.System);
        var pool = new SharedReflectorPorts(address => new Ippm.Sessions.Transport.UdpTestSocket(new IPEndPoint(address, 0), TimeSpan.FromMilliseconds(20)), engine);
        var alice = new IPEndPoint(IPAddress.Loopback, 40001);
        var bob = new IPEndPoint(IPAddress.Loopback, 40002);
        Assert.Null(pool.TryLease(IPAddress.Loopback, alice, from: 1)); // the engine carries no session yet
        Assert.Null(pool.TryLease(IPAddress.Loopback, alice, from: -1)); // never
        using SharedPortLease first = pool.TryLease(IPAddress.Loopback, alice, from: 0)!;
        await TaskTimeouts.UntilAsync(() => engine.SessionCount == 1); // the port itself
        using SharedPortLease second = pool.TryLease(IPAddress.Loopback, bob, from: 1)!;
        // One loop: one port for both senders; the same pair again needs another port.
        Assert.Equal(first.Port, second.Port);
        SharedPortLease again = pool.TryLease(IPAddress.Loopback, alice, from: 0)!;
        Assert.NotEqual(first.Port, again.Port);
        Assert.Equal(2, pool.PortCount);
        again.Dispose();
        again.Dispose(); // once
        Assert.Equal(1, pool.PortCount);
        await TaskTimeouts.UntilAsync(() => engine.SessionCount == 1);
        first.Dispose();
        second.Dispose();
        Assert.Equal(0, pool.PortCount);
        await TaskTimeouts.UntilAsync(() => engine.SessionCount == 0);
    }

    [Theory]
    [InlineData("127.0.0.1", 40000, new byte[] { 2, 0, 0x9C, 0x40, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0 })]
    [InlineData("::ffff:127.0.0.1", 40000, new byte[] { 10, 0, 0x9C, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 127, 0, 0, 1, 0, 0, 0, 0 })]
    [InlineData("2001:db8::7", 862, new byte[] { 10, 0, 0x03, 0x5E, 0, 0, 0, 0, 0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0 })]
    public void SenderKey_FromSockaddr_EqualsFromTheRequestsEndpoint(string address, int port, byte[] sockaddr)
    {
        Assert.True(SenderKey.TryFrom(sockaddr, out SenderKey fromWire));
        Assert.Equal(SenderKey.From(new IPEndPoint(IPAddress.Parse(address), port)), fromWire);
        // IPv4 and its mapped form are one sender; another port or address is another.
        Assert.NotEqual(SenderKey.From(new IPEndPoint(IPAddress.Parse(address), port + 1)), fromWire);
        Assert.NotEqual(SenderKey.From(new IPEndPoint(IPAddress.Parse("127.0.0.2"), port)), fromWire);
        Assert.False(SenderKey.TryFrom(sockaddr.AsSpan(0, 7), out _));
    }

    private static Socket Bound()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return socket;
    }

    private static async Task<(ReflectorPacket Reply, int From)> ReceiveReplyAsync(Socket socket, int size = 2048)
    {
        byte[] buffer = new byte[Math.Max(size, 2048) + 64];
        SocketReceiveFromResult received = await socket.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0)).DefaultTimeout();
        Assert.Equal(OperationStatus.Done, ReflectorPacket.TryRead(buffer.AsSpan(0, received.ReceivedBytes), false, out ReflectorPacket reply));
        return (reply, ((IPEndPoint)received.RemoteEndPoint).Port);
    }
}
