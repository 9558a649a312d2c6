using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.InteropServices;
using Ippm.Sessions.Transport;
using Microsoft.Extensions.Logging;

namespace Ippm.Sessions.Engine;

/// <summary>
/// One I/O thread serving many test sockets: epoll (level-triggered) says which sockets are readable, each ready
/// session reads at most one batch per round, and deadlines (REFWAIT, the linger after Stop-Sessions) sit in a heap
/// that sets the epoll_wait timeout, so an idle session costs no wake-up at all. Other threads reach the loop only
/// through <see cref="Post"/> (a queue and an eventfd), so sessions are added, stopped and removed on the loop thread
/// and a socket is never closed while the loop may still read it.
/// </summary>
public sealed unsafe partial class EngineLoop : IDisposable
{
    private const int MaxEvents = 256;
    private const ulong WakeToken = ulong.MaxValue;

    /// <summary>Longest epoll_wait with the system clock; a fake clock is looked at every few milliseconds.</summary>
    private const int MaxWaitMs = 60_000;
    private const int FakeClockWaitMs = 5;

    /// <summary>Sessions a loop must carry before it coalesces wake-ups: a few sessions batch by themselves.</summary>
    public const int CoalesceMinSessions = 16;

    /// <summary>Ready sessions in one round from which the next wait is not delayed: the round was batched enough.</summary>
    public const int CoalesceReadyTarget = 16;

    private readonly int _epoll;
    private readonly int _wake;
    private readonly Thread _thread;
    private readonly ConcurrentQueue<Action> _commands = new();
    private readonly PriorityQueue<EngineSession, long> _timers = new();
    private readonly Stack<int> _freeSlots = new();
    private readonly Dictionary<(int Receive, int Send, bool Addressed), BatchBuffers> _buffers = [];
    private readonly TimeProvider _time;
    private readonly long _origin;
    private readonly bool _systemClock;
    private readonly ILogger _logger;
    private readonly byte* _events;
    private EngineSession?[] _slots = new EngineSession?[64];
    private uint[] _generations = new uint[64];
    private int _slotCount;
    private int _sessionCount;
    private int _wakePending;
    private long _rounds;
    private long _coalescedRounds;
    private long _coalesceNs;
    private bool _coalesceNext;
    private int _roundDatagrams;
    private long _timerNow;
    private volatile bool _stopping;
    private bool _disposed;

    internal EngineLoop(int index, TimeProvider time, ILogger logger)
    {
        Index = index;
        _time = time;
        _origin = time.GetTimestamp();
        _systemClock = ReferenceEquals(time, TimeProvider.System);
        _logger = logger;
        _epoll = EpollNative.epoll_create1(EpollNative.EpollCloexec);
        if (_epoll < 0)
        {
            throw new InvalidOperationException($"epoll_create1 failed: errno {Marshal.GetLastSystemError()}");
        }
        _wake = EpollNative.eventfd(0, EpollNative.EfdNonblock | EpollNative.EfdCloexec);
        if (_wake < 0 || EpollNative.Control(_epoll, EpollNative.EpollCtlAdd, _wake, EpollNative.EpollIn, WakeToken) < 0)
        {
            int errno = Marshal.GetLastSystemError();
            EpollNative.close(_epoll);
            throw new InvalidOperationException($"eventfd failed: errno {errno}");
        }
        _events = (byte*)NativeMemory.AllocZeroed((nuint)(MaxEvents * EpollNative.EventSize));
        _thread = new Thread(Run) { IsBackground = true, Name = $"ippm-engine {index}", Priority = ThreadPriority.AboveNormal };
        _thread.Start();
    }

    public int Index { get; }

    /// <summary>Sessions placed on this loop and not yet removed (read from any thread).</summary>
    public int SessionCount => Volatile.Read(ref _sessionCount);

    /// <summary>epoll_wait returns so far: how often the loop woke (idle cost).</summary>
    public long Rounds => Volatile.Read(ref _rounds);

    /// <summary>Rounds whose wait was delayed by the coalescing window (see <see cref="CoalesceMicroseconds"/>).</summary>
    public long CoalescedRounds => Volatile.Read(ref _coalescedRounds);

