using System.Net;
using Ippm.Security;
using Ippm.Sessions.Engine;
using Ippm.Sessions.Time;
using Ippm.Sessions.Transport;
using Ippm.Wire;
using Ippm.Wire.Test;
using Microsoft.Extensions.Logging;

namespace Ippm.Sessions.Twamp;

/// <summary>
/// The Session-Reflector of one TWAMP test session (RFC 5357 §4.2). A loop of the shared <see cref="SessionEngine"/>
/// (or, where there is none, a dedicated thread) receives, timestamps, and answers each packet: Receive Timestamp from the kernel, Timestamp right before the
/// send, the reflector's own sequence numbers, Sender TTL from the IP header, replies sized
/// max(received, reflector header) as perfSONAR does. Malformed and unauthenticated packets are
/// counted and dropped; they never end the session. With the negotiated features (<see cref="TwampReflectorFeatures"/>)
/// it also reports the TOS octet it received (RFC 7750), reads the symmetrical sender format and answers at the
/// sender's size (RFC 6038 Symmetrical Size), and returns the requested octets of the sender's padding at the
/// start of its own, padding replies to the requested length (RFC 6038 Reflect Octets).
/// </summary>
public sealed partial class TwampReflector : EngineSession, IDisposable
{
    private const int BatchSize = 64;

    /// <summary>0, 1, …, 63: a dedicated socket's batch answers every slot it received, in order.</summary>
    private static readonly int[] EverySlot = Enumerable.Range(0, BatchSize).ToArray();

    private readonly UdpTestSocket? _socket;
    private readonly SharedPortLease? _lease;
    private readonly SecurityMode _mode;
    private readonly TestPacketCipher? _cipher;
    private readonly TimeSpan _refWait;
    private readonly ILogger _logger;
    private readonly TwampReflectorFeatures _features;
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SessionEngine? _engine;
    private readonly EngineLoop? _sharedLoop;
    private readonly bool _protectedLayout;
    private readonly int _requestedReplyPadding;
    private readonly int _slotSize;
    private readonly int _batchSize;
    private readonly int _replySlotSize;
    private readonly int _wireOverhead;
    private Thread? _thread;
    private bool _started;
    private int _ended;
    private long _stopAtTicks = long.MaxValue;
    private volatile bool _disposed;

    // Loop-thread (or reflector-thread) state.
    private uint _sequence;
    private double _bucketBits;
    private long _bucketTicks;
    private long _lastPacketMs;
    private long _stopAtMs = long.MaxValue;
    private int _engineBatch = 4;

    private long _reflected;
    private long _sendFailed;
    private long _malformed;
    private long _badHmac;
    private long _oversized;

    /// <summary>
    /// What one reflector costs the server on the session engine, whatever its packet size: the reflector, its socket
    /// object and keys (resident memory measured at 7–10 KiB per idle session with <c>ippm bench sessions</c>, rounded
    /// up). Its batch buffers are not its own: the loop holds one set per size class, shared by every session of the
    /// class, at most a few MiB per loop however many sessions there are.
    /// </summary>
    public const long EngineSessionBytes = 16 << 10;

    /// <summary>
    /// Octets a reflector for <paramref name="expectedPacketLength"/>-octet packets makes the server hold, charged to the
    /// source's memory share: <see cref="EngineSessionBytes"/> on the session engine (<paramref name="onEngine"/>); on a
    /// dedicated thread, its own receive and send batches (about 256–512 KiB).
    /// </summary>
    public static long BufferBytes(int expectedPacketLength, bool protectedLayout, bool onEngine)
    {
        if (onEngine)
        {
            return EngineSessionBytes;
        }
        (int slotSize, int batchSize) = BufferShape(expectedPacketLength);
        return (long)batchSize * (2L * slotSize + TestPacketLayout.ReflectorHeader(protectedLayout));
    }

    /// <summary>
    /// Receive slots fit the expected packet (larger datagrams arrive truncated and are dropped); fewer slots for
    /// large packets, so a session's buffers stay near 512 KiB whatever padding it asked for.
    /// </summary>
    private static (int SlotSize, int BatchSize) BufferShape(int expectedPacketLength)
    {
        int slotSize = Math.Clamp(expectedPacketLength + 64, 2048, 65536);
        return (slotSize, Math.Clamp((256 << 10) / slotSize, 1, BatchSize));
    }

