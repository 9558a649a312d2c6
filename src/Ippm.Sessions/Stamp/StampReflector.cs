using System.Buffers.Binary;
using System.Net;
using System.Runtime.InteropServices;
using Ippm.Security;
using Ippm.Sessions.Time;
using Ippm.Sessions.Transport;
using Ippm.Wire;
using Ippm.Wire.Stamp;
using Microsoft.Extensions.Logging;

namespace Ippm.Sessions.Stamp;

/// <summary>How a STAMP Session-Reflector is set up (there is no control protocol: RFC 8762 §4).</summary>
public sealed record StampReflectorOptions
{
    /// <summary>Where to listen; UDP port 862 by default (RFC 8762 §4.1).</summary>
    public required IPEndPoint Listen { get; init; }

    /// <summary>Stateful: own Sequence Numbers, counters and Follow-Up per session (RFC 8762 §4.3.1); else copy the sender's.</summary>
    public bool Stateful { get; init; } = true;

    /// <summary>Per-peer keys; peers that match answer in authenticated mode. Owned by the caller.</summary>
    public StampKeyStore? Keys { get; init; }

    /// <summary>
    /// RFC 8762 §4.6 says a reflector answers a packet shorter than the base packet (a TWAMP-Light sender without
    /// padding) with a base packet: up to 30 octets more than arrived. Off by default: ippm's reflector never
    /// sends more than it received, and counts such packets as short.
    /// </summary>
    public bool AnswerShortPackets { get; init; }

    /// <summary>Largest datagram answered; longer ones are counted as oversized and dropped.</summary>
    public int MaxPacketLength { get; init; } = 9000;

    /// <summary>Sessions the stateful reflector keeps at once; packets of new sessions beyond it are answered statelessly.</summary>
    public int MaxSessions { get; init; } = 65536;

    /// <summary>A session silent this long is forgotten (its next packet starts a new one).</summary>
    public TimeSpan SessionIdleTimeout { get; init; } = TimeSpan.FromSeconds(900);

    /// <summary>Timestamps in PTPv2 truncated format, Z = 1 (RFC 8762 §4.2.1); NTP format otherwise (the default).</summary>
    public bool PtpTimestamps { get; init; }

    /// <summary>Local policy for Class of Service DSCP1 (RFC 8972 §4.4); null permits every DSCP.</summary>
    public Func<byte, bool>? DscpPermitted { get; init; }
}

/// <summary>
/// The STAMP Session-Reflector (RFC 8762 §4.3, RFC 8972) on one UDP socket for any number of senders, on the same
/// batched path as the TWAMP reflector: recvmmsg with kernel receive timestamps, TTL and TOS, replies with sendmmsg
/// to each sender's address. Replies have the size of their request (RFC 8762 §4.2: symmetric), TLVs answered in
/// place. Because the first 41 octets of its base reply are TWAMP's, it also answers TWAMP-Light senders in open
/// mode (RFC 8762 §4.6), and in authenticated or encrypted mode those its key file names so. Bad input is counted and dropped; it never stops the reflector.
/// </summary>
public sealed partial class StampReflector : IDisposable
{
    private const int BatchSize = 64;
    private const int MinimumLength = 14; // a TWAMP-Light / OWAMP sender header

    private readonly StampReflectorOptions _options;
    private readonly UdpTestSocket _socket;
    private readonly ILogger _logger;
    private readonly Dictionary<SessionKey, Session> _sessions = [];
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly byte[] _boundAddress;
    private Thread? _thread;
    private volatile bool _disposed;

    private long _reflected, _sendFailed, _short, _oversized, _badHmac, _tlvIntegrityFailures, _unrecognizedTlvs, _malformedTlvs, _sessionsFull;

