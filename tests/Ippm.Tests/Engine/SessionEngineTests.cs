using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Ippm.Security;
using Ippm.Security.Schedules;
using Ippm.Sessions.Control;
using Ippm.Sessions.Engine;
using Ippm.Sessions.Owamp;
using Ippm.Sessions.Time;
using Ippm.Sessions.Transport;
using Ippm.Sessions.Twamp;
using Ippm.Tests.Loopback;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;

namespace Ippm.Tests.Engine;

/// <summary>
/// The shared session engine over real loopback sockets: many TWAMP reflectors on a fixed number of loop threads,
/// REFWAIT and the Stop-Sessions linger as timers of the loop (on a clock the test moves), a session removed while
/// its packets arrive, and a flooded session that cannot starve the others on its loop.
/// </summary>
public sealed class SessionEngineTests(ITestOutputHelper output)
{
    private const int OpenPacketLength = 41; // reflector header: replies have the sender's size

    /// <summary>A clock that moves only when the test says (the loop's deadlines follow it, not the wall clock).</summary>
    private sealed class ManualClock : TimeProvider
    {
        private long _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Read(ref _ticks);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }

    /// <summary>A client socket that sends TWAMP test packets and reads the replies into a queue.</summary>
    private sealed class TestSender : IDisposable
    {
        private readonly Thread _reader;
        private volatile bool _closed;

        public TestSender()
        {
            Socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveBufferSize = 8 << 20, SendBufferSize = 8 << 20 };
            Socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            Socket.ReceiveTimeout = 100;
            _reader = new Thread(Read) { IsBackground = true };
            _reader.Start();
        }

        public Socket Socket { get; }

        public IPEndPoint EndPoint => (IPEndPoint)Socket.LocalEndPoint!;

        /// <summary>(reflector port, sender sequence) of every reply, in arrival order.</summary>
        public ConcurrentQueue<(int Port, uint Sequence)> Replies { get; } = new();

        public void Send(int reflectorPort, uint sequence)
        {
            Span<byte> packet = stackalloc byte[OpenPacketLength];
            packet.Clear();
            SenderPacket.WriteSequenceNumber(packet, sequence);
            Socket.SendTo(packet, new IPEndPoint(IPAddress.Loopback, reflectorPort));
        }

        public int RepliesFrom(int port) => Replies.Count(r => r.Port == port);