    /// <param name="expectedPacketLength">Sender header plus the requested padding: sizes the receive buffers.</param>
    /// <param name="engine">
    /// The engine to run on; null for <see cref="SessionEngine.Shared"/>. Where there is no engine (not Linux,
    /// <c>IPPM_SESSION_ENGINE=0</c>) or the socket cannot batch, the reflector runs on a thread of its own.
    /// </param>
    public TwampReflector(UdpTestSocket socket, SessionId sid, SecurityMode mode, TestPacketCipher? cipher, IPEndPoint sender, TimeSpan refWait, int expectedPacketLength, ILogger logger, TwampReflectorFeatures? features = null, SessionEngine? engine = null)
        : this(sid, mode, cipher, sender, refWait, expectedPacketLength, logger, features, socket.LocalEndPoint.AddressFamily)
    {
        _engine = socket.IsNative ? engine ?? SessionEngine.Shared : null;
        _socket = socket;
        Port = socket.LocalEndPoint.Port;
        socket.Connect(sender);
    }

    /// <summary>
    /// A reflector on a <see cref="SharedReflectorPort"/> (<paramref name="lease"/>, for <paramref name="sender"/>): it runs
    /// on the port's loop, which hands it its sender's datagrams; replies carry <paramref name="replyTrafficClass"/>
    /// (the requested DSCP, &lt;&lt; 2), -1 for none. Only for sessions that <see cref="FitsSharedPort"/>.
    /// </summary>
    public TwampReflector(SharedPortLease lease, SessionId sid, SecurityMode mode, TestPacketCipher? cipher, IPEndPoint sender, TimeSpan refWait, int expectedPacketLength, ILogger logger, TwampReflectorFeatures? features, int replyTrafficClass)
        : this(sid, mode, cipher, sender, refWait, expectedPacketLength, logger, features, lease.Port.LocalEndPoint.AddressFamily)
    {
        if (!FitsSharedPort(expectedPacketLength, features) || lease.Port.Loop is null)
        {
            throw new ArgumentException("the session's packets do not fit a shared port's slots", nameof(expectedPacketLength));
        }
        _lease = lease;
        _sharedLoop = lease.Port.Loop;
        Port = lease.Port.Port;
        ReplyTrafficClass = replyTrafficClass;
    }

    /// <summary>Whether a session's packets and replies fit <see cref="SharedReflectorPort"/>'s slots.</summary>
    public static bool FitsSharedPort(int expectedPacketLength, TwampReflectorFeatures? features)
    {
        (int slotSize, _) = BufferShape(expectedPacketLength);
        int reflectorHeader = features?.Format.ReflectorHeader ?? TestPacketLayout.ReflectorHeader(true);
        int replyPadding = Math.Max(features?.PaddingToReflect ?? 0, features?.ReflectOctets ?? 0);
        return slotSize <= SharedReflectorPort.ReceiveSlot && Math.Max(slotSize, replyPadding) + reflectorHeader <= SharedReflectorPort.ReplySlot;
    }

    private TwampReflector(SessionId sid, SecurityMode mode, TestPacketCipher? cipher, IPEndPoint sender, TimeSpan refWait, int expectedPacketLength, ILogger logger, TwampReflectorFeatures? features, System.Net.Sockets.AddressFamily family)
    {
        _features = features ?? new TwampReflectorFeatures(new TwampTestFormat(mode.ProtectsTestPackets(), false, false), 0, 0);
        _protectedLayout = mode.ProtectsTestPackets();
        // RFC 6038 Reflect Octets: replies carry at least the reflected octets, and the requested padding length.
        _requestedReplyPadding = _features.PaddingToReflect > 0 || _features.ReflectOctets > 0
            ? Math.Max(_features.PaddingToReflect, _features.ReflectOctets)
            : -1;
        (_slotSize, _batchSize) = BufferShape(expectedPacketLength);
        _replySlotSize = Math.Max(_slotSize, _requestedReplyPadding) + _features.Format.ReflectorHeader;
        _wireOverhead = (family == System.Net.Sockets.AddressFamily.InterNetworkV6 ? 40 : 20) + 8;
        Sid = sid;
        _mode = mode;
        _cipher = cipher;
        _refWait = refWait;
        _logger = logger;
        Sender = sender;
    }