    /// <summary>
    /// Wake-up coalescing window in microseconds (0: off; any thread may set it). After a round that served only a
    /// few ready sessions (fewer than <see cref="CoalesceReadyTarget"/>) while the loop carries many
    /// (<see cref="CoalesceMinSessions"/> or more), the loop sleeps this long before its next epoll_wait, so the
    /// packets of several slow sessions are served in one wake-up instead of one wake-up each. A round that served no
    /// session (idle, a timer, a command) never delays the next wait, so an idle loop still blocks without waking, and
    /// a loop with a few sessions (one fast session batches by itself) is never delayed. The delay is part of the
    /// reflector's hold time T3 − T2, which the reply reports and the sender subtracts (RFC 5357 §4.2.1).
    /// </summary>
    public int CoalesceMicroseconds
    {
        get => (int)(Volatile.Read(ref _coalesceNs) / 1000);
        set => Volatile.Write(ref _coalesceNs, Math.Clamp(value, 0, 100_000) * 1000L);
    }

    /// <summary>
    /// A session that reads the datagrams of many peers in one readiness (a shared port) says how many it read, so the
    /// coalescing decision counts datagrams served, not sockets (loop thread only).
    /// </summary>
    public void CountDatagrams(int count) => _roundDatagrams += Math.Max(0, count - 1);

    /// <summary>The managed thread id of the loop (tests compare it with where callbacks run).</summary>
    public int ManagedThreadId => _thread.ManagedThreadId;

    /// <summary>The loop's clock in milliseconds since it started, from its <see cref="TimeProvider"/>.</summary>
    public long NowMs => (long)Now.TotalMilliseconds;

    /// <summary>The loop's clock since it started (100 ns resolution): what <see cref="ScheduleAt"/> deadlines are on.</summary>
    public TimeSpan Now => _time.GetElapsedTime(_origin);

    public bool OnLoopThread => Environment.CurrentManagedThreadId == _thread.ManagedThreadId;

    /// <summary>Runs <paramref name="action"/> on the loop thread, soon (commands run before the next wait).</summary>
    public void Post(Action action)
    {
        _commands.Enqueue(action);
        if (Interlocked.Exchange(ref _wakePending, 1) == 0)
        {
            ulong one = 1;
            EpollNative.write(_wake, &one, sizeof(ulong));
        }
    }

    /// <summary>
    /// Places <paramref name="session"/> on this loop (rather than the one <see cref="SessionEngine.Add"/> would choose):
    /// a session fed by another must share its loop. It is registered shortly, on the loop thread.
    /// </summary>
    public void Add(EngineSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        if (session.Loop is not null && !ReferenceEquals(session.Loop, this))
        {
            throw new InvalidOperationException("the session is already on another loop");
        }
        session.Loop = this;
        Interlocked.Increment(ref _sessionCount);
        Post(() => Register(session));
    }

    private void Register(EngineSession session)
    {
        if (_stopping)
        {
            Interlocked.Decrement(ref _sessionCount);
            session.OnRemoved(new ObjectDisposedException(nameof(EngineLoop)));
            return;
        }
        int slot = _freeSlots.Count > 0 ? _freeSlots.Pop() : _slotCount++;
        if (slot >= _slots.Length)
        {
            Array.Resize(ref _slots, _slots.Length * 2);
            Array.Resize(ref _generations, _generations.Length * 2);
        }
        uint generation = ++_generations[slot];
        _slots[slot] = session;
        session.Slot = slot;
        session.Generation = generation;
        if (session.EngineSocket is UdpTestSocket socket
            && EpollNative.Control(_epoll, EpollNative.EpollCtlAdd, socket.Handle, EpollNative.EpollIn, ((ulong)generation << 32) | (uint)slot) < 0)
        {
            int errno = Marshal.GetLastSystemError();
            Release(session);
            Interlocked.Decrement(ref _sessionCount);
            session.OnRemoved(new InvalidOperationException($"epoll_ctl ADD failed: errno {errno}"));
            return;
        }
        Invoke(session, static (s, loop) => s.OnAdded(loop));
    }

