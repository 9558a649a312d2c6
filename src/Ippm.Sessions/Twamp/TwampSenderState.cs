using Ippm.Security;
using Ippm.Sessions.Engine;
using Ippm.Sessions.Time;
using Ippm.Sessions.Transport;
using Ippm.Wire;
using Ippm.Wire.Test;

namespace Ippm.Sessions.Twamp;

/// <summary>
/// Everything one TWAMP Session-Sender keeps (RFC 5357 §4.1) and the code that writes its packets and reads its
/// replies: the one code path of <see cref="TwampSessionSender"/>'s two threads and of <see cref="ScheduledSenderSession{TResult}"/>
/// on a loop of the session engine, so both give the same <see cref="TwampSessionResult"/> for the same packets.
/// Sending and receiving may run on two threads: what both read (T1 of each sequence number, the count sent) is
/// written with <see cref="Volatile"/> / <see cref="Interlocked"/>.
/// </summary>
internal sealed class TwampSenderState : IScheduledSender
{
    public const int BatchSize = 64;

    private readonly SessionId _sid;
    private readonly SecurityMode _mode;
    private readonly int _count;
    private readonly TimeSpan _timeout;
    private readonly TwampTestFormat _format;
    private readonly int _reflectOctets;
    private readonly bool _protectedLayout;
    private readonly byte[] _padding;
    private readonly ErrorEstimate[] _sendErrors;
    private readonly bool[] _seen;
    private readonly List<TwampSample> _replies;
    private readonly TestPacketCipher? _receiveCipher;
    private readonly TestPacketCipher? _sendCipher;
    private readonly SenderTimeline _timeline;
    private readonly bool[] _engineValid = new bool[BatchSize];
    private readonly double _timeoutSeconds;
    private long _sentCount;
    private int _seqNext;
    private long _late, _malformed, _badHmac, _reflectedIntact;
    private int _uniqueReplies;
    private int _minReply = int.MaxValue, _maxReply;
    private DatagramBatch? _accessorBatch;
    private DatagramBatch? _outgoingBatch;
    private TestPacketCipher.PacketAccessor? _outgoingPacket;
    private TestPacketCipher.PacketAccessor? _receivedPacket;

    public TwampSenderState(
        SessionId sid, SecurityMode mode, Func<TestPacketCipher>? createCipher, int count, SendSchedule schedule,
        int paddingLength, TimeSpan timeout, TwampTestFormat format, int reflectOctets)
    {
        _sid = sid;
        _mode = mode;
        _count = count;
        _timeout = timeout;
        _timeoutSeconds = timeout.TotalSeconds;
        _format = format;
        _reflectOctets = reflectOctets;
        _protectedLayout = mode.ProtectsTestPackets();
        _padding = new byte[paddingLength];
        Random.Shared.NextBytes(_padding);
        _sendErrors = new ErrorEstimate[count];
        _timeline = new SenderTimeline(schedule, count);
        _seen = new bool[count];
        _replies = new List<TwampSample>(Math.Min(count, 1 << 20));
        _receiveCipher = createCipher?.Invoke();
        _sendCipher = createCipher?.Invoke();
        PacketLength = format.SenderHeader + paddingLength;
        ReceiveSlotSize = Math.Max(2048, PacketLength + format.ReflectorHeader);
    }

    /// <summary>Octets of every test packet sent.</summary>
    public int PacketLength { get; }

    /// <summary>Receive slots hold the largest reply expected (a larger one arrives truncated and is dropped as short or bad).</summary>
    public int ReceiveSlotSize { get; }

    public int Count => _count;

    /// <summary>Every packet of the schedule has been handed to the kernel.</summary>
    public bool AllSent => _seqNext >= _count;

    /// <summary>Packets sent so far (any thread).</summary>
    public int SentCount => (int)Interlocked.Read(ref _sentCount);

    /// <summary>Seconds from the start of sending to when the next packet is due.</summary>
    public double NextOffset => _timeline.NextOffset;

    /// <summary>twping waits for the replies to what left, also when sending was stopped.</summary>
    public bool StopReceivingOnStop => false;

    /// <summary>Every packet sent so far has a reply (receiving side).</summary>
    public int UniqueReplies => _uniqueReplies;

    /// <summary>Writes the padding into every slot of <paramref name="outgoing"/> once; sends then only touch headers.</summary>
    public void PrepareOutgoing(DatagramBatch outgoing)
    {
        for (int i = 0; i < outgoing.Capacity; i++)
        {
            _padding.CopyTo(outgoing.Slot(i)[_format.SenderHeader..]);
            outgoing.SetLength(i, PacketLength);
        }
    }

    /// <summary>Packets already due <paramref name="elapsedSeconds"/> after the start (see <see cref="SenderTimeline.TakeDue"/>).</summary>
    public int TakeDue(double elapsedSeconds, int capacity, double slackSeconds = 0) => _timeline.TakeDue(_seqNext, elapsedSeconds, capacity, slackSeconds);

    public void SendBurst(UdpTestSocket socket, DatagramBatch outgoing, int burst, bool wait)
    {
        if (!ReferenceEquals(_outgoingBatch, outgoing))
        {
            _outgoingBatch = outgoing;
            _outgoingPacket = i => outgoing.Datagram(i);
        }
        SendBurst(socket, outgoing, _outgoingPacket!, burst, wait);
    }

    public void ReceiveReady(UdpTestSocket socket, EngineLoop loop)
    {
        BatchBuffers buffers = loop.Buffers(ReceiveSlotSize, 2048);
        buffers.Received.ReceiveLength = ReceiveSlotSize;
        AcceptReplies(buffers.Received, socket.ReceiveBatch(buffers.Received, BatchSize, wait: false), _engineValid);
    }