    public SessionId Sid { get; }
    public IPEndPoint Sender { get; }
    public int Port { get; }

    /// <summary>The TOS octet a shared port sends this session's replies with (-1: the socket's default, 0).</summary>
    public int ReplyTrafficClass { get; } = -1;

    public long Reflected => Interlocked.Read(ref _reflected);

    /// <summary>Replies the kernel refused to send (counted apart, never as reflected).</summary>
    public long SendFailed => Interlocked.Read(ref _sendFailed);
    public long Malformed => Interlocked.Read(ref _malformed);
    public long BadHmac => Interlocked.Read(ref _badHmac);

    /// <summary>Datagrams larger than the session's packets (truncated by the kernel: MSG_TRUNC), dropped unanswered.</summary>
    public long Oversized => Interlocked.Read(ref _oversized);
    /// <summary>
    /// The limits class's bandwidth in bits per second (0: none). Test packets beyond it are not reflected and counted
    /// in <see cref="OverBandwidth"/>; a token bucket one second deep, refilled per receive batch.
    /// </summary>
    public ulong BandwidthLimit { get; set; }

    public long OverBandwidth => Interlocked.Read(ref _overBandwidth);

    private long _overBandwidth;

    /// <summary>Completes when the reflector has ended (socket closed, keys disposed).</summary>
    public Task Completion => _completion.Task;

    /// <summary>True once <see cref="Start"/> ran (RFC 5938 bookkeeping: Start-N for a running session is refused).</summary>
    public bool Started => _started;

    /// <summary>Whether the reflector runs on an engine loop rather than a thread of its own.</summary>
    public bool OnEngine => _engine is not null || _sharedLoop is not null;

    public void Start()
    {
        _started = true;
        _bucketBits = BandwidthLimit;
        _bucketTicks = System.Diagnostics.Stopwatch.GetTimestamp();
        if (_sharedLoop is not null)
        {
            _sharedLoop.Add(this);
            return;
        }
        if (_engine is not null)
        {
            _engine.Add(this);
            return;
        }
        _thread = new Thread(Run) { IsBackground = true, Name = $"twamp-reflector {Port}", Priority = ThreadPriority.AboveNormal };
        _thread.Start();
    }

    /// <summary>Keeps reflecting for <paramref name="linger"/> (the session Timeout) after Stop-Sessions, then ends.</summary>
    public void StopAfter(TimeSpan linger)
    {
        if (!_started)
        {
            Dispose();
            return;
        }
        if (Loop is EngineLoop loop)
        {
            // The linger counts from now, as on a thread of its own, not from when the loop gets to it.
            long stopAt = linger <= TimeSpan.Zero ? 0 : loop.NowMs + (long)linger.TotalMilliseconds;
            loop.Post(() => StopOnLoop(loop, stopAt));
            return;
        }
        Interlocked.Exchange(ref _stopAtTicks, Environment.TickCount64 + (long)linger.TotalMilliseconds);
    }

    private void Run()
    {
        using var buffers = new BatchBuffers(_batchSize, _slotSize, _replySlotSize);
        buffers.Received.ReceiveLength = _slotSize;
        long lastPacketTicks = Environment.TickCount64;
        try
        {
            while (!_disposed)
            {
                int count = _socket!.ReceiveBatch(buffers.Received, _batchSize);
                if (count == 0)
                {
                    long now = Environment.TickCount64;
                    if (now >= Interlocked.Read(ref _stopAtTicks))
                    {
                        break;
                    }
                    if (now - lastPacketTicks > _refWait.TotalMilliseconds)
                    {
                        Log.RefWaitExpired(_logger, Sid, _refWait.TotalSeconds);
                        break;
                    }
                    continue;
                }
                lastPacketTicks = Environment.TickCount64;
                if (lastPacketTicks >= Interlocked.Read(ref _stopAtTicks))
                {
                    break;
                }
                ReflectBatch(buffers, count, wait: true);
            }
        }
        catch (ObjectDisposedException) when (_disposed)
        {
        }
        catch (Exception e)
        {
            Log.ReflectorFailed(_logger, e, Sid);
        }
        finally
        {
            End();
        }
    }