    /// <summary>
    /// Takes <paramref name="session"/> off the loop (loop thread only): the socket leaves the epoll set first, then
    /// the session releases it in <see cref="EngineSession.OnRemoved"/>. Events already returned for it are ignored.
    /// </summary>
    public void Remove(EngineSession session, Exception? failure = null)
    {
        if (session.Slot < 0 || !ReferenceEquals(_slots[session.Slot], session))
        {
            return;
        }
        if (session.EngineSocket is UdpTestSocket socket)
        {
            EpollNative.Control(_epoll, EpollNative.EpollCtlDel, socket.Handle, 0, 0);
        }
        Release(session);
        Interlocked.Decrement(ref _sessionCount);
        try
        {
            session.OnRemoved(failure);
        }
        catch (Exception e)
        {
            Log.SessionFailed(_logger, e, Index);
        }
    }

    private void Release(EngineSession session)
    {
        _slots[session.Slot] = null;
        _generations[session.Slot]++;
        _freeSlots.Push(session.Slot);
        session.Slot = -1;
        session.TimerDue = long.MaxValue;
    }

    /// <summary>
    /// Arms the session's one deadline at <paramref name="dueMs"/> (loop clock), replacing any earlier one
    /// (loop thread only). Superseded heap entries are skipped when they surface.
    /// </summary>
    public void Schedule(EngineSession session, long dueMs) =>
        ScheduleTicks(session, dueMs >= long.MaxValue / TimeSpan.TicksPerMillisecond ? long.MaxValue : dueMs * TimeSpan.TicksPerMillisecond);

    /// <summary>
    /// As <see cref="Schedule"/>, to the loop clock's resolution (<see cref="Now"/>): the wait is an epoll_pwait2
    /// timespec, not whole milliseconds, so a sender's packet can be due between two milliseconds.
    /// </summary>
    public void ScheduleAt(EngineSession session, TimeSpan due) => ScheduleTicks(session, due.Ticks);

    private void ScheduleTicks(EngineSession session, long dueTicks)
    {
        if (session.Slot < 0)
        {
            return;
        }
        session.TimerDue = dueTicks;
        _timers.Enqueue(session, dueTicks);
    }

