using System.Net;
using Ippm.Security;
using Ippm.Sessions.Time;
using Ippm.Sessions.Transport;
using Ippm.Wire;
using Ippm.Wire.Test;
using Microsoft.Extensions.Logging;

namespace Ippm.Sessions.Twamp;

/// <summary>
/// The Session-Reflector of one TWAMP test session (RFC 5357 §4.2). A dedicated thread receives,
/// timestamps, and answers each packet: Receive Timestamp from the kernel, Timestamp right before the
/// send, the reflector's own sequence numbers, Sender TTL from the IP header, replies sized
/// max(received, reflector header) as perfSONAR does. Malformed and unauthenticated packets are
/// counted and dropped; they never end the session. With the negotiated features (<see cref="TwampReflectorFeatures"/>)
/// it also reports the TOS octet it received (RFC 7750), reads the symmetrical sender format and answers at the
/// sender's size (RFC 6038 Symmetrical Size), and returns the requested octets of the sender's padding at the
/// start of its own, padding replies to the requested length (RFC 6038 Reflect Octets).
/// </summary>
public sealed partial class TwampReflector : IDisposable
{
    private const int BatchSize = 64;

    private readonly UdpTestSocket _socket;
    private readonly SecurityMode _mode;
    private readonly TestPacketCipher? _cipher;
    private readonly TimeSpan _refWait;
    private readonly int _expectedPacketLength;
    private readonly ILogger _logger;
    private readonly TwampReflectorFeatures _features;
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Thread? _thread;
    private long _stopAtTicks = long.MaxValue;
    private volatile bool _disposed;

    private long _reflected;
    private long _sendFailed;
    private long _malformed;
    private long _badHmac;
    private long _oversized;

