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
/// counted and dropped; they never end the session.
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
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Thread? _thread;
    private long _stopAtTicks = long.MaxValue;
    private volatile bool _disposed;

    private long _reflected;
    private long _sendFailed;
    private long _malformed;
    private long _badHmac;

    /// <param name="expectedPacketLength">Sender header plus the requested padding: sizes the receive buffers.</param>
    public TwampReflector(UdpTestSocket socket, SessionId sid, SecurityMode mode, TestPacketCipher? cipher, IPEndPoint sender, TimeSpan refWait, int expectedPacketLength, ILogger logger)
    {
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

    /// <summary>Completes when the reflector thread has ended.</summary>
    public Task Completion => _completion.Task;

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
        int senderHeader = TestPacketLayout.SenderHeader(protectedLayout);
        int reflectorHeader = TestPacketLayout.ReflectorHeader(protectedLayout);
        int clearLength = protectedLayout ? TestPacketLayout.ReflectorHmacOffset : reflectorHeader;
        int slotSize = Math.Clamp(_expectedPacketLength + 64, 2048, 65536);
        // Fewer slots for large packets: a session's buffers stay around a megabyte whatever padding it asked for.
        int batchSize = Math.Clamp((1 << 20) / slotSize, 1, BatchSize);
        using var received = new DatagramBatch(batchSize, slotSize);
        using var replies = new DatagramBatch(batchSize, slotSize + reflectorHeader);
        uint sequence = 0;
        long lastPacketTicks = Environment.TickCount64;
        // Allocated once: index of each well-formed datagram, its HMAC verdict, and accessors for batch crypto.
        int[] candidate = new int[batchSize];
        bool[] valid = new bool[batchSize];
        TestPacketCipher.PacketAccessor receivedPacket = c => received.Datagram(candidate[c]);
        TestPacketCipher.PacketAccessor replyPacket = j => replies.Datagram(j);
        SystemClock clock = SystemClock.Instance;
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
                long malformed = 0, badHmac = 0;
                int candidates = 0;
                for (int i = 0; i < count; i++)
                {
                    int length = received.Length(i);
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
                    _cipher.TryUnprotectMany(receivedPacket, candidates, TestPacketLayout.SenderHmacOffset, valid);
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
                    // from its first octet (perfSONAR's symmetric sizing).
                    int replyLength = Math.Max(length, reflectorHeader);
                    Span<byte> r = replies.Slot(ready)[..replyLength];
                    r[..clearLength].Clear();
                    packet.Slice(senderHeader, replyLength - reflectorHeader).CopyTo(r[reflectorHeader..]);
                    byte ttl = received.Ttl(i);
                    ReflectorPacket.CopySenderFields(packet, r, protectedLayout, ttl == 0 ? (byte)255 : ttl);
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
                if (malformed + badHmac > 0)
                {
                    Interlocked.Add(ref _malformed, malformed);
                    Interlocked.Add(ref _badHmac, badHmac);
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
            Log.Ended(_logger, Sid, Reflected, SendFailed, Malformed, BadHmac);
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
        [LoggerMessage(EventId = 300, Level = LogLevel.Debug, Message = "Session {Sid}: dropped a {Length}-octet datagram, shorter than the {Header}-octet sender header")]
        public static partial void ShortPacket(ILogger logger, SessionId sid, int length, int header);

        [LoggerMessage(EventId = 301, Level = LogLevel.Debug, Message = "Session {Sid}: dropped a {Length}-octet test packet whose HMAC does not verify")]
        public static partial void BadHmac(ILogger logger, SessionId sid, int length);

        [LoggerMessage(EventId = 302, Level = LogLevel.Information, Message = "Session {Sid}: no test packet for REFWAIT {Seconds} s; reflector stopped")]
        public static partial void RefWaitExpired(ILogger logger, SessionId sid, double seconds);

        [LoggerMessage(EventId = 303, Level = LogLevel.Information, Message = "Session {Sid}: reflector ended: {Reflected} reflected, {SendFailed} not sent, {Malformed} malformed, {BadHmac} bad HMAC")]
        public static partial void Ended(ILogger logger, SessionId sid, long reflected, long sendFailed, long malformed, long badHmac);

        [LoggerMessage(EventId = 304, Level = LogLevel.Error, Message = "Session {Sid}: reflector failed")]
        public static partial void ReflectorFailed(ILogger logger, Exception exception, SessionId sid);

        [LoggerMessage(EventId = 305, Level = LogLevel.Warning, Message = "Session {Sid}: send failed: {Error}")]
        public static partial void SendFailed(ILogger logger, SessionId sid, string error);
    }
}
