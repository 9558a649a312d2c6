using System.Buffers;
using System.Buffers.Binary;
using Ippm.Security;
using Ippm.Sessions.Engine;
using Ippm.Sessions.Time;
using Ippm.Sessions.Transport;
using Ippm.Sessions.Twamp;
using Ippm.Wire;
using Ippm.Wire.Stamp;

namespace Ippm.Sessions.Stamp;

/// <summary>
/// Everything one STAMP Session-Sender keeps (RFC 8762 §4.2) and the code that writes its packets (TLV template,
/// S_TxC, HMACs) and reads its replies (kernel T4, TTL and TOS; the reflector's TLVs): the one code path of
/// <see cref="StampSessionSender"/>'s threads and of the engine's <see cref="ScheduledSenderSession{TResult}"/>.
/// What the send and receive sides both read (T1 per sequence number, the count sent) is written with
/// <see cref="Volatile"/> / <see cref="Interlocked"/>.
/// </summary>
internal sealed class StampSenderState : IScheduledSender
{
    public const int BatchSize = 64;

    private readonly StampSenderOptions _options;
    private readonly bool _auth;
    private readonly int _baseLength;
    private readonly byte[] _template = new byte[70_000];
    private readonly int _tlvLength;
    private readonly int _directAt;
    private readonly int _hmacAt;
    private readonly ErrorEstimate[] _sendErrors;
    private readonly bool[] _seen;
    private readonly List<TwampSample> _replies;
    private readonly StampTlvSummary _summary = new();
    private readonly StampAuthenticator? _sendKey;
    private readonly StampAuthenticator? _receiveKey;
    private readonly SenderTimeline _timeline;
    private readonly bool _addressed;
    private DatagramBatch? _engineBatch;
    private long _sentCount;
    private int _seqNext;
    private long _late, _malformed, _badHmac;
    private int _uniqueReplies;
    private int _backwardLength;

    public StampSenderState(UdpTestSocket socket, StampSenderOptions options)
    {
        _options = options;
        _auth = options.Authenticated;
        _baseLength = StampLayout.BaseLength(_auth);
        _tlvLength = StampSessionSender.WriteTlvTemplate(options, _template, out _directAt, out _hmacAt);
        PacketLength = _baseLength + _tlvLength;
        int count = options.Count;
        _sendErrors = new ErrorEstimate[count];
        _seen = new bool[count];
        _replies = new List<TwampSample>(Math.Min(count, 1 << 20));
        _timeline = new SenderTimeline(options.Schedule, count);
        byte[]? macKey = options.Key ?? options.TlvKey;
        _sendKey = macKey is null ? null : new StampAuthenticator(macKey);
        _receiveKey = macKey is null ? null : new StampAuthenticator(macKey);
        _addressed = socket.IsNative;
        ReceiveSlotSize = Math.Max(2048, PacketLength + 64);
        socket.EnableTrafficClassAndLocalAddress();
        if (options.Dscp != 0)
        {
            socket.SetDscp(options.Dscp);
        }
    }

    public int Count => _options.Count;
    public int PacketLength { get; }
    public int ReceiveSlotSize { get; }
    public bool AllSent => _seqNext >= _options.Count;
    public int SentCount => (int)Interlocked.Read(ref _sentCount);
    public int UniqueReplies => Volatile.Read(ref _uniqueReplies);
    public double NextOffset => _timeline.NextOffset;

    /// <summary>The threaded receive loop ends at once when sending is stopped; so does the engine's.</summary>
    public bool StopReceivingOnStop => true;

    /// <summary>A receive batch as the threaded receive loop uses (addressed where the socket is native: TOS per reply).</summary>
    public DatagramBatch CreateReceiveBatch() => new(BatchSize, ReceiveSlotSize, addressed: _addressed);

    public void PrepareOutgoing(DatagramBatch outgoing)
    {
        for (int i = 0; i < outgoing.Capacity; i++)
        {
            _template.AsSpan(0, _tlvLength).CopyTo(outgoing.Slot(i)[_baseLength..]);
            outgoing.SetLength(i, PacketLength);
        }
    }

    public int TakeDue(double elapsedSeconds, int capacity, double slackSeconds) => _timeline.TakeDue(_seqNext, elapsedSeconds, capacity, slackSeconds);