    /// <summary>Octets of batch buffers one reflector allocates for <paramref name="expectedPacketLength"/>-octet packets.</summary>
    public static long BufferBytes(int expectedPacketLength, bool protectedLayout)
    {
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
    public TwampReflector(UdpTestSocket socket, SessionId sid, SecurityMode mode, TestPacketCipher? cipher, IPEndPoint sender, TimeSpan refWait, int expectedPacketLength, ILogger logger, TwampReflectorFeatures? features = null)
    {
        _features = features ?? new TwampReflectorFeatures(new TwampTestFormat(mode.ProtectsTestPackets(), false, false), 0, 0);
        _expectedPacketLength = expectedPacketLength;
        _socket = socket;
        Sid = sid;
        _mode = mode;
        _cipher = cipher;
        _refWait = refWait;
        _logger = logger;
        Sender = sender;
        socket.Connect(sender);
    }

    public SessionId Sid { get; }
    public IPEndPoint Sender { get; }
    public int Port => _socket.LocalEndPoint.Port;
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

    /// <summary>Completes when the reflector thread has ended.</summary>
    public Task Completion => _completion.Task;

    /// <summary>True once <see cref="Start"/> ran (RFC 5938 bookkeeping: Start-N for a running session is refused).</summary>
    public bool Started => _thread is not null;

    public void Start()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = $"twamp-reflector {Port}", Priority = ThreadPriority.AboveNormal };
        _thread.Start();
    }

    /// <summary>Keeps reflecting for <paramref name="linger"/> (the session Timeout) after Stop-Sessions, then ends.</summary>
    public void StopAfter(TimeSpan linger)
    {
        if (_thread is null)
        {
            Dispose();
            return;
        }
        Interlocked.Exchange(ref _stopAtTicks, Environment.TickCount64 + (long)linger.TotalMilliseconds);
    }

    private void Run()
    {
        bool protectedLayout = _mode.ProtectsTestPackets();
        TwampTestFormat format = _features.Format;
        int senderHeader = format.SenderHeader;
        int senderHmacOffset = format.SenderHmacOffset;
        int reflectorHeader = format.ReflectorHeader;
        int dscpEcnOffset = format.DscpEcnOffset;
        int clearLength = protectedLayout ? TestPacketLayout.ReflectorHmacOffset : reflectorHeader;
        // RFC 6038 Reflect Octets: replies carry at least the reflected octets, and the requested padding length.
        int requestedReplyPadding = _features.PaddingToReflect > 0 || _features.ReflectOctets > 0
            ? Math.Max(_features.PaddingToReflect, _features.ReflectOctets)
            : -1;
        (int slotSize, int batchSize) = BufferShape(_expectedPacketLength);
        using var received = new DatagramBatch(batchSize, slotSize);
        using var replies = new DatagramBatch(batchSize, Math.Max(slotSize, requestedReplyPadding) + reflectorHeader);
        uint sequence = 0;
        long lastPacketTicks = Environment.TickCount64;
        // Allocated once: index of each well-formed datagram, its HMAC verdict, and accessors for batch crypto.
        int[] candidate = new int[batchSize];
        bool[] valid = new bool[batchSize];
        TestPacketCipher.PacketAccessor receivedPacket = c => received.Datagram(candidate[c]);
        TestPacketCipher.PacketAccessor replyPacket = j => replies.Datagram(j);
        SystemClock clock = SystemClock.Instance;
        double bucketBits = BandwidthLimit;
        long bucketTicks = System.Diagnostics.Stopwatch.GetTimestamp();
        int wireOverhead = (_socket.LocalEndPoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? 40 : 20) + 8;
        try
        {
            while (!_disposed)
            {
                int count = _socket.ReceiveBatch(received);
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
                int ready = 0;
                long malformed = 0, badHmac = 0, oversized = 0, overBandwidth = 0;
                if (BandwidthLimit != 0)
                {
                    long nowTicks = System.Diagnostics.Stopwatch.GetTimestamp();
                    bucketBits = Math.Min(BandwidthLimit, bucketBits + ((double)BandwidthLimit * (nowTicks - bucketTicks) / System.Diagnostics.Stopwatch.Frequency));
                    bucketTicks = nowTicks;
                }
                int candidates = 0;
                for (int i = 0; i < count; i++)
                {
                    int length = received.Length(i);
                    if (received.Truncated(i))
                    {
                        // Reflecting the truncated part would answer with a packet the sender never sent.
                        oversized++;
                        Log.Oversized(_logger, Sid, slotSize);
                        continue;
                    }
                    if (length < senderHeader)
                    {
                        if (length > 0)
                        {
                            malformed++;
                            Log.ShortPacket(_logger, Sid, length, senderHeader);
                        }
                        continue;
                    }
                    candidate[candidates++] = i;
                }
                if (_cipher is not null)
                {
                    _cipher.TryUnprotectMany(receivedPacket, candidates, senderHmacOffset, valid);
                }
                for (int c = 0; c < candidates; c++)
                {
                    int i = candidate[c];
                    if (_cipher is not null && !valid[c])
                    {
                        badHmac++;
                        Log.BadHmac(_logger, Sid, received.Length(i));
                        continue;
                    }
                    Span<byte> packet = received.Datagram(i);
                    int length = packet.Length;
                    // Reply size is max(received, reflector header) and its padding is the sender's padding
                    // from its first octet (perfSONAR's symmetric sizing); with Symmetrical Size the sender's header
                    // already equals ours, so the reply has exactly the sender's size (RFC 6038 §4.2). Reflect Octets
                    // asks for a padding length of its own (RFC 6038 §4.1).
                    int replyLength = requestedReplyPadding >= 0 && !format.SymmetricalSize
                        ? reflectorHeader + requestedReplyPadding
                        : Math.Max(length, reflectorHeader);
                    replyLength = Math.Min(replyLength, replies.SlotSize);
                    if (BandwidthLimit != 0)
                    {
                        double bits = (replyLength + wireOverhead) * 8.0;
                        if (bits > bucketBits)
                        {
                            overBandwidth++;
                            continue;
                        }
                        bucketBits -= bits;
                    }
                    Span<byte> r = replies.Slot(ready)[..replyLength];
                    r[..clearLength].Clear();
                    int replyPadding = replyLength - reflectorHeader;
                    int copied = Math.Min(replyPadding, length - senderHeader);
                    packet.Slice(senderHeader, copied).CopyTo(r[reflectorHeader..]);
                    r[(reflectorHeader + copied)..].Clear();
                    byte ttl = received.Ttl(i);
                    ReflectorPacket.CopySenderFields(packet, r, protectedLayout, ttl == 0 ? (byte)255 : ttl);
                    if (dscpEcnOffset >= 0)
                    {
                        // RFC 7750 §3: the DSCP and ECN the test packet arrived with, straight from the IP header.
                        r[dscpEcnOffset] = received.Tos(i) ?? 0;
                    }
                    ReflectorPacket.WriteReceiveTimestamp(r, protectedLayout, received.ReceiveTime(i));
                    ReflectorPacket.WriteSequenceNumber(r, sequence++);
                    replies.SetLength(ready, replyLength);
                    ready++;
                }
                if (_mode == SecurityMode.Authenticated)
                {
                    // Mode A protects block 0 only; the Timestamp (octets 16-23) stays clear and is written last.
                    _cipher!.ProtectMany(replyPacket, ready, TestPacketLayout.ReflectorHmacOffset);
                }
                // The Timestamp is taken once for the batch, right before the replies are protected and sent.
                NtpTimestamp sendTime = clock.Now();
                ErrorEstimate error = clock.ErrorEstimate;
                for (int j = 0; j < ready; j++)
                {
                    ReflectorPacket.WriteTimestamp(replies.Datagram(j), protectedLayout, sendTime, error);
                }
                if (_mode == SecurityMode.Encrypted)
                {
                    _cipher!.ProtectMany(replyPacket, ready, TestPacketLayout.ReflectorHmacOffset);
                }
                int sent = _socket.SendBatch(replies, ready);
                Interlocked.Add(ref _reflected, sent);
                if (sent < ready)
                {
                    Interlocked.Add(ref _sendFailed, ready - sent);
                    Log.SendFailed(_logger, Sid, $"{ready - sent} of {ready} replies refused by the kernel");
                }
                if (overBandwidth > 0)
                {
                    Interlocked.Add(ref _overBandwidth, overBandwidth);
                }
                if (malformed + badHmac + oversized > 0)
                {
                    Interlocked.Add(ref _malformed, malformed);
                    Interlocked.Add(ref _badHmac, badHmac);
                    Interlocked.Add(ref _oversized, oversized);
                }
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
            Log.Ended(_logger, Sid, Reflected, SendFailed, Malformed, BadHmac, Oversized);
            if (OverBandwidth > 0)
            {
                Log.OverBandwidth(_logger, Sid, OverBandwidth, BandwidthLimit);
            }
            Telemetry.ServerMetrics.SessionTotals(twamp: true, Reflected, Malformed, BadHmac);
            _socket.Dispose();
            _cipher?.Dispose();
            _completion.TrySetResult();
        }
    }

    public void Dispose()
    {
        _disposed = true;
        if (_thread is null)
        {
            _socket.Dispose();
            _cipher?.Dispose();
            _completion.TrySetResult();
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
