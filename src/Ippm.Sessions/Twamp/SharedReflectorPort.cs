using System.Net;
using Ippm.Sessions.Engine;
using Ippm.Sessions.Time;
using Ippm.Sessions.Transport;
using Ippm.Wire;
using Microsoft.Extensions.Logging;

namespace Ippm.Sessions.Twamp;

/// <summary>
/// One unconnected UDP port on an engine loop that carries the test packets of many TWAMP sessions, told apart by the
/// sender's address and port exactly as a reflector's connected socket tells them apart (RFC 5357 §4.2 only asks that
/// the reflector answer the sender it was told of). One recvmmsg reads the packets of many slow sessions, each
/// session's <see cref="TwampReflector"/> answers its own as on a socket of its own (checks, keys, counters, bandwidth),
/// and one sendmmsg sends every reply with one Timestamp taken right before it. This is what makes 2 000 sessions at
/// 10 packets/s cheap: with a socket each, every packet costs its own wake-up, receive and send.
/// Sessions whose packets do not fit the port's slots, or that asked for a port of their own, keep a socket of their own.
/// </summary>
public sealed partial class SharedReflectorPort : EngineSession
{
    /// <summary>Receive slot: test packets up to this size (sender header plus padding, with 64 octets to spare) share a port.</summary>
    public const int ReceiveSlot = 2048;

    /// <summary>Reply slot (the loop's size class): replies up to this size.</summary>
    public const int ReplySlot = 4096;

    private readonly UdpTestSocket _socket;
    private readonly ILogger _logger;
    private readonly Dictionary<SenderKey, TwampReflector> _attached = [];
    private readonly TwampReflector?[] _owners = new TwampReflector?[EngineLoop.BatchCapacity(ReceiveSlot)];
    private readonly int[] _group = new int[EngineLoop.BatchCapacity(ReceiveSlot)];
    private readonly (TwampReflector Reflector, int First, int Count)[] _replyRanges = new (TwampReflector, int, int)[EngineLoop.BatchCapacity(ReceiveSlot)];
    private int _offer = 4;
    private long _unknownSender;
    private long _datagrams;

    // Leases: which senders hold a place on this port (under the pool's lock).
    internal readonly HashSet<SenderKey> Reserved = [];

    internal SharedReflectorPort(UdpTestSocket socket, ILogger logger)
    {
        _socket = socket;
        _logger = logger;
        LocalEndPoint = socket.LocalEndPoint;
    }

    public IPEndPoint LocalEndPoint { get; }

    public int Port => LocalEndPoint.Port;

    /// <summary>Datagrams from a sender no session on this port is for, dropped unanswered.</summary>
    public long UnknownSender => Interlocked.Read(ref _unknownSender);

    /// <summary>Datagrams read so far (any sender).</summary>
    public long Datagrams => Interlocked.Read(ref _datagrams);

    protected internal override UdpTestSocket EngineSocket => _socket;

    /// <summary>The session for <paramref name="sender"/> starts receiving (loop thread: its <see cref="TwampReflector"/> was added).</summary>
    internal void Attach(SenderKey sender, TwampReflector reflector) => _attached[sender] = reflector;

    /// <summary>The session has ended (loop thread); datagrams from its sender are dropped from now on.</summary>
    internal void Detach(SenderKey sender, TwampReflector reflector)
    {
        if (_attached.TryGetValue(sender, out TwampReflector? current) && ReferenceEquals(current, reflector))
        {
            _attached.Remove(sender);
        }
    }

    protected internal override void OnAdded(EngineLoop loop)
    {
    }