    public void SendBurst(UdpTestSocket socket, DatagramBatch outgoing, int burst, bool wait)
    {
        // T1 is read once for everything already due, right before the packets are signed and sent.
        SystemClock clock = SystemClock.Instance;
        NtpTimestamp now = clock.Now();
        ErrorEstimate error = clock.ErrorEstimate;
        for (int b = 0; b < burst; b++)
        {
            int seq = _seqNext + b;
            Span<byte> packet = outgoing.Slot(b)[..PacketLength];
            new StampSenderPacket((uint)seq, new NtpTimestamp(StampTimestamp.Encode(now, _options.PtpTimestamps)), StampTimestamp.WithFormat(error, _options.PtpTimestamps), _options.Ssid).Write(packet, _auth);
            Span<byte> tlvs = packet[_baseLength..];
            if (_directAt >= 0)
            {
                // S_TxC: in-profile packets sent so far, this one included (RFC 8972 §4.5).
                BinaryPrimitives.WriteUInt32BigEndian(tlvs[(_directAt + 4)..], (uint)(seq + 1));
            }
            if (_hmacAt >= 0 && _sendKey is not null)
            {
                _sendKey.ComputeTlvMac(packet[..4], tlvs[.._hmacAt], tlvs.Slice(_hmacAt + 4, StampLayout.HmacLength));
            }
            if (_auth)
            {
                _sendKey!.Sign(packet);
            }
            _sendErrors[seq] = error;
            _timeline.RecordSend(seq, now);
        }
        Interlocked.Add(ref _sentCount, burst);
        socket.SendBatch(outgoing, burst, wait);
        _seqNext += burst;
    }

    public void ReceiveReady(UdpTestSocket socket, EngineLoop loop)
    {
        // The loop's shared buffers are not addressed; a STAMP sender keeps a batch of its own for the reply's TOS.
        _engineBatch ??= CreateReceiveBatch();
        AcceptReplies(_engineBatch, socket.ReceiveBatch(_engineBatch, BatchSize, wait: false));
    }

    /// <summary>Matches <paramref name="received"/> replies by Session-Sender Sequence Number, stateful or stateless reflector alike.</summary>
    public void AcceptReplies(DatagramBatch batch, int received)
    {
        if (received == 0)
        {
            return;
        }
        long sentSoFar = Interlocked.Read(ref _sentCount);
        double timeoutSeconds = _options.Timeout.TotalSeconds;
        for (int i = 0; i < received; i++)
        {
            Span<byte> packet = batch.Datagram(i);
            if (StampReflectorPacket.TryRead(packet, _auth, out StampReflectorPacket reply) != OperationStatus.Done)
            {
                if (packet.Length > 0)
                {
                    _malformed++;
                }
                continue;
            }
            if (_auth && !_receiveKey!.Verify(packet))
            {
                _badHmac++;
                continue;
            }
            uint seq = reply.SenderSequenceNumber;
            NtpTimestamp t4 = batch.ReceiveTime(i);
            if (!_timeline.TryMatchReply(seq, sentSoFar, t4, timeoutSeconds, out NtpTimestamp t1, ref _malformed, ref _late))
            {
                continue;
            }
            _backwardLength = packet.Length;
            if (packet.Length > _baseLength)
            {
                StampSessionSender.ReadReplyTlvs(packet, _baseLength, _receiveKey, _summary);
            }
            if (batch.Addressed && batch.TrafficClass(i) >= 0)
            {
                int tc = batch.TrafficClass(i);
                _summary.BackwardTrafficClass[tc] = _summary.BackwardTrafficClass.GetValueOrDefault(tc) + 1;
            }
            byte ttl = batch.Ttl(i);
            // The reflector's Error Estimate says in which format its T2 and T3 are (Z bit, RFC 8762 §4.3.1).
            bool ptpReply = reply.ErrorEstimate.IsPtpFormat;
            _replies.Add(new TwampSample(
                seq, reply.SequenceNumber, t1,
                StampTimestamp.Decode(reply.ReceiveTimestamp.Value, ptpReply), StampTimestamp.Decode(reply.Timestamp.Value, ptpReply), t4,
                _sendErrors[seq], reply.ErrorEstimate, reply.SenderTtl, ttl == 0 ? null : ttl));
            if (!_seen[seq])
            {
                _seen[seq] = true;
                Volatile.Write(ref _uniqueReplies, _uniqueReplies + 1);
            }
        }
    }

    /// <summary>What the session measured; call once sending and receiving have both ended.</summary>
    public StampSessionResult Result()
    {
        int sent = SentCount;
        (NtpTimestamp First, NtpTimestamp Last) sendSpan = _timeline.SendSpan(sent);
        var session = new TwampSessionResult(
            default, _auth ? SecurityMode.Authenticated : SecurityMode.Open, sent, _replies, _late, _malformed, _badHmac,
            sendSpan.First, sendSpan.Last,
            PacketLength, _options.Timeout)
        {
            ScheduleError = _timeline.ScheduleError(sent),
            KeySource = _auth ? Control.KeySource.Passphrase : Control.KeySource.None,
        };
        return new StampSessionResult(session, _summary, _options.Ssid, _backwardLength);
    }

    public void Dispose()
    {
        _sendKey?.Dispose();
        _receiveKey?.Dispose();
        _engineBatch?.Dispose();
    }
}