    /// <summary>
    /// The loop's buffers for datagrams up to <paramref name="receiveSlot"/> and replies up to <paramref name="sendSlot"/>
    /// octets (loop thread only); <paramref name="addressed"/>: each slot also carries its peer's address (an
    /// unconnected socket serving many peers).
    /// </summary>
    public BatchBuffers Buffers(int receiveSlot, int sendSlot, bool addressed = false)
    {
        int receive = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(receiveSlot, 2048));
        int send = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(sendSlot, 2048));
        if (!_buffers.TryGetValue((receive, send, addressed), out BatchBuffers? buffers))
        {
            buffers = new BatchBuffers(BatchCapacity(receive), receive, send, addressed);
            _buffers[(receive, send, addressed)] = buffers;
        }
        return buffers;
    }

    /// <summary>Up to 64 datagrams a batch, fewer for large slots so a size class stays near 256 KiB.</summary>
    public static int BatchCapacity(int slotSize) => Math.Clamp((256 << 10) / slotSize, 1, 64);

    private void Run()
    {
        EpollNative.PreciseTimers();
        try
        {
            while (!_stopping)
            {
                if (_coalesceNext)
                {
                    _coalesceNext = false;
                    long window = Volatile.Read(ref _coalesceNs);
                    long untilDeadline = WaitTimeout();
                    if (untilDeadline >= 0)
                    {
                        // A sender's packet due within the window leaves on time: the window never outlasts a deadline.
                        window = Math.Min(window, untilDeadline * 100);
                    }
                    if (window > 0 && _commands.IsEmpty)
                    {
                        EpollNative.SleepNanoseconds(window);
                        Volatile.Write(ref _coalescedRounds, _coalescedRounds + 1);
                    }
                }
                RunCommands();
                int ready = EpollNative.Wait(_epoll, _events, MaxEvents, WaitTimeout());
                Volatile.Write(ref _rounds, _rounds + 1); // the loop is the one writer
                if (ready < 0)
                {
                    int errno = Marshal.GetLastSystemError();
                    if (errno == EpollNative.EIntr)
                    {
                        continue;
                    }
                    Log.WaitFailed(_logger, Index, errno);
                    Thread.Sleep(10);
                    continue;
                }
                int served = 0;
                _roundDatagrams = 0;
                for (int i = 0; i < ready; i++)
                {
                    if (EpollNative.Event(_events, i).Data == WakeToken)
                    {
                        // Drain first, then re-arm (a full fence, before RunCommands reads the queue): a Post that
                        // comes after the re-arm writes the eventfd again; one before it is already in the queue.
                        // The other order could swallow a Post's write and leave the flag set, and the loop asleep.
                        ulong drained;
                        EpollNative.read(_wake, &drained, sizeof(ulong));
                        Interlocked.Exchange(ref _wakePending, 0);
                        // Commands before the sockets of the same round: what was posted before a datagram was sent
                        // (a session attached to a shared port before its Start-Ack) is in place when it is read.
                        RunCommands();
                        break;
                    }
                }
                for (int i = 0; i < ready; i++)
                {
                    (_, ulong data) = EpollNative.Event(_events, i);
                    if (data == WakeToken)
                    {
                        continue;
                    }
                    int slot = (int)(uint)data;
                    uint generation = (uint)(data >> 32);
                    if (slot < _slotCount && _generations[slot] == generation && _slots[slot] is EngineSession session)
                    {
                        Invoke(session, static (s, loop) => s.OnReadable(loop));
                        served++;
                    }
                }
                RunTimers();
                served += _roundDatagrams;
                _coalesceNext = served > 0 && served < CoalesceReadyTarget && _sessionCount >= CoalesceMinSessions;
            }
        }
        catch (Exception e)
        {
            Log.LoopFailed(_logger, e, Index);
        }
        finally
        {
            RunCommands();
            for (int slot = 0; slot < _slotCount; slot++)
            {
                if (_slots[slot] is EngineSession session)
                {
                    Remove(session, new ObjectDisposedException(nameof(EngineLoop)));
                }
            }
        }
    }

    /// <summary>How long the next wait may last, in ticks of 100 ns; -1: until an event.</summary>
    private long WaitTimeout()
    {
        if (!_commands.IsEmpty)
        {
            return 0;
        }
        long cap = (_systemClock ? MaxWaitMs : FakeClockWaitMs) * TimeSpan.TicksPerMillisecond;
        while (_timers.TryPeek(out EngineSession? session, out long due))
        {
            if (session.TimerDue != due || session.Slot < 0)
            {
                _timers.Dequeue(); // superseded or removed
                continue;
            }
            return Math.Clamp(due - Now.Ticks, 0, cap);
        }
        return _systemClock ? -1 : cap;
    }

    private void RunTimers()
    {
        if (_timers.Count == 0)
        {
            return;
        }
        long now = Now.Ticks;
        while (_timers.TryPeek(out EngineSession? session, out long due) && due <= now)
        {
            _timers.Dequeue();
            if (session.TimerDue != due || session.Slot < 0)
            {
                continue;
            }
            session.TimerDue = long.MaxValue;
            _timerNow = now / TimeSpan.TicksPerMillisecond;
            Invoke(session, static (s, loop) => s.OnTimer(loop, loop._timerNow));
        }
    }

    private void RunCommands()
    {
        while (_commands.TryDequeue(out Action? command))
        {
            try
            {
                command();
            }
            catch (Exception e)
            {
                Log.SessionFailed(_logger, e, Index);
            }
        }
    }

    /// <summary>A session that throws is removed with the exception; the loop and every other session go on.</summary>
    private void Invoke(EngineSession session, Action<EngineSession, EngineLoop> callback)
    {
        try
        {
            callback(session, this);
        }
        catch (Exception e)
        {
            Remove(session, e);
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _stopping = true;
        Post(static () => { });
        if (!OnLoopThread)
        {
            _thread.Join();
        }
        foreach (BatchBuffers buffers in _buffers.Values)
        {
            buffers.Dispose();
        }
        _buffers.Clear();
        EpollNative.close(_wake);
        EpollNative.close(_epoll);
        NativeMemory.Free(_events);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 390, Level = LogLevel.Error, Message = "Session engine loop {Loop}: a session callback failed")]
        public static partial void SessionFailed(ILogger logger, Exception exception, int loop);

        [LoggerMessage(EventId = 391, Level = LogLevel.Error, Message = "Session engine loop {Loop}: epoll_wait failed, errno {Errno}")]
        public static partial void WaitFailed(ILogger logger, int loop, int errno);

        [LoggerMessage(EventId = 392, Level = LogLevel.Critical, Message = "Session engine loop {Loop} failed; its sessions end")]
        public static partial void LoopFailed(ILogger logger, Exception exception, int loop);
    }
}