    /// <summary>
    /// Writes sequence numbers and T1 (read once, right before the packets are protected and sent) into the first
    /// <paramref name="burst"/> slots and sends them in one sendmmsg. A datagram the kernel refuses counts as sent
    /// (and so as lost), as on the dedicated thread.
    /// </summary>
    public void SendBurst(UdpTestSocket socket, DatagramBatch outgoing, TestPacketCipher.PacketAccessor outgoingPacket, int burst, bool wait)
    {
        int header = _format.SenderHeader;
        SystemClock clock = SystemClock.Instance;
        NtpTimestamp now = clock.Now();
        ErrorEstimate error = clock.ErrorEstimate;
        for (int b = 0; b < burst; b++)
        {
            int seq = _seqNext + b;
            Span<byte> packet = outgoing.Slot(b)[..PacketLength];
            packet[..(_protectedLayout ? _format.SenderHmacOffset : header)].Clear();
            SenderPacket.WriteSequenceNumber(packet, (uint)seq);
            SenderPacket.WriteTimestamp(packet, _protectedLayout, now, error);
            _sendErrors[seq] = error;
            _timeline.RecordSend(seq, now);
        }
        _sendCipher?.ProtectMany(outgoingPacket, burst, _format.SenderHmacOffset);
        Interlocked.Add(ref _sentCount, burst);
        socket.SendBatch(outgoing, burst, wait);
        _seqNext += burst;
    }

    /// <summary>Matches <paramref name="received"/> replies by Sender Sequence Number and keeps a sample of each.</summary>
    public void AcceptReplies(DatagramBatch batch, int received, bool[] valid)
    {
        if (received == 0)
        {
            return;
        }
        int reflectorHeader = _format.ReflectorHeader;
        int dscpEcnOffset = _format.DscpEcnOffset;
        long sentSoFar = Interlocked.Read(ref _sentCount);
        if (_receiveCipher is not null)
        {
            if (!ReferenceEquals(_accessorBatch, batch))
            {
                _accessorBatch = batch;
                _receivedPacket = i => batch.Datagram(i);
            }
            _receiveCipher.TryUnprotectMany(_receivedPacket!, received, TestPacketLayout.ReflectorHmacOffset, valid);
        }
        for (int i = 0; i < received; i++)
        {
            Span<byte> packet = batch.Datagram(i);
            if (packet.Length < reflectorHeader)
            {
                if (packet.Length > 0)
                {
                    _malformed++;
                }
                continue;
            }
            if (_receiveCipher is not null && !valid[i])
            {
                _badHmac++;
                continue;
            }
            ReflectorPacket.TryRead(packet, _protectedLayout, out ReflectorPacket reply);
            uint seq = reply.SenderSequenceNumber;
            NtpTimestamp t4 = batch.ReceiveTime(i);
            if (!_timeline.TryMatchReply(seq, sentSoFar, t4, _timeoutSeconds, out NtpTimestamp t1, ref _malformed, ref _late))
            {
                continue;
            }
            if (_receiveCipher is not null && reply.SenderTimestamp.Value != t1.Value)
            {
                // The reflector echoes our T1 (RFC 5357 §4.2.1) under its HMAC. A verified reply that echoes another T1
                // is a replay: TWAMP-Light keys come from configuration, not from a per-session SID, so an earlier
                // session's replies verify in every later one with the same key (and its sequence numbers match too).
                _malformed++;
                continue;
            }
            byte ttl = batch.Ttl(i);
            _replies.Add(new TwampSample(
                seq, reply.SequenceNumber, t1, reply.ReceiveTimestamp, reply.Timestamp, t4,
                _sendErrors[seq], reply.ErrorEstimate, reply.SenderTtl, ttl == 0 ? null : ttl,
                dscpEcnOffset >= 0 ? packet[dscpEcnOffset] : null, batch.Tos(i)));
            _minReply = Math.Min(_minReply, packet.Length);
            _maxReply = Math.Max(_maxReply, packet.Length);
            if (_reflectOctets > 0 && packet.Length >= reflectorHeader + _reflectOctets
                && packet.Slice(reflectorHeader, _reflectOctets).SequenceEqual(_padding.AsSpan(0, _reflectOctets)))
            {
                _reflectedIntact++;
            }
            if (!_seen[seq])
            {
                _seen[seq] = true;
                _uniqueReplies++;
            }
        }
    }

    /// <summary>What the session measured; call once sending and receiving have both ended.</summary>
    public TwampSessionResult Result()
    {
        int sent = SentCount;
        (NtpTimestamp First, NtpTimestamp Last) sendSpan = _timeline.SendSpan(sent);
        return new TwampSessionResult(
            _sid, _mode, sent, _replies, _late, _malformed, _badHmac,
            sendSpan.First, sendSpan.Last,
            PacketLength, _timeout)
        {
            ScheduleError = _timeline.ScheduleError(sent),
            DscpEcnMonitoring = _format.DscpEcn,
            SymmetricalSize = _format.SymmetricalSize,
            ReflectOctets = _reflectOctets,
            ReflectedOctetsIntact = _reflectedIntact,
            MinReplyLength = _maxReply == 0 ? 0 : _minReply,
            MaxReplyLength = _maxReply,
            SendTimes = _timeline.SendTimes(sent),
        };
    }

    public void Dispose()
    {
        _receiveCipher?.Dispose();
        _sendCipher?.Dispose();
    }
}