    /// <summary>
    /// Answers the <paramref name="count"/> datagrams in <paramref name="buffers"/>.Received on the session's own socket:
    /// the three steps a shared port takes for several sessions at once, for one. Per batch, nothing allocates.
    /// </summary>
    private void ReflectBatch(BatchBuffers buffers, int count, bool wait)
    {
        int ready = PrepareReplies(buffers, EverySlot.AsSpan(0, count), 0);
        SystemClock clock = SystemClock.Instance;
        FinishReplies(buffers, 0, ready, clock.Now(), clock.ErrorEstimate);
        _socket!.SendBatch(buffers.Send, ready, wait, buffers.SendFailed);
        CountSent(buffers, 0, ready);
    }

    /// <summary>Logs the totals, releases the socket and the keys, completes <see cref="Completion"/>: once.</summary>
    private void End()
    {
        if (Interlocked.Exchange(ref _ended, 1) != 0)
        {
            return;
        }
        Log.Ended(_logger, Sid, Reflected, SendFailed, Malformed, BadHmac, Oversized);
        if (OverBandwidth > 0)
        {
            Log.OverBandwidth(_logger, Sid, OverBandwidth, BandwidthLimit);
        }
        Telemetry.ServerMetrics.SessionTotals(twamp: true, Reflected, Malformed, BadHmac);
        _socket?.Dispose();
        _lease?.Dispose();
        _cipher?.Dispose();
        _completion.TrySetResult();
    }

    // Session engine: the same reflector, driven by an EngineLoop instead of a thread of its own.

    protected internal override UdpTestSocket? EngineSocket => _socket;

    protected internal override void OnAdded(EngineLoop loop)
    {
        _lastPacketMs = loop.NowMs;
        _lease?.Port.Attach(_lease.Sender, this);
        ArmDeadline(loop);
    }

    /// <summary>
    /// The shared port read datagrams of this session (loop thread): they count for REFWAIT as on a socket of its own,
    /// and after the linger they are no longer answered. False: the session has ended, the datagrams are dropped.
    /// </summary>
    internal bool TakeDatagrams(EngineLoop loop)
    {
        long now = loop.NowMs;
        _lastPacketMs = now;
        if (now >= _stopAtMs)
        {
            loop.Remove(this);
            return false;
        }
        return true;
    }

    protected internal override void OnReadable(EngineLoop loop)
    {
        BatchBuffers buffers = loop.Buffers(_slotSize, _replySlotSize);
        buffers.Received.ReceiveLength = _slotSize;
        int count = _socket!.ReceiveBatch(buffers.Received, _engineBatch, wait: false);
        if (count == 0)
        {
            return;
        }
        // recvmmsg prepares every slot it is offered: a slow session (one datagram a wake-up) is offered a few, a busy
        // one up to the whole batch; a full read doubles the offer, a read of a quarter or less halves it.
        if (count == _engineBatch)
        {
            _engineBatch = Math.Min(_engineBatch * 2, _batchSize);
        }
        else if (count * 4 <= _engineBatch)
        {
            _engineBatch = Math.Max(_engineBatch / 2, Math.Min(4, _batchSize));
        }
        long now = loop.NowMs;
        _lastPacketMs = now;
        if (now >= _stopAtMs)
        {
            loop.Remove(this);
            return;
        }
        ReflectBatch(buffers, count, wait: false);
    }

    protected internal override void OnTimer(EngineLoop loop, long nowMs)
    {
        if (nowMs >= _stopAtMs)
        {
            loop.Remove(this);
            return;
        }
        if (nowMs - _lastPacketMs >= (long)_refWait.TotalMilliseconds)
        {
            Log.RefWaitExpired(_logger, Sid, _refWait.TotalSeconds);
            loop.Remove(this);
            return;
        }
        ArmDeadline(loop);
    }