    public StampReflector(StampReflectorOptions options, ILogger logger)
    {
        _options = options;
        _logger = logger;
        // A listener on [::] also serves IPv4 senders, as the TWAMP control listener does.
        _socket = new UdpTestSocket(options.Listen, TimeSpan.FromMilliseconds(100), dualMode: options.Listen.Address.Equals(IPAddress.IPv6Any));
        if (!_socket.IsNative)
        {
            _socket.Dispose();
            throw new PlatformNotSupportedException("The STAMP reflector needs Linux recvmmsg/sendmmsg.");
        }
        _socket.EnableTrafficClassAndLocalAddress();
        _boundAddress = _socket.LocalEndPoint.Address.GetAddressBytes();
    }

    public IPEndPoint LocalEndPoint => _socket.LocalEndPoint;

    public long Reflected => Interlocked.Read(ref _reflected);

    /// <summary>Replies the kernel refused to send (counted here, not as reflected).</summary>
    public long SendFailed => Interlocked.Read(ref _sendFailed);

    /// <summary>Datagrams shorter than the base packet of their mode (and than 14 octets with <see cref="StampReflectorOptions.AnswerShortPackets"/>).</summary>
    public long Short => Interlocked.Read(ref _short);

    public long Oversized => Interlocked.Read(ref _oversized);

    /// <summary>Authenticated-mode packets whose base HMAC did not verify (dropped, RFC 8762 §4.4), TWAMP-Light modes A and E included.</summary>
    public long BadHmac => Interlocked.Read(ref _badHmac);

    /// <summary>Replies whose TLVs were echoed with I = 1 (HMAC TLV failed, missing or misplaced).</summary>
    public long TlvIntegrityFailures => Interlocked.Read(ref _tlvIntegrityFailures);

    public long UnrecognizedTlvs => Interlocked.Read(ref _unrecognizedTlvs);

    public long MalformedTlvs => Interlocked.Read(ref _malformedTlvs);

    public long SessionsFull => Interlocked.Read(ref _sessionsFull);

    public int Sessions
    {
        get
        {
            lock (_sessions)
            {
                return _sessions.Count;
            }
        }
    }

    public Task Completion => _completion.Task;