        private void Read()
        {
            byte[] buffer = new byte[2048];
            EndPoint from = new IPEndPoint(IPAddress.Any, 0);
            while (!_closed)
            {
                try
                {
                    int length = Socket.ReceiveFrom(buffer, ref from);
                    if (ReflectorPacket.TryRead(buffer.AsSpan(0, length), false, out ReflectorPacket reply) == System.Buffers.OperationStatus.Done)
                    {
                        Replies.Enqueue((((IPEndPoint)from).Port, reply.SenderSequenceNumber));
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
            Socket.Dispose();
        }
    }

    private static TwampReflector OpenReflector(SessionEngine engine, IPEndPoint sender, RecordingLoggerFactory logs, TimeSpan? refWait = null)
    {
        var socket = new UdpTestSocket(new IPEndPoint(IPAddress.Loopback, 0), TimeSpan.FromMilliseconds(100));
        var reflector = new TwampReflector(socket, SessionIdGenerator.Create(IPAddress.Loopback), SecurityMode.Open, null, sender,
            refWait ?? TimeSpan.FromSeconds(900), OpenPacketLength, logs.CreateLogger("test"), engine: engine);
        Assert.True(reflector.OnEngine);
        reflector.Start();
        return reflector;
    }

    [Fact]
    public async Task ManySessions_ServedByTheLoopThreadsOnly_ThreadCountDoesNotGrowWithSessions()
    {
        const int Sessions = 300;
        var logs = new RecordingLoggerFactory();
        using var engine = new SessionEngine(2, TimeProvider.System);
        using var sender = new TestSender();
        int threadsBefore = Process.GetCurrentProcess().Threads.Count;
        var reflectors = Enumerable.Range(0, Sessions).Select(_ => OpenReflector(engine, sender.EndPoint, logs)).ToList();
        await TaskTimeouts.UntilAsync(() => engine.SessionCount == Sessions);
        int threadsWith = Process.GetCurrentProcess().Threads.Count;

        for (uint round = 0; round < 3; round++)
        {
            foreach (TwampReflector r in reflectors)
            {
                sender.Send(r.Port, round);
            }
        }
        await TaskTimeouts.UntilAsync(() => sender.Replies.Count >= 3 * Sessions);
        Assert.All(reflectors, r => Assert.Equal(3, sender.RepliesFrom(r.Port)));
        Assert.All(reflectors, r => Assert.Equal(3, r.Reflected));
        // Both loops carry sessions (placement balances them).
        Assert.All(engine.Loops, l => Assert.InRange(l.SessionCount, Sessions / 2 - 5, Sessions / 2 + 5));
        output.WriteLine($"threads: {threadsBefore} before, {threadsWith} with {Sessions} sessions on {engine.Loops.Count} loops");
        // A thread per session would add 300; other tests running in parallel may add a few of their own.
        Assert.True(threadsWith - threadsBefore < Sessions / 4, $"{threadsWith - threadsBefore} threads more with {Sessions} sessions");

        foreach (TwampReflector r in reflectors)
        {
            r.StopAfter(TimeSpan.Zero);
        }
        await Task.WhenAll(reflectors.Select(r => r.Completion)).DefaultTimeout();
        Assert.Equal(0, engine.SessionCount);
    }

    [Fact]
    public async Task RefWait_IsALoopTimer_OnTheEnginesClock_EndsTheSessionOnlyWhenItExpires()
    {
        var clock = new ManualClock();
        var logs = new RecordingLoggerFactory();
        using var engine = new SessionEngine(1, clock);
        using var sender = new TestSender();
        TwampReflector quiet = OpenReflector(engine, sender.EndPoint, logs, TimeSpan.FromSeconds(900));
        await TaskTimeouts.UntilAsync(() => engine.SessionCount == 1);
        sender.Send(quiet.Port, 1);
        await TaskTimeouts.UntilAsync(() => sender.Replies.Count == 1);

        // 899 s of silence after the packet: REFWAIT (900 s) has not expired.
        clock.Advance(TimeSpan.FromSeconds(899));
        await WaitForRoundsAsync(engine.Loops[0], 5);
        Assert.False(quiet.Completion.IsCompleted);

        // A packet now restarts REFWAIT; 899 s later the session still runs.
        sender.Send(quiet.Port, 2);
        await TaskTimeouts.UntilAsync(() => sender.Replies.Count == 2);
        clock.Advance(TimeSpan.FromSeconds(899));
        await WaitForRoundsAsync(engine.Loops[0], 5);
        Assert.False(quiet.Completion.IsCompleted);

        clock.Advance(TimeSpan.FromSeconds(2));
        await quiet.Completion.DefaultTimeout();
        Assert.Contains(logs.Entries, e => e.EventId == 302 && e.Message.Contains(quiet.Sid.ToString(), StringComparison.Ordinal));
        Assert.Equal(0, engine.SessionCount);
    }

    [Fact]
    public async Task StopAfter_LingersForTheTimeout_OnTheEnginesClock_ThenEnds()
    {
        var clock = new ManualClock();
        var logs = new RecordingLoggerFactory();
        using var engine = new SessionEngine(1, clock);
        using var sender = new TestSender();
        TwampReflector reflector = OpenReflector(engine, sender.EndPoint, logs);
        reflector.StopAfter(TimeSpan.FromSeconds(10));
        clock.Advance(TimeSpan.FromSeconds(9));
        await WaitForRoundsAsync(engine.Loops[0], 5);
        // Still reflecting during the linger.
        sender.Send(reflector.Port, 5);
        await TaskTimeouts.UntilAsync(() => sender.Replies.Count == 1);
        Assert.False(reflector.Completion.IsCompleted);

        clock.Advance(TimeSpan.FromSeconds(2));
        await reflector.Completion.DefaultTimeout();
        Assert.DoesNotContain(logs.Entries, e => e.EventId == 302);
        Assert.Contains(logs.Entries, e => e.EventId == 303 && e.Message.Contains("1 reflected", StringComparison.Ordinal));
    }

    [Fact]
    public async Task SessionRemovedWhilePacketsArrive_EndsCleanly_OtherSessionsOfTheLoopGoOn()
    {
        var logs = new RecordingLoggerFactory();
        using var engine = new SessionEngine(1, TimeProvider.System);
        using var sender = new TestSender();
        TwampReflector doomed = OpenReflector(engine, sender.EndPoint, logs);
        TwampReflector other = OpenReflector(engine, sender.EndPoint, logs);
        await TaskTimeouts.UntilAsync(() => engine.SessionCount == 2);
        int doomedPort = doomed.Port;

        using var flooding = new CancellationTokenSource();
        var flood = Task.Run(() =>
        {
            // Bounded: at most 200 000 packets or until the session is gone.
            for (uint i = 0; i < 200_000 && !flooding.IsCancellationRequested; i++)
            {
                sender.Send(doomedPort, i);
            }
        });
        await TaskTimeouts.UntilAsync(() => doomed.Reflected > 100);
        doomed.Dispose();
        await doomed.Completion.DefaultTimeout();
        long reflectedAtEnd = doomed.Reflected;
        await flooding.CancelAsync();
        await flood.DefaultTimeout();

        Assert.Equal(1, engine.SessionCount);
        Assert.DoesNotContain(logs.Entries, e => e.EventId is 304 or 390 or 392);
        Assert.Equal(reflectedAtEnd, doomed.Reflected);
        // The loop goes on serving the other session.
        for (uint i = 0; i < 20; i++)
        {
            sender.Send(other.Port, i);
        }
        await TaskTimeouts.UntilAsync(() => sender.RepliesFrom(other.Port) == 20);
        other.Dispose();
        await other.Completion.DefaultTimeout();
    }

    [Fact]
    public async Task FloodOnOneSession_DoesNotStarveTheOthersOnItsLoop()
    {
        var logs = new RecordingLoggerFactory();
        using var engine = new SessionEngine(1, TimeProvider.System);
        using var attacker = new TestSender();
        using var legit = new TestSender();
        TwampReflector flooded = OpenReflector(engine, attacker.EndPoint, logs);
        var others = Enumerable.Range(0, 5).Select(_ => OpenReflector(engine, legit.EndPoint, logs)).ToList();
        await TaskTimeouts.UntilAsync(() => engine.SessionCount == 6);

        using var flooding = new CancellationTokenSource();
        var flood = Task.Run(() =>
        {
            // Bounded in time: until the legitimate packets are answered, at most 60 s.
            var running = Stopwatch.StartNew();
            for (uint i = 0; !flooding.IsCancellationRequested && running.Elapsed < TimeSpan.FromSeconds(60); i++)
            {
                attacker.Send(flooded.Port, i);
            }
        });
        await TaskTimeouts.UntilAsync(() => flooded.Reflected > 1000);
        // 20 packets to each legitimate session, every 10 ms, while the flood runs.
        for (uint i = 0; i < 20; i++)
        {
            foreach (TwampReflector r in others)
            {
                legit.Send(r.Port, i);
            }
            await Task.Delay(10);
        }
        await TaskTimeouts.UntilAsync(() => legit.Replies.Count >= 100);
        bool floodStillRunning = !flood.IsCompleted;
        await flooding.CancelAsync();
        await flood.DefaultTimeout();

        Assert.All(others, r => Assert.Equal(20, legit.RepliesFrom(r.Port)));
        output.WriteLine($"flooded session reflected {flooded.Reflected}; the 5 others 100 of 100; flood still running at the end: {floodStillRunning}");
        Assert.True(floodStillRunning, "the flood ended before the legitimate packets were answered: nothing was proven");
        foreach (TwampReflector r in others.Append(flooded))
        {
            r.Dispose();
        }
        await Task.WhenAll(others.Append(flooded).Select(r => r.Completion)).DefaultTimeout();
    }

    [Fact]
    public async Task SessionsEnd_WhenTheEngineIsDisposed()
    {
        var logs = new RecordingLoggerFactory();
        var engine = new SessionEngine(2, TimeProvider.System);
        using var sender = new TestSender();
        var reflectors = Enumerable.Range(0, 10).Select(_ => OpenReflector(engine, sender.EndPoint, logs)).ToList();
        await TaskTimeouts.UntilAsync(() => engine.SessionCount == 10);
        engine.Dispose();
        await Task.WhenAll(reflectors.Select(r => r.Completion)).DefaultTimeout();
        Assert.Equal(10, logs.Entries.Count(e => e.EventId == 303));
    }

    [Fact]
    public async Task PostsFromManyThreads_WhileTheLoopIsIdle_AllRun_NoWakeUpIsLost()
    {
        // No sessions and no timers: the loop sleeps in epoll_wait without a timeout, so only the eventfd wakes it.
        using var engine = new SessionEngine(1, TimeProvider.System);
        EngineLoop loop = engine.Loops[0];
        for (int round = 0; round < 500; round++)
        {
            var ran = new TaskCompletionSource[4];
            for (int k = 0; k < ran.Length; k++)
            {
                ran[k] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
            Parallel.For(0, ran.Length, k => loop.Post(() => ran[k].SetResult()));
            await Task.WhenAll(ran.Select(r => r.Task)).WaitAsync(TimeSpan.FromSeconds(10));
            if (round % 50 == 0)
            {
                await Task.Delay(5); // let the loop fall asleep between some rounds
            }
        }
    }

    [Fact]
    public async Task OwampReceivers_OnTheEngine_RecordWhatArrives_AndCompleteOffTheLoop()
    {
        const int Sessions = 100;
        using var engine = new SessionEngine(1, TimeProvider.System);
        using var sender = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        sender.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var request = new SessionRequest
        {
            // Scheduled well in the past: Complete keeps only packets whose send time is a Timeout before the stop.
            Command = CommandNumber.RequestSession, ConfReceiver = 1, PacketCount = 5,
            StartTime = new NtpTimestamp(SystemClock.Instance.Now().Value - (10UL << 32)), Timeout = NtpTimestamp.FromSeconds(0.2),
        };
        var receivers = new List<OwampReceiver>();
        for (int k = 0; k < Sessions; k++)
        {
            var socket = new UdpTestSocket(new IPEndPoint(IPAddress.Loopback, 0), TimeSpan.FromMilliseconds(100));
            socket.Connect((IPEndPoint)sender.LocalEndPoint!);
            var spec = new OwampSessionSpec(request, [new ScheduleSlot(ScheduleSlotType.Fixed, NtpTimestamp.FromSeconds(0.001))], SessionIdGenerator.Create(IPAddress.Loopback));
            var receiver = new OwampReceiver(socket, spec, null, NullLogger.Instance, engine);
            Assert.True(receiver.OnEngine);
            receiver.Start();
            receivers.Add(receiver);
        }
        byte[] packet = new byte[TestPacketLayout.SenderOpenHeader];
        foreach (OwampReceiver receiver in receivers)
        {
            for (uint seq = 0; seq < 3; seq++)
            {
                new SenderPacket(seq, SystemClock.Instance.Now(), SystemClock.UnknownError).Write(packet, false);
                sender.SendTo(packet, new IPEndPoint(IPAddress.Loopback, receiver.Port));
            }
        }
        await TaskTimeouts.UntilAsync(() => receivers.All(r => r.Records().Length == 3));
        foreach (OwampReceiver receiver in receivers)
        {
            receiver.Complete(new SessionDescription(receiver.Sid, 3, []), SystemClock.Instance.Now());
            Assert.Equal(new uint[] { 0, 1, 2 }, receiver.Records().Select(r => r.SequenceNumber).Order());
            Assert.All(receiver.Records(), r => Assert.False(r.IsLost));
        }
        // Complete took every receiver off the loop before returning.
        Assert.Equal(0, engine.SessionCount);
        receivers.ForEach(r => r.Dispose());
    }

    [Fact]
    public async Task OwampReceiver_Complete_CountsPacketsQueuedInTheSocketBeforeStop()
    {
        using var engine = new SessionEngine(1, TimeProvider.System);
        using var sender = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        sender.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var request = new SessionRequest
        {
            Command = CommandNumber.RequestSession, ConfReceiver = 1, PacketCount = 40,
            StartTime = new NtpTimestamp(SystemClock.Instance.Now().Value - (10UL << 32)), Timeout = NtpTimestamp.FromSeconds(0.2),
        };
        var socket = new UdpTestSocket(new IPEndPoint(IPAddress.Loopback, 0), TimeSpan.FromMilliseconds(100));
        socket.Connect((IPEndPoint)sender.LocalEndPoint!);
        var spec = new OwampSessionSpec(request, [new ScheduleSlot(ScheduleSlotType.Fixed, NtpTimestamp.FromSeconds(0.001))], SessionIdGenerator.Create(IPAddress.Loopback));
        using var receiver = new OwampReceiver(socket, spec, null, NullLogger.Instance, engine);
        receiver.Start();

        // Hold the loop (commands run in order, so the receiver is registered by then) so that nothing is read, send every packet (loopback queues them in the socket at once),
        // then stop: the packets arrived before Stop-Sessions and must be counted as received, not lost.
        using var holding = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        engine.Loops[0].Post(() =>
        {
            holding.Set();
            release.Wait(TimeSpan.FromSeconds(10));
        });
        Assert.True(holding.Wait(TimeSpan.FromSeconds(10)));
        byte[] packet = new byte[TestPacketLayout.SenderOpenHeader];
        for (uint seq = 0; seq < 40; seq++)
        {
            new SenderPacket(seq, SystemClock.Instance.Now(), SystemClock.UnknownError).Write(packet, false);
            sender.SendTo(packet, new IPEndPoint(IPAddress.Loopback, receiver.Port));
        }
        Task complete = Task.Run(() => receiver.Complete(new SessionDescription(receiver.Sid, 40, []), SystemClock.Instance.Now()));
        await Task.Delay(50); // Complete posts its command behind the held one
        release.Set();
        await complete.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(Enumerable.Range(0, 40).Select(i => (uint)i), receiver.Records().Select(r => r.SequenceNumber).Order());
        Assert.All(receiver.Records(), r => Assert.False(r.IsLost));
    }

    private static async Task WaitForRoundsAsync(EngineLoop loop, int rounds)
    {
        long target = loop.Rounds + rounds;
        await TaskTimeouts.UntilAsync(() => loop.Rounds >= target);
    }
}