    /// <summary>
    /// One deadline per session, the earlier of REFWAIT after the last packet and the end of the linger. Packets do
    /// not re-arm it: when it fires early (packets came meanwhile), <see cref="OnTimer"/> arms the new one.
    /// </summary>
    private void ArmDeadline(EngineLoop loop)
    {
        long refWaitDue = _lastPacketMs + (long)_refWait.TotalMilliseconds;
        loop.Schedule(this, Math.Min(refWaitDue, _stopAtMs));
    }

    protected internal override void OnRemoved(Exception? failure)
    {
        if (failure is not null and not ObjectDisposedException)
        {
            Log.ReflectorFailed(_logger, failure, Sid);
        }
        _lease?.Port.Detach(_lease.Sender, this);
        End();
    }

    private void StopOnLoop(EngineLoop loop, long stopAt)
    {
        if (stopAt <= loop.NowMs)
        {
            loop.Remove(this);
            return;
        }
        if (stopAt < _stopAtMs)
        {
            _stopAtMs = stopAt;
            if (Slot >= 0)
            {
                ArmDeadline(loop);
            }
        }
    }

    public void Dispose()
    {
        _disposed = true;
        if (Loop is EngineLoop loop)
        {
            loop.Post(() => loop.Remove(this));
            return;
        }
        if (_thread is null)
        {
            End();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 309, Level = LogLevel.Warning, Message = "TWAMP session {Sid}: {Count} test packet(s) not reflected: over the limits class bandwidth {Limit} bit/s")]
        public static partial void OverBandwidth(ILogger logger, SessionId sid, long count, ulong limit);

        [LoggerMessage(EventId = 300, Level = LogLevel.Debug, Message = "Session {Sid}: dropped a {Length}-octet datagram, shorter than the {Header}-octet sender header")]
        public static partial void ShortPacket(ILogger logger, SessionId sid, int length, int header);

        [LoggerMessage(EventId = 301, Level = LogLevel.Debug, Message = "Session {Sid}: dropped a {Length}-octet test packet whose HMAC does not verify")]
        public static partial void BadHmac(ILogger logger, SessionId sid, int length);

        [LoggerMessage(EventId = 302, Level = LogLevel.Information, Message = "Session {Sid}: no test packet for REFWAIT {Seconds} s; reflector stopped")]
        public static partial void RefWaitExpired(ILogger logger, SessionId sid, double seconds);

        [LoggerMessage(EventId = 303, Level = LogLevel.Information, Message = "Session {Sid}: reflector ended: {Reflected} reflected, {SendFailed} not sent, {Malformed} malformed, {BadHmac} bad HMAC, {Oversized} oversized")]
        public static partial void Ended(ILogger logger, SessionId sid, long reflected, long sendFailed, long malformed, long badHmac, long oversized);

        [LoggerMessage(EventId = 306, Level = LogLevel.Debug, Message = "Session {Sid}: dropped a datagram larger than the {Slot}-octet buffer (truncated by the kernel)")]
        public static partial void Oversized(ILogger logger, SessionId sid, int slot);

        [LoggerMessage(EventId = 304, Level = LogLevel.Error, Message = "Session {Sid}: reflector failed")]
        public static partial void ReflectorFailed(ILogger logger, Exception exception, SessionId sid);

        [LoggerMessage(EventId = 305, Level = LogLevel.Warning, Message = "Session {Sid}: send failed: {Error}")]
        public static partial void SendFailed(ILogger logger, SessionId sid, string error);
    }
}

/// <summary>What a session negotiated beyond RFC 5357: packet format, and RFC 6038's Reflect Octets request.</summary>
/// <param name="Format">Layouts under Symmetrical Size and DSCP/ECN Monitoring.</param>
/// <param name="ReflectOctets">Octets of the sender's padding to return at the start of the reply's padding (0: none).</param>
/// <param name="PaddingToReflect">Padding length of the replies (0: as without the feature).</param>
public sealed record TwampReflectorFeatures(TwampTestFormat Format, ushort ReflectOctets, ushort PaddingToReflect);