    public void Start()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = $"stamp-reflector {LocalEndPoint.Port}", Priority = ThreadPriority.AboveNormal };
        _thread.Start();
    }

    /// <summary>Identifies a session: the sender's address and port, and the SSID (RFC 8972 §3); the listener fixes the rest.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private readonly record struct SessionKey(ulong A, ulong B, ulong C, uint D, ushort Ssid)
    {
        public static SessionKey From(ReadOnlySpan<byte> sockaddr, ushort ssid)
        {
            Span<byte> b = stackalloc byte[28];
            b.Clear();
            sockaddr[..Math.Min(28, sockaddr.Length)].CopyTo(b);
            return new SessionKey(
                BinaryPrimitives.ReadUInt64LittleEndian(b), BinaryPrimitives.ReadUInt64LittleEndian(b[8..]),
                BinaryPrimitives.ReadUInt64LittleEndian(b[16..]), BinaryPrimitives.ReadUInt32LittleEndian(b[24..]), ssid);
        }
    }

    private sealed class Session
    {
        public uint NextSequence;
        public uint Received;
        public uint Transmitted;
        public bool HasPrevious;
        public uint PreviousSequence;
        public NtpTimestamp PreviousTimestamp;
        public long LastSeenTicks;
        public long Batch = -1;
    }

    private void Run()
    {
        int slotSize = _options.MaxPacketLength + 1; // one more, so an oversized datagram is seen as such
        using var received = new DatagramBatch(BatchSize, slotSize, addressed: true);
        using var replies = new DatagramBatch(BatchSize, Math.Max(slotSize, StampLayout.AuthenticatedBase), addressed: true);
        var keys = new StampAuthenticator?[BatchSize];
        var sessions = new Session?[BatchSize];
        var replySeq = new uint[BatchSize];
        var authenticated = new bool[BatchSize];
        var followUpAt = new int[BatchSize];
        var hmacTlvAt = new int[BatchSize];
        var twampLight = new TestPacketCipher?[BatchSize];
        long batchNumber = 0;
        byte[] widened = new byte[StampLayout.UnauthenticatedBase];
        SystemClock clock = SystemClock.Instance;
        long lastSweep = Environment.TickCount64;
        ushort localPort = (ushort)LocalEndPoint.Port;
        bool ptp = _options.PtpTimestamps;
        try
        {
            while (!_disposed)
            {
                int count = _socket.ReceiveBatch(received);
                long now = Environment.TickCount64;
                if (now - lastSweep > 10_000)
                {
                    SweepIdleSessions(now);
                    lastSweep = now;
                }
                if (count == 0)
                {
                    continue;
                }
                bool synchronized = clock.IsSynchronized;
                batchNumber++;
                int ready = 0;
                for (int i = 0; i < count; i++)
                {
                    int length = received.Length(i);
                    if (length == 0)
                    {
                        continue;
                    }
                    if (received.Truncated(i) || length > _options.MaxPacketLength)
                    {
                        Interlocked.Increment(ref _oversized);
                        Log.Oversized(_logger, length);
                        continue;
                    }
                    ReadOnlySpan<byte> peer = received.Address(i);
                    StampKeyStore.PeerKey? peerKey = _options.Keys?.FindPeer(peer);
                    if (peerKey?.TwampLightCipher is { } lightCipher)
                    {
                        if (TryPrepareTwampLightReply(received, i, replies, ready, lightCipher, now))
                        {
                            twampLight[ready++] = lightCipher;
                        }
                        continue;
                    }
                    StampAuthenticator? key = peerKey?.Stamp;
                    bool auth = key is not null;
                    int baseLength = StampLayout.BaseLength(auth);
                    ReadOnlySpan<byte> request = received.Datagram(i);
                    if (length < baseLength)
                    {
                        if (auth || !_options.AnswerShortPackets || length < MinimumLength)
                        {
                            Interlocked.Increment(ref _short);
                            Log.Short(_logger, length, baseLength);
                            continue;
                        }
                        // RFC 8762 §4.6: a shorter TWAMP-Light packet gets a base packet; its missing octets read as zero.
                        Array.Clear(widened);
                        request.CopyTo(widened);
                        request = widened;
                    }
                    if (auth && !key!.Verify(request))
                    {
                        Interlocked.Increment(ref _badHmac);
                        Log.BadHmac(_logger, length);
                        continue;
                    }
                    ushort ssid = BinaryPrimitives.ReadUInt16BigEndian(request[StampLayout.SsidOffset(auth)..]);
                    Session? session = null;
                    uint sequence = BinaryPrimitives.ReadUInt32BigEndian(request);
                    if (_options.Stateful)
                    {
                        session = FindSession(peer, ssid, now);
                        if (session is null)
                        {
                            // Table full (spoofed sources can fill it): answer statelessly, the sender's own Sequence
                            // Number reflected (RFC 8762 §4.2, stateless mode), rather than leave a new peer with no replies at all.
                            Interlocked.Increment(ref _sessionsFull);
                        }
                        else
                        {
                            sequence = session.NextSequence++;
                            session.Received++;
                            session.Transmitted++;
                        }
                    }
                    int replyLength = request.Length;
                    Span<byte> reply = replies.Slot(ready)[..replyLength];
                    byte ttl = received.Ttl(i);
                    var receiveTime = new NtpTimestamp(StampTimestamp.Encode(received.ReceiveTime(i), ptp));
                    StampReflectorPacket.BuildFromSender(request, reply, auth, sequence, receiveTime, ttl == 0 ? (byte)255 : ttl);
                    request[baseLength..].CopyTo(reply[baseLength..]);
                    int sendTrafficClass = -1;
                    followUpAt[ready] = -1;
                    hmacTlvAt[ready] = -1;
                    if (replyLength > baseLength)
                    {
                        ReadOnlySpan<byte> local = received.LocalAddress(i);
                        var ctx = new StampTlvContext
                        {
                            ReceivedTrafficClass = received.TrafficClass(i),
                            LocalAddress = StampKeyStore.Unmap(local.IsEmpty ? _boundAddress : local),
                            LocalPort = localPort,
                            PeerAddress = StampKeyStore.AddressOf(peer),
                            PeerPort = StampKeyStore.PortOf(peer),
                            SenderSequenceNumber = request[..4],
                            Key = key,
                            Authenticated = auth,
                            Stateful = session is not null, // a full table answers statelessly
                            ClockSynchronized = synchronized,
                            SessionReceived = session?.Received ?? 0,
                            SessionTransmitted = session?.Transmitted ?? 0,
                            HasPrevious = session?.HasPrevious ?? false,
                            PreviousSequenceNumber = session?.PreviousSequence ?? 0,
                            PreviousTimestamp = session?.PreviousTimestamp ?? default,
                            PreviousInThisBatch = session?.Batch == batchNumber,
                            DscpPermitted = _options.DscpPermitted,
                        };
                        StampTlvOutcome outcome = StampTlvReflection.Process(reply, baseLength, ref ctx);
                        sendTrafficClass = outcome.SendTrafficClass;
                        followUpAt[ready] = outcome.FollowUpTimestampAt;
                        hmacTlvAt[ready] = outcome.HmacTlvAt;
                        if (outcome.Unrecognized + outcome.Malformed > 0 || outcome.IntegrityFailed)
                        {
                            Interlocked.Add(ref _unrecognizedTlvs, outcome.Unrecognized);
                            Interlocked.Add(ref _malformedTlvs, outcome.Malformed);
                            if (outcome.IntegrityFailed)
                            {
                                Interlocked.Increment(ref _tlvIntegrityFailures);
                            }
                        }
                    }
                    replies.SetAddress(ready, peer);
                    replies.SetSendTrafficClass(ready, sendTrafficClass);
                    replies.SetLength(ready, replyLength);
                    keys[ready] = key;
                    sessions[ready] = session;
                    replySeq[ready] = sequence;
                    if (session is not null)
                    {
                        // The next packet of this session in this batch reports this reply; its time comes below.
                        session.HasPrevious = true;
                        session.PreviousSequence = sequence;
                        session.Batch = batchNumber;
                    }
                    authenticated[ready] = auth;
                    ready++;
                }
                // T3 is read once for the batch, right before the replies are signed and sent.
                NtpTimestamp sendTime = clock.Now();
                var sendTimeOnWire = new NtpTimestamp(StampTimestamp.Encode(sendTime, ptp));
                ErrorEstimate error = StampTimestamp.WithFormat(clock.ErrorEstimate, ptp);
                for (int j = 0; j < ready; j++)
                {
                    Span<byte> reply = replies.Datagram(j);
                    if (twampLight[j] is { } lightCipher)
                    {
                        ProtectTwampLightReply(reply, lightCipher, sendTime, clock.ErrorEstimate);
                        twampLight[j] = null;
                        continue;
                    }
                    StampReflectorPacket.WriteTimestamp(reply, authenticated[j], sendTimeOnWire, error);
                    if (followUpAt[j] >= 0)
                    {
                        sendTime.Write(reply[followUpAt[j]..]);
                        if (hmacTlvAt[j] >= 0)
                        {
                            int tlvs = StampLayout.BaseLength(authenticated[j]);
                            keys[j]!.ComputeTlvMac(reply[..4], reply[tlvs..hmacTlvAt[j]], reply.Slice(hmacTlvAt[j] + StampTlv.HeaderLength, StampLayout.HmacLength));
                        }
                    }
                    keys[j]?.Sign(reply);
                    if (sessions[j] is { } s)
                    {
                        s.PreviousTimestamp = sendTime;
                    }
                    keys[j] = null;
                    sessions[j] = null;
                }
                int sent = _socket.SendBatch(replies, ready);
                Interlocked.Add(ref _reflected, sent);
                if (sent < ready)
                {
                    // Warned once (a peer may provoke this per batch), then at Debug; the totals are in the end line.
                    if (Interlocked.Add(ref _sendFailed, ready - sent) == ready - sent)
                    {
                        Log.SendFailed(_logger, ready - sent, ready);
                    }
                    else
                    {
                        Log.SendFailedAgain(_logger, ready - sent, ready);
                    }
                }
            }
        }
        catch (ObjectDisposedException) when (_disposed)
        {
        }
        catch (Exception e)
        {
            Log.Failed(_logger, e);
        }
        finally
        {
            Log.Ended(_logger, Reflected, SendFailed, Short, Oversized, BadHmac, TlvIntegrityFailures, SessionsFull);
            _socket.Dispose();
            _completion.TrySetResult();
        }
    }

    private Session? FindSession(ReadOnlySpan<byte> peer, ushort ssid, long now)
    {
        SessionKey key = SessionKey.From(peer, ssid);
        lock (_sessions)
        {
            if (_sessions.TryGetValue(key, out Session? session))
            {
                session.LastSeenTicks = now;
                return session;
            }
            if (_sessions.Count >= _options.MaxSessions)
            {
                return null;
            }
            session = new Session { LastSeenTicks = now };
            _sessions.Add(key, session);
            return session;
        }
    }

    private void SweepIdleSessions(long now)
    {
        long idle = (long)_options.SessionIdleTimeout.TotalMilliseconds;
        lock (_sessions)
        {
            foreach (KeyValuePair<SessionKey, Session> entry in _sessions)
            {
                if (now - entry.Value.LastSeenTicks > idle)
                {
                    _sessions.Remove(entry.Key);
                }
            }
        }
    }

    public void Dispose()
    {
        _disposed = true;
        if (_thread is null)
        {
            _socket.Dispose();
            _completion.TrySetResult();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1400, Level = LogLevel.Debug, Message = "STAMP: dropped a {Length}-octet datagram, shorter than the {Base}-octet base packet")]
        public static partial void Short(ILogger logger, int length, int @base);

        [LoggerMessage(EventId = 1401, Level = LogLevel.Debug, Message = "STAMP: dropped an oversized datagram ({Length} octets or more)")]
        public static partial void Oversized(ILogger logger, int length);

        [LoggerMessage(EventId = 1402, Level = LogLevel.Debug, Message = "STAMP: dropped a {Length}-octet authenticated packet whose HMAC does not verify")]
        public static partial void BadHmac(ILogger logger, int length);

        [LoggerMessage(EventId = 1403, Level = LogLevel.Error, Message = "STAMP reflector failed")]
        public static partial void Failed(ILogger logger, Exception exception);

        [LoggerMessage(EventId = 1404, Level = LogLevel.Information, Message = "STAMP reflector ended: {Reflected} reflected, {SendFailed} not sent, {Short} short, {Oversized} oversized, {BadHmac} bad HMAC, {TlvIntegrity} TLV integrity failures, {SessionsFull} answered statelessly with the session table full")]
        public static partial void Ended(ILogger logger, long reflected, long sendFailed, long @short, long oversized, long badHmac, long tlvIntegrity, long sessionsFull);

        [LoggerMessage(EventId = 1406, Level = LogLevel.Warning, Message = "STAMP: the kernel refused {Failed} of {Count} replies (counted as not sent; further refusals are logged at Debug)")]
        public static partial void SendFailed(ILogger logger, int failed, int count);

        [LoggerMessage(EventId = 1407, Level = LogLevel.Debug, Message = "STAMP: the kernel refused {Failed} of {Count} replies")]
        public static partial void SendFailedAgain(ILogger logger, int failed, int count);
    }
}
