using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Ippm.Security;
using Ippm.Sessions.Control;
using Ippm.Sessions.Engine;
using Ippm.Sessions.Transport;
using Ippm.Sessions.Twamp;
using Ippm.Tests.Loopback;
using Ippm.Wire;
using Ippm.Wire.Test;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;

namespace Ippm.Tests.Engine;

/// <summary>
/// The engine's wake-up coalescing over real loopback sockets, counted in loop rounds (epoll_wait returns) rather than
/// timed: many slow sessions are served several per wake-up; a loop with few sessions, a single fast session and an
/// idle loop are never delayed; 0 turns it off.
/// </summary>
public sealed class WakeupCoalescingTests(ITestOutputHelper output)
{
    private const int OpenPacketLength = 41;

    /// <summary>One client socket that sends test packets to many reflectors and counts the replies.</summary>
    private sealed class Client : IDisposable
    {
        private readonly Thread _reader;
        private readonly Socket _socket;
        private long _replies;
        private volatile bool _closed;

        public Client()
        {
            _socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveBufferSize = 8 << 20, ReceiveTimeout = 100 };
            _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _reader = new Thread(Read) { IsBackground = true };
            _reader.Start();
        }

        public IPEndPoint EndPoint => (IPEndPoint)_socket.LocalEndPoint!;

        public long Replies => Interlocked.Read(ref _replies);

        public void Send(int port, uint sequence)
        {
            Span<byte> packet = stackalloc byte[OpenPacketLength];
            packet.Clear();
            SenderPacket.WriteSequenceNumber(packet, sequence);
            _socket.SendTo(packet, new IPEndPoint(IPAddress.Loopback, port));
        }

        private void Read()
        {
            byte[] buffer = new byte[2048];
            while (!_closed)
            {
                try
                {
                    if (_socket.Receive(buffer) > 0)
                    {
                        Interlocked.Increment(ref _replies);
                    }
                }
                catch (SocketException)
                {
                }
                catch (ObjectDisposedException)
                {
                    return;
                }
            }
        }

