using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Ippm.Security;
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
using Xunit.Abstractions;

namespace Ippm.Tests.Engine;

/// <summary>
/// The TWAMP and OWAMP Session-Senders as sessions of the engine, over real loopback sockets: many senders on two
/// loop threads, the schedule kept on a clock the test moves (packets leave exactly when due, between two
/// milliseconds too), a sender stopped mid-session, and a sender whose callback fails without touching the others.
/// </summary>
public sealed class SenderEngineTests(ITestOutputHelper output)
{
    private sealed class ManualClock : TimeProvider
    {
        private long _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Read(ref _ticks);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }

    /// <summary>A socket that records the sequence number of every test packet it receives, and does not answer.</summary>
    private sealed class Sink : IDisposable
    {
        private readonly Thread _reader;
        private volatile bool _closed;

        public Sink()
        {
            Socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            Socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            Socket.ReceiveTimeout = 100;
            _reader = new Thread(Read) { IsBackground = true };
            _reader.Start();
        }

        public Socket Socket { get; }

        public IPEndPoint EndPoint => (IPEndPoint)Socket.LocalEndPoint!;

        public ConcurrentQueue<uint> Sequences { get; } = new();

        private void Read()
        {
            byte[] buffer = new byte[2048];
            while (!_closed)
            {
                try
                {
                    int length = Socket.Receive(buffer);
                    if (length >= 4)
                    {
                        Sequences.Enqueue(System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(buffer));
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

    private static UdpTestSocket OpenSocket() => new(new IPEndPoint(IPAddress.Loopback, 0), TimeSpan.FromMilliseconds(50));

    /// <summary>A reflector on <paramref name="engine"/> for a sender socket, connected both ways.</summary>
    private static TwampReflector Reflect(SessionEngine engine, UdpTestSocket sender, RecordingLoggerFactory logs, TwampReflectorFeatures? features = null)
    {
        var socket = OpenSocket();
        var reflector = new TwampReflector(socket, SessionIdGenerator.Create(IPAddress.Loopback), SecurityMode.Open, null, sender.LocalEndPoint,
            TimeSpan.FromSeconds(900), 1024, logs.CreateLogger("reflector"), features, engine);
        reflector.Start();
        sender.Connect(new IPEndPoint(IPAddress.Loopback, reflector.Port));
        return reflector;
    }

    private static async Task RunOnLoopAsync(EngineLoop loop)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.Post(() => done.SetResult());
        await done.Task.DefaultTimeout();
    }

    private static async Task WaitForRoundsAsync(EngineLoop loop, int rounds)
    {
        long target = loop.Rounds + rounds;
        await TaskTimeouts.UntilAsync(() => loop.Rounds >= target);
    }

    [Fact]
    public async Task ManyTwampSenders_OnTwoLoopThreads_ThreadCountDoesNotGrow_EveryReplyMatched()
    {
        const int Sessions = 200;
        const int Count = 20;
        var logs = new RecordingLoggerFactory();
        using var reflectors = new SessionEngine(1, TimeProvider.System);
        using var senders = new SessionEngine(2, TimeProvider.System);
        var sockets = Enumerable.Range(0, Sessions).Select(_ => OpenSocket()).ToList();
        try
        {
            var sessions = sockets.Select(s => Reflect(reflectors, s, logs)).ToList();
            await TaskTimeouts.UntilAsync(() => reflectors.SessionCount == Sessions);
            int threadsBefore = Process.GetCurrentProcess().Threads.Count;

            Task<TwampSessionResult>[] runs = sockets.Select(s => TwampSessionSender.RunAsync(
                s, default, SecurityMode.Open, null, Count, new SendSchedule(0.02, false), 0, TimeSpan.FromSeconds(5),
                CancellationToken.None, engine: senders)).ToArray();
            await TaskTimeouts.UntilAsync(() => senders.SessionCount == Sessions || runs.Any(r => r.IsCompleted));
            int threadsWith = Process.GetCurrentProcess().Threads.Count;
            Assert.All(senders.Loops, l => Assert.InRange(l.SessionCount, Sessions / 2 - 5, Sessions / 2 + 5));
            TwampSessionResult[] results = await Task.WhenAll(runs).DefaultTimeout();

            output.WriteLine($"threads: {threadsBefore} before, {threadsWith} with {Sessions} senders on {senders.Loops.Count} loops");
            // A thread pair per sender would add 400; tests running in parallel may add a few of their own.
            Assert.True(threadsWith - threadsBefore < Sessions / 4, $"{threadsWith - threadsBefore} threads more with {Sessions} senders");
            foreach (TwampSessionResult r in results)
            {
                Assert.Equal(Count, r.Sent);
                Assert.Equal(Enumerable.Range(0, Count).Select(i => (uint)i), r.Replies.Select(s => s.SenderSequence).Order());
                Assert.Equal(0, r.Late + r.Malformed + r.BadHmac);
                Assert.Equal(Count, r.SendTimes!.Count);
                // T1 ≤ reflector receive ≤ reflector send ≤ T4, one clock on loopback.
                Assert.All(r.Replies, s => Assert.True(s.T1 <= s.T2 && s.T2 <= s.T3 && s.T3 <= s.T4));
            }
            Assert.Equal(0, senders.SessionCount);
            foreach (TwampReflector r in sessions)
            {
                r.StopAfter(TimeSpan.Zero);
            }
            await Task.WhenAll(sessions.Select(r => r.Completion)).DefaultTimeout();
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public async Task TwampSender_FixedSchedule_OnTheEnginesClock_EachPacketLeavesExactlyWhenDue()
    {
        var clock = new ManualClock();
        using var engine = new SessionEngine(1, clock);
        using var sink = new Sink();
        using UdpTestSocket socket = OpenSocket();
        socket.Connect(sink.EndPoint);
        // 2.5 ms apart: the deadlines fall between two milliseconds.
        var interval = TimeSpan.FromMilliseconds(2.5);
        Task<TwampSessionResult> run = TwampSessionSender.RunAsync(
            socket, default, SecurityMode.Open, null, 4, new SendSchedule(interval.TotalSeconds, false), 0, TimeSpan.FromSeconds(1),
            CancellationToken.None, engine: engine);

        // Packet 0 is due at once.
        await TaskTimeouts.UntilAsync(() => sink.Sequences.Count == 1);
        for (int k = 1; k < 4; k++)
        {
            // 0.1 ms before packet k is due nothing leaves, however long the loop runs; at its time it does.
            clock.Advance(interval - TimeSpan.FromMilliseconds(0.1));
            await WaitForRoundsAsync(engine.Loops[0], 5);
            Assert.Equal(k, sink.Sequences.Count);
            clock.Advance(TimeSpan.FromMilliseconds(0.1));
            await TaskTimeouts.UntilAsync(() => sink.Sequences.Count == k + 1);
        }
        Assert.Equal([0u, 1u, 2u, 3u], sink.Sequences.ToArray());

        // No replies come: the sender waits the Timeout (1 s on its clock) after the last packet, then reports.
        clock.Advance(TimeSpan.FromMilliseconds(999));
        await WaitForRoundsAsync(engine.Loops[0], 5);
        Assert.False(run.IsCompleted);
        clock.Advance(TimeSpan.FromMilliseconds(1));
        TwampSessionResult result = await run.DefaultTimeout();
        Assert.Equal(4, result.Sent);
        Assert.Empty(result.Replies);
        // Every packet left when the loop's clock reached its time: no schedule error at all.
        Assert.True(result.ScheduleError.P99 < 1e-6, $"schedule error p99 {result.ScheduleError.P99}");
        Assert.Equal(0, engine.SessionCount);
    }

    [Fact]
    public async Task TwampSender_StoppedMidSession_ReportsWhatLeftAndItsReplies_LoopGoesOn()
    {
        var logs = new RecordingLoggerFactory();
        using var engine = new SessionEngine(1, TimeProvider.System);
        using UdpTestSocket socket = OpenSocket();
        using UdpTestSocket otherSocket = OpenSocket();
        TwampReflector reflector = Reflect(engine, socket, logs);
        TwampReflector otherReflector = Reflect(engine, otherSocket, logs);
        using var stop = new CancellationTokenSource();
        Task<TwampSessionResult> run = TwampSessionSender.RunAsync(
            socket, default, SecurityMode.Open, null, 10_000, new SendSchedule(0.005, false), 0, TimeSpan.FromSeconds(2), stop.Token, engine: engine);
        Task<TwampSessionResult> other = TwampSessionSender.RunAsync(
            otherSocket, default, SecurityMode.Open, null, 50, new SendSchedule(0.005, false), 0, TimeSpan.FromSeconds(2), CancellationToken.None, engine: engine);
        await TaskTimeouts.UntilAsync(() => reflector.Reflected >= 10);
        await stop.CancelAsync();
        TwampSessionResult result = await run.DefaultTimeout();
        TwampSessionResult otherResult = await other.DefaultTimeout();

        Assert.InRange(result.Sent, 10, 9_999);
        // Replies to every packet that left were collected (loopback loses none), then the session ended at once.
        Assert.Equal(result.Sent, result.Replies.Count);
        Assert.Equal(50, otherResult.Replies.Count);
        reflector.StopAfter(TimeSpan.Zero);
        otherReflector.StopAfter(TimeSpan.Zero);
        await Task.WhenAll(reflector.Completion, otherReflector.Completion).DefaultTimeout();
        Assert.Equal(0, engine.SessionCount);
    }

    [Fact]
    public async Task TwampSender_WhoseCallbackFails_EndsWithTheError_OthersOnItsLoopComplete()
    {
        var logs = new RecordingLoggerFactory();
        using var engine = new SessionEngine(1, TimeProvider.System);
        using UdpTestSocket bad = OpenSocket();
        using UdpTestSocket good1 = OpenSocket();
        using UdpTestSocket good2 = OpenSocket();
        // The reflector pads its replies to 200 octets; the sender asks to check 100 reflected octets of a padding it
        // never had (a caller's mistake): reading the first reply throws on the loop thread.
        var format = new TwampTestFormat(false, false, false);
        TwampReflector badReflector = Reflect(engine, bad, logs, new TwampReflectorFeatures(format, 0, 200));
        TwampReflector r1 = Reflect(engine, good1, logs);
        TwampReflector r2 = Reflect(engine, good2, logs);
        var schedule = new SendSchedule(0.005, false);
        Task<TwampSessionResult> failing = TwampSessionSender.RunAsync(
            bad, default, SecurityMode.Open, null, 100, schedule, 0, TimeSpan.FromSeconds(2), CancellationToken.None, format, reflectOctets: 100, engine: engine);
        Task<TwampSessionResult> ok1 = TwampSessionSender.RunAsync(good1, default, SecurityMode.Open, null, 40, schedule, 0, TimeSpan.FromSeconds(2), CancellationToken.None, engine: engine);
        Task<TwampSessionResult> ok2 = TwampSessionSender.RunAsync(good2, default, SecurityMode.Open, null, 40, schedule, 0, TimeSpan.FromSeconds(2), CancellationToken.None, engine: engine);

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => failing.DefaultTimeout());
        Assert.Equal(40, (await ok1.DefaultTimeout()).Replies.Count);
        Assert.Equal(40, (await ok2.DefaultTimeout()).Replies.Count);
        foreach (TwampReflector r in new[] { badReflector, r1, r2 })
        {
            r.StopAfter(TimeSpan.Zero);
        }
        await Task.WhenAll(badReflector.Completion, r1.Completion, r2.Completion).DefaultTimeout();
        Assert.Equal(0, engine.SessionCount);
    }

    private static OwampSessionSpec OwampSpec(int count, double intervalSeconds, double startInSeconds, double timeoutSeconds)
    {
        var request = new SessionRequest
        {
            Command = CommandNumber.RequestSession,
            IpVersion = 4,
            ConfReceiver = 1,
            PacketCount = (uint)count,
            SenderAddress = IPAddress.Loopback,
            ReceiverAddress = IPAddress.Loopback,
            StartTime = NtpTimestamp.FromUnixNanoseconds(SystemClock.Instance.Now().ToUnixNanoseconds() + (long)(startInSeconds * 1e9)),
            Timeout = NtpTimestamp.FromSeconds(timeoutSeconds),
        };
        ScheduleSlot[] schedule = [new ScheduleSlot(ScheduleSlotType.Fixed, NtpTimestamp.FromSeconds(intervalSeconds))];
        return new OwampSessionSpec(request, schedule, SessionIdGenerator.Create(IPAddress.Loopback));
    }

    [Fact]
    public async Task OwampSender_OnTheEnginesClock_SendsAtStartTimePlusOffsets_SkipsWhatIsLaterThanTimeout()
    {
        var clock = new ManualClock();
        using var engine = new SessionEngine(1, clock);
        using var sink = new Sink();
        UdpTestSocket socket = OpenSocket();
        socket.Connect(sink.EndPoint);
        // Start Time 10 s away (on the wall clock, mapped once onto the loop's: that can put it a few ms early, never
        // late), packets 1 s apart (packet k at Start Time + (k + 1) s), Timeout 2 s.
        using var sender = new OwampSender(socket, OwampSpec(6, 1, 10, 2), null, engine);
        Assert.True(sender.OnEngine);
        sender.Start();
        // The loop maps Start Time onto its clock when it registers the sender: let it do so before the clock moves
        // (a command posted after Start runs after the registration).
        await RunOnLoopAsync(engine.Loops[0]);
        clock.Advance(TimeSpan.FromSeconds(10.5));
        await WaitForRoundsAsync(engine.Loops[0], 5);
        Assert.Empty(sink.Sequences);

        clock.Advance(TimeSpan.FromSeconds(1)); // 11.5 s: packet 0
        await TaskTimeouts.UntilAsync(() => sink.Sequences.Count == 1);
        clock.Advance(TimeSpan.FromSeconds(1)); // 12.5 s: packet 1
        await TaskTimeouts.UntilAsync(() => sink.Sequences.Count == 2);
        await WaitForRoundsAsync(engine.Loops[0], 5);
        Assert.Equal([0u, 1u], sink.Sequences.ToArray());

        // At 17.5 s packets 2–4 (due at 13, 14, 15 s) are later than Timeout: skipped, not sent (RFC 4656 §4.1.1);
        // packet 5 (16 s) is 1.5 s late, within Timeout: it leaves.
        clock.Advance(TimeSpan.FromSeconds(5));
        SessionDescription done = await sender.Completion.DefaultTimeout();
        Assert.Equal(6u, done.NextSeqno);
        Assert.Equal([new SkipRange(2, 4)], done.SkipRanges);
        await TaskTimeouts.UntilAsync(() => sink.Sequences.Count == 3);
        Assert.Equal([0u, 1u, 5u], sink.Sequences.ToArray());
        Assert.Same(done, sender.Stop());
        Assert.Equal(0, engine.SessionCount);
    }

    [Fact]
    public async Task OwampSender_StoppedMidSession_NextSeqnoIsWhatLeft_SocketReleased()
    {
        using var engine = new SessionEngine(1, TimeProvider.System);
        using var sink = new Sink();
        UdpTestSocket socket = OpenSocket();
        socket.Connect(sink.EndPoint);
        var sender = new OwampSender(socket, OwampSpec(10_000, 0.002, 0, 2), null, engine);
        sender.Start();
        await TaskTimeouts.UntilAsync(() => sink.Sequences.Count >= 5);
        SessionDescription stopped = sender.Stop();
        Assert.InRange(stopped.NextSeqno, 5u, 9_999u);
        Assert.Empty(stopped.SkipRanges);
        Assert.Equal(0, engine.SessionCount);
        sender.Dispose();
        // What left is exactly 0 … Next Seqno − 1, each once.
        await TaskTimeouts.UntilAsync(() => sink.Sequences.Count == (int)stopped.NextSeqno);
        Assert.Equal(Enumerable.Range(0, (int)stopped.NextSeqno).Select(i => (uint)i), sink.Sequences.Order());
    }
}