    protected internal override void OnReadable(EngineLoop loop)
    {
        BatchBuffers buffers = loop.Buffers(ReceiveSlot, ReplySlot, addressed: true);
        DatagramBatch received = buffers.Received;
        received.ReceiveLength = ReceiveSlot;
        int count = _socket.ReceiveBatch(received, _offer, wait: false);
        if (count == 0)
        {
            return;
        }
        // As a reflector's own socket: offer recvmmsg more slots after a full read, fewer after a sparse one.
        if (count == _offer)
        {
            _offer = Math.Min(_offer * 2, buffers.Capacity);
        }
        else if (count * 4 <= _offer)
        {
            _offer = Math.Max(_offer / 2, 4);
        }
        loop.CountDatagrams(count);
        Interlocked.Add(ref _datagrams, count);
        long unknown = 0;
        for (int i = 0; i < count; i++)
        {
            _owners[i] = SenderKey.TryFrom(received.Address(i), out SenderKey key) && _attached.TryGetValue(key, out TwampReflector? owner) ? owner : null;
            if (_owners[i] is null)
            {
                unknown++;
            }
        }
        if (unknown > 0)
        {
            Interlocked.Add(ref _unknownSender, unknown);
            Log.UnknownSender(_logger, Port, unknown);
        }

        // Each session answers its own datagrams into consecutive reply slots (its checks, keys and counters).
        DatagramBatch replies = buffers.Send;
        int ranges = 0;
        int ready = 0;
        for (int i = 0; i < count; i++)
        {
            if (_owners[i] is not TwampReflector reflector)
            {
                continue;
            }
            int members = 0;
            for (int k = i; k < count; k++)
            {
                if (ReferenceEquals(_owners[k], reflector))
                {
                    _group[members++] = k;
                    _owners[k] = null;
                }
            }
            if (!reflector.TakeDatagrams(loop))
            {
                continue;
            }
            int answered = reflector.PrepareReplies(buffers, _group.AsSpan(0, members), ready);
            int trafficClass = reflector.ReplyTrafficClass;
            for (int j = ready; j < ready + answered; j++)
            {
                replies.SetAddress(j, received.Address(buffers.ReplySources[j]));
                replies.SetSendTrafficClass(j, trafficClass);
            }
            _replyRanges[ranges++] = (reflector, ready, answered);
            ready += answered;
        }
        if (ready == 0)
        {
            return;
        }
        // One Timestamp for the batch, right before the replies are protected (E) and sent.
        SystemClock clock = SystemClock.Instance;
        NtpTimestamp sendTime = clock.Now();
        ErrorEstimate error = clock.ErrorEstimate;
        for (int r = 0; r < ranges; r++)
        {
            (TwampReflector reflector, int first, int answered) = _replyRanges[r];
            reflector.FinishReplies(buffers, first, answered, sendTime, error);
        }
        _socket.SendBatch(replies, ready, wait: false, buffers.SendFailed);
        for (int r = 0; r < ranges; r++)
        {
            (TwampReflector reflector, int first, int answered) = _replyRanges[r];
            reflector.CountSent(buffers, first, answered);
            _replyRanges[r] = default;
        }
    }

    protected internal override void OnTimer(EngineLoop loop, long nowMs)
    {
    }

    protected internal override void OnRemoved(Exception? failure)
    {
        if (failure is not null and not ObjectDisposedException)
        {
            Log.PortFailed(_logger, failure, Port);
        }
        Log.Closed(_logger, Port, Datagrams, UnknownSender);
        _attached.Clear();
        _socket.Dispose();
    }

    /// <summary>Closes the port once the loop has let go of it (no session holds a lease any more).</summary>
    internal void Close()
    {
        if (Loop is EngineLoop loop)
        {
            loop.Post(() => loop.Remove(this));
        }
        else
        {
            _socket.Dispose();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 320, Level = LogLevel.Debug, Message = "Shared test port {Port}: dropped {Count} datagram(s) from a sender no session is for")]
        public static partial void UnknownSender(ILogger logger, int port, long count);

        [LoggerMessage(EventId = 321, Level = LogLevel.Debug, Message = "Shared test port {Port} closed: {Datagrams} datagram(s) read, {Unknown} from unknown senders")]
        public static partial void Closed(ILogger logger, int port, long datagrams, long unknown);

        [LoggerMessage(EventId = 322, Level = LogLevel.Error, Message = "Shared test port {Port} failed; its sessions stop receiving")]
        public static partial void PortFailed(ILogger logger, Exception exception, int port);
    }
}