        public void Dispose()
        {
            _closed = true;
            _reader.Join();
            _socket.Dispose();
        }
    }

    private static List<TwampReflector> OpenReflectors(SessionEngine engine, IPEndPoint sender, int count) =>
        Enumerable.Range(0, count).Select(_ =>
        {
            var socket = new UdpTestSocket(new IPEndPoint(IPAddress.Loopback, 0), TimeSpan.FromMilliseconds(100));
            var reflector = new TwampReflector(socket, SessionIdGenerator.Create(IPAddress.Loopback), SecurityMode.Open, null, sender,
                TimeSpan.FromSeconds(900), OpenPacketLength, NullLogger.Instance, engine: engine);
            Assert.True(reflector.OnEngine);
            reflector.Start();
            return reflector;
        }).ToList();

    private static async Task CloseAsync(List<TwampReflector> reflectors)
    {
        foreach (TwampReflector r in reflectors)
        {
            r.Dispose();
        }
        await Task.WhenAll(reflectors.Select(r => r.Completion)).DefaultTimeout();
    }

    /// <summary>
    /// Sends <paramref name="packets"/> round-robin over the reflectors, one every <paramref name="gapMicroseconds"/>
    /// (spinning, so the pace does not depend on the timer resolution): slow enough that an uncoalesced loop wakes for
    /// nearly every packet.
    /// </summary>
    private static void SendPaced(Client client, List<TwampReflector> reflectors, int packets, int gapMicroseconds)
    {
        long gapTicks = Stopwatch.Frequency * gapMicroseconds / 1_000_000;
        long next = Stopwatch.GetTimestamp();
        for (int k = 0; k < packets; k++)
        {
            while (Stopwatch.GetTimestamp() < next)
            {
                Thread.SpinWait(20);
            }
            client.Send(reflectors[k % reflectors.Count].Port, (uint)k);
            next += gapTicks;
        }
    }

    [Fact]
    public async Task ManySlowSessions_SeveralServedPerWakeUp_EveryPacketAnswered()
    {
        const int Sessions = 64, Packets = 2000, GapMicroseconds = 50;
        using var coalesced = new SessionEngine(1, TimeProvider.System, coalesceMicroseconds: 5000);
        using var uncoalesced = new SessionEngine(1, TimeProvider.System, coalesceMicroseconds: 0);
        using var client = new Client();
        var onCoalesced = OpenReflectors(coalesced, client.EndPoint, Sessions);
        var onUncoalesced = OpenReflectors(uncoalesced, client.EndPoint, Sessions);
        await TaskTimeouts.UntilAsync(() => coalesced.SessionCount == Sessions && uncoalesced.SessionCount == Sessions);

        long roundsBefore = coalesced.Loops[0].Rounds;
        SendPaced(client, onCoalesced, Packets, GapMicroseconds);
        await TaskTimeouts.UntilAsync(() => client.Replies == Packets);
        long rounds = coalesced.Loops[0].Rounds - roundsBefore;

        long plainBefore = uncoalesced.Loops[0].Rounds;
        SendPaced(client, onUncoalesced, Packets, GapMicroseconds);
        await TaskTimeouts.UntilAsync(() => client.Replies == 2 * Packets);
        long plainRounds = uncoalesced.Loops[0].Rounds - plainBefore;

        output.WriteLine($"{Packets} packets over {Sessions} sessions, one every {GapMicroseconds} µs: {rounds} rounds coalesced ({coalesced.Loops[0].CoalescedRounds} delayed), {plainRounds} without");
        Assert.Equal(Packets, onCoalesced.Sum(r => r.Reflected));
        Assert.Equal(0, uncoalesced.Loops[0].CoalescedRounds);
        // A round after a delay of 5 ms sees about 100 packets' worth of sessions ready; even a slow sender leaves
        // rounds far fewer than packets (a 50 µs pace is 0.1 s of sending; a quarter would need 2.5 s per 500 rounds).
        Assert.True(rounds * 4 < Packets, $"{rounds} rounds for {Packets} packets");
        await CloseAsync(onCoalesced);
        await CloseAsync(onUncoalesced);
    }

    [Fact]
    public async Task SingleFastSession_NeverHeld()
    {
        // The longest window: had it applied, each of these closed-loop packets would wait 100 ms.
        using var engine = new SessionEngine(1, TimeProvider.System, coalesceMicroseconds: 100_000);
        using var client = new Client();
        var reflectors = OpenReflectors(engine, client.EndPoint, 1);
        await TaskTimeouts.UntilAsync(() => engine.SessionCount == 1);
        for (uint k = 0; k < 300; k++)
        {
            client.Send(reflectors[0].Port, k);
            await TaskTimeouts.UntilAsync(() => client.Replies == k + 1);
        }
        // And a burst: the session batches by itself.
        SendPaced(client, reflectors, 200, 0);
        await TaskTimeouts.UntilAsync(() => client.Replies == 500);
        Assert.Equal(0, engine.Loops[0].CoalescedRounds);
        await CloseAsync(reflectors);
    }

    [Fact]
    public async Task FewerSessionsThanTheThreshold_NeverDelayed()
    {
        using var engine = new SessionEngine(1, TimeProvider.System, coalesceMicroseconds: 100_000);
        using var client = new Client();
        var reflectors = OpenReflectors(engine, client.EndPoint, EngineLoop.CoalesceMinSessions - 1);
        await TaskTimeouts.UntilAsync(() => engine.SessionCount == reflectors.Count);
        SendPaced(client, reflectors, 1000, 50);
        await TaskTimeouts.UntilAsync(() => client.Replies == 1000);
        Assert.Equal(0, engine.Loops[0].CoalescedRounds);
        await CloseAsync(reflectors);
    }

    [Fact]
    public async Task IdleLoop_WithManySessions_MakesNoWakeUps_BeforeOrAfterTraffic()
    {
        using var engine = new SessionEngine(1, TimeProvider.System, coalesceMicroseconds: 5000);
        using var client = new Client();
        var reflectors = OpenReflectors(engine, client.EndPoint, 64);
        await TaskTimeouts.UntilAsync(() => engine.SessionCount == 64);
        EngineLoop loop = engine.Loops[0];

        await Task.Delay(200);
        long idleStart = loop.Rounds;
        await Task.Delay(500);
        long idleBefore = loop.Rounds - idleStart;

        // One packet at a time: each is the only ready session of its round, so the loop delays the next wait.
        for (uint k = 0; k < 20; k++)
        {
            client.Send(reflectors[(int)k].Port, k);
            await TaskTimeouts.UntilAsync(() => client.Replies == k + 1);
        }
        SendPaced(client, reflectors, 640, 50);
        await TaskTimeouts.UntilAsync(() => client.Replies == 660);
        Assert.True(loop.CoalescedRounds > 0, "the traffic was not coalesced: nothing is proven about after it");
        await Task.Delay(200);
        long afterStart = loop.Rounds;
        await Task.Delay(500);
        long idleAfter = loop.Rounds - afterStart;

        output.WriteLine($"rounds in 0.5 s idle: {idleBefore} before traffic, {idleAfter} after; {loop.CoalescedRounds} delayed rounds during it");
        // A loop that kept sleeping the 5 ms window while idle would make about 100 rounds in 0.5 s.
        Assert.InRange(idleBefore, 0, 1);
        Assert.InRange(idleAfter, 0, 1);
        await CloseAsync(reflectors);
    }

    [Fact]
    public async Task Window_CanBeChangedWhileRunning_ZeroTurnsItOff()
    {
        using var engine = new SessionEngine(1, TimeProvider.System, coalesceMicroseconds: 5000);
        using var client = new Client();
        var reflectors = OpenReflectors(engine, client.EndPoint, 32);
        await TaskTimeouts.UntilAsync(() => engine.SessionCount == 32);
        Assert.Equal(5000, engine.CoalesceMicroseconds);
        engine.CoalesceMicroseconds = 0;
        SendPaced(client, reflectors, 1000, 50);
        await TaskTimeouts.UntilAsync(() => client.Replies == 1000);
        Assert.Equal(0, engine.Loops[0].CoalescedRounds);
        Assert.Throws<ArgumentOutOfRangeException>(() => engine.CoalesceMicroseconds = -1);
        await CloseAsync(reflectors);
    }
}
