using Ippm.Security;
using Ippm.Sessions.Engine;
using Ippm.Sessions.Time;
using Ippm.Sessions.Transport;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;
using Microsoft.Extensions.Logging;

namespace Ippm.Sessions.Owamp;

/// <summary>
/// The OWAMP Session-Receiver of one test session (RFC 4656 §4.2), on a dedicated thread. It keeps one
/// record per arriving packet (duplicates included) and, at Stop-Sessions, completes the data as RFC 4656
/// §3.8 describes: records scheduled later than (stop − Timeout) or at/after Next Seqno are dropped and every
/// missing sequence number becomes a lost record (zero receive time, TTL 255, scheduled send time).
/// Unlike the reference, a malformed datagram, an out-of-range sequence number or a zero Multiplier drops
/// that packet only; the session goes on.
/// </summary>
public sealed partial class OwampReceiver : EngineSession, IDisposable
{
    private static readonly ErrorEstimate LostSendError = new(0x0001);

    private readonly UdpTestSocket _socket;
    private readonly OwampSessionSpec _spec;
    private readonly TestPacketCipher? _cipher;
    private readonly ILogger _logger;
    private readonly List<OwampDataRecord> _records = [];
    private readonly object _lock = new();
    private Thread? _thread;
    private volatile bool _stopping;
    private readonly long _maxRecords;
    private long _malformed;
    private long _badHmac;
    private long _dropped;

    private readonly SessionEngine? _engine;
    private readonly ManualResetEventSlim _offLoop = new(false);
    private readonly int _slotSize;

    /// <param name="engine">
    /// The engine to receive on; null for <see cref="SessionEngine.Shared"/>. Without one (not Linux,
    /// <c>IPPM_SESSION_ENGINE=0</c>, a socket that cannot batch) the receiver runs on a thread of its own.
    /// </param>
    public OwampReceiver(UdpTestSocket socket, OwampSessionSpec spec, TestPacketCipher? cipher, ILogger logger, SessionEngine? engine = null)
    {
        _engine = socket.IsNative ? engine ?? SessionEngine.Shared : null;
        // Datagrams longer than the session's packets arrive truncated; only the header is read (and MACed).
        _slotSize = Math.Clamp(TestPacketLayout.SenderHeader(cipher is not null) + spec.PaddingLength + 64, 2048, 65536);
        _socket = socket;
        _spec = spec;
        _cipher = cipher;
        _logger = logger;
        // Duplicates can exceed the packet count; beyond this the rest is counted, not kept.
        _maxRecords = (2L * spec.PacketCount) + 1024;
    }

    public OwampSessionSpec Spec => _spec;
    public SessionId Sid => _spec.Sid;
    public int Port => _socket.LocalEndPoint.Port;
    public long Malformed => Interlocked.Read(ref _malformed);
    public long BadHmac => Interlocked.Read(ref _badHmac);

    /// <summary>Packets not recorded because the session already held 2 × Packet Count + 1024 records.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Set when the session was completed by Stop-Sessions: Next Seqno and skip ranges from the sender.</summary>
    public SessionDescription? Completion { get; private set; }

    /// <summary>The session ended without a Stop-Sessions exchange (Fetch-Ack Finished = 2).</summary>
    public bool EndedAbnormally { get; private set; }

    /// <summary>Whether the receiver runs on an engine loop rather than a thread of its own.</summary>
    public bool OnEngine => _engine is not null;

    public void Start()
    {
        if (_engine is not null)
        {
            _engine.Add(this);
            return;
        }
        _thread = new Thread(Run) { IsBackground = true, Name = $"owamp-receiver {Port}", Priority = ThreadPriority.AboveNormal };
        _thread.Start();
    }

    private void Run()
    {
        byte[] buffer = new byte[65536];
        SystemClock clock = SystemClock.Instance;
        try
        {
            while (!_stopping)
            {
                if (!_socket.TryReceive(buffer, out ReceivedDatagram datagram) || datagram.Length == 0)
                {
                    continue;
                }
                Accept(buffer.AsSpan(0, datagram.Length), datagram.ReceiveTime, datagram.Ttl, clock.ErrorEstimate);
            }
        }
        catch (ObjectDisposedException) when (_stopping)
        {
        }
        catch (Exception e)
        {
            Log.ReceiverFailed(_logger, e, Sid);
        }
    }

    /// <summary>Checks one received test packet and keeps its record: the one code path of the thread and the engine.</summary>
    private void Accept(Span<byte> packet, NtpTimestamp receiveTime, byte? ttl, ErrorEstimate receiveError)
    {
        bool protectedLayout = _cipher is not null;
        int header = TestPacketLayout.SenderHeader(protectedLayout);
        if (packet.Length < header)
        {
            Interlocked.Increment(ref _malformed);
            Log.ShortPacket(_logger, Sid, packet.Length, header);
            return;
        }
        if (_cipher is not null && !_cipher.TryUnprotect(packet, TestPacketLayout.SenderHmacOffset))
        {
            Interlocked.Increment(ref _badHmac);
            Log.BadHmac(_logger, Sid, packet.Length);
            return;
        }
        SenderPacket.TryRead(packet, protectedLayout, out SenderPacket sent);
        if (sent.SequenceNumber >= _spec.PacketCount || !sent.ErrorEstimate.IsValid)
        {
            Interlocked.Increment(ref _malformed);
            Log.InvalidPacket(_logger, Sid, sent.SequenceNumber, sent.ErrorEstimate.Value);
            return;
        }
        var record = new OwampDataRecord(sent.SequenceNumber, sent.ErrorEstimate, receiveError, sent.Timestamp, receiveTime, ttl ?? 255);
        lock (_lock)
        {
            if (_records.Count < _maxRecords)
            {
                _records.Add(record);
            }
            else if (Interlocked.Increment(ref _dropped) == 1)
            {
                Log.RecordLimit(_logger, Sid, _maxRecords);
            }
        }
    }

    // Session engine: the same receiver, driven by an EngineLoop. It has no deadline of its own: the control
    // connection ends it (Stop-Sessions, Dispose), waiting until the loop has let go of the socket.

    protected internal override UdpTestSocket EngineSocket => _socket;

    protected internal override void OnAdded(EngineLoop loop)
    {
    }

    protected internal override void OnReadable(EngineLoop loop) => ReadBatch(loop);

    /// <summary>Reads one batch of what the socket holds; the number of datagrams read.</summary>
    private int ReadBatch(EngineLoop loop)
    {
        BatchBuffers buffers = loop.Buffers(_slotSize, 2048);
        buffers.Received.ReceiveLength = _slotSize;
        int count = _socket.ReceiveBatch(buffers.Received, 16, wait: false);
        if (count == 0)
        {
            return 0;
        }
        ErrorEstimate receiveError = SystemClock.Instance.ErrorEstimate;
        for (int i = 0; i < count; i++)
        {
            // recvmmsg reports the datagram's full length when it was truncated; the slot holds what fitted.
            int length = Math.Min(buffers.Received.Length(i), _slotSize);
            if (length == 0)
            {
                continue;
            }
            byte ttl = buffers.Received.Ttl(i);
            Accept(buffers.Received.Slot(i)[..length], buffers.Received.ReceiveTime(i), ttl == 0 ? null : ttl, receiveError);
        }
        return count;
    }

    protected internal override void OnTimer(EngineLoop loop, long nowMs)
    {
    }

    protected internal override void OnRemoved(Exception? failure)
    {
        if (failure is not null and not ObjectDisposedException)
        {
            Log.ReceiverFailed(_logger, failure, Sid);
        }
        _offLoop.Set();
    }

    /// <summary>Longest wait for packets still in flight when a Stop-Sessions arrives (see <see cref="WaitForInFlightAsync"/>).</summary>
    public static readonly TimeSpan InFlightBound = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Before <see cref="Complete"/>: keeps receiving while a packet the sender says it sent is missing — below its
    /// Next Seqno, outside its skip ranges, scheduled before the cutoff <see cref="Complete"/> judges by — at most the
    /// session's Timeout and <see cref="InFlightBound"/>. A packet sent right before the sender's Stop-Sessions can reach
    /// the receiver after it: on loopback the UDP datagram and the TCP segment wait in different CPUs' backlogs, and a
    /// busy machine can serve the TCP one first. RFC 4656 counts a packet lost only when it has not arrived within
    /// Timeout of its sending; this short wait keeps a stop from turning the last packets into loss. Returns at once
    /// when nothing is missing (the usual stop, after the sender's last packet plus Timeout, with no loss).
    /// </summary>
    public async Task WaitForInFlightAsync(SessionDescription? senderDescription, NtpTimestamp stopTime, CancellationToken cancellationToken)
    {
        if (senderDescription is null)
        {
            return;
        }
        TimeSpan bound = _spec.Timeout < InFlightBound ? _spec.Timeout : InFlightBound;
        long deadline = Environment.TickCount64 + (long)bound.TotalMilliseconds;
        while (MissingSent(senderDescription, stopTime) > 0 && Environment.TickCount64 < deadline)
        {
            await Task.Delay(5, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Sequence numbers the sender sent (per its description) that are judged at <paramref name="stopTime"/> and not yet received.</summary>
    internal int MissingSent(SessionDescription senderDescription, NtpTimestamp stopTime)
    {
        uint next = JudgedNext(senderDescription.NextSeqno, stopTime);
        var received = new bool[next];
        lock (_lock)
        {
            foreach (OwampDataRecord r in _records)
            {
                if (r.SequenceNumber < next)
                {
                    received[r.SequenceNumber] = true;
                }
            }
        }
        // The ranges are sorted and disjoint (the Stop-Sessions reader refuses others), so one cursor walks them with
        // the sequence: linear in Next Seqno plus the ranges, where a scan per seq let 65 536 ranges cost ~10^11 steps.
        IReadOnlyList<SkipRange> skips = senderDescription.SkipRanges;
        int skip = 0;
        int missing = 0;
        for (uint seq = 0; seq < next; seq++)
        {
            while (skip < skips.Count && skips[skip].Last < seq)
            {
                skip++;
            }
            bool skipped = skip < skips.Count && skips[skip].First <= seq;
            if (!received[seq] && !skipped)
            {
                missing++;
            }
        }
        return missing;
    }

    /// <summary>
    /// The packets a stop at <paramref name="stopTime"/> judges: those below the sender's Next Seqno scheduled at least
    /// Timeout before it (RFC 4656 §3.8). Later ones are not part of the session, so they are not counted as sent either:
    /// Next Seqno ends at the first of them (the schedule only grows with seq).
    /// </summary>
    private uint JudgedNext(uint senderNext, NtpTimestamp stopTime)
    {
        uint next = Math.Min(senderNext, (uint)_spec.PacketCount);
        ulong cutoff = stopTime.Value - NtpTimestamp.FromSeconds(_spec.Timeout.TotalSeconds).Value;
        while (next > 0 && _spec.ScheduledSendTime(next - 1).Value > cutoff)
        {
            next--;
        }
        return next;
    }

    /// <summary>Stops receiving and completes the data with the sender's description (RFC 4656 §3.8).</summary>
    public void Complete(SessionDescription? senderDescription, NtpTimestamp stopTime)
    {
        StopThread();
        lock (_lock)
        {
            if (senderDescription is null)
            {
                EndedAbnormally = true;
                senderDescription = new SessionDescription(Sid, (uint)_spec.PacketCount, []);
            }
            // A stop that came less than Timeout after the last packets would otherwise report them lost with no record.
            uint next = JudgedNext(senderDescription.NextSeqno, stopTime);
            Completion = senderDescription with { NextSeqno = next };
            // Below the judged Next Seqno every packet is scheduled before the cut-off, so seq alone decides.
            _records.RemoveAll(r => r.SequenceNumber >= next);
            var received = new bool[next];
            foreach (OwampDataRecord r in _records)
            {
                received[r.SequenceNumber] = true;
            }
            for (uint seq = 0; seq < next; seq++)
            {
                if (!received[seq])
                {
                    _records.Add(new OwampDataRecord(seq, LostSendError, LostSendError, _spec.ScheduledSendTime(seq), default, 255));
                }
            }
            Log.Completed(_logger, Sid, next, _records.Count(r => r.IsLost), Malformed, BadHmac);
        }
    }

    /// <summary>Records with Begin ≤ seq ≤ End, in the order they were written (lost records last).</summary>
    public OwampDataRecord[] Records(uint begin = 0, uint end = uint.MaxValue)
    {
        lock (_lock)
        {
            return _records.Where(r => r.SequenceNumber >= begin && r.SequenceNumber <= end).ToArray();
        }
    }

    /// <summary>Frees the records once they are stored elsewhere (on disk).</summary>
    public void ReleaseRecords()
    {
        lock (_lock)
        {
            _records.Clear();
            _records.TrimExcess();
        }
    }

    private void StopThread()
    {
        _stopping = true;
        if (Loop is EngineLoop loop)
        {
            // No record may be added after Complete: wait until the loop has taken the socket off (it runs every
            // command before its next wait, so this is short; the bound only guards against a dead loop).
            if (!_offLoop.IsSet)
            {
                // Packets that arrived before Stop-Sessions but were not yet read count: drain what the socket
                // already holds (bounded: a flood cannot keep the loop here), then let go of it.
                loop.Post(() =>
                {
                    try
                    {
                        for (int batch = 0; batch < 64 && !_offLoop.IsSet && ReadBatch(loop) > 0; batch++)
                        {
                        }
                    }
                    finally
                    {
                        loop.Remove(this);
                    }
                });
                _offLoop.Wait(TimeSpan.FromSeconds(10));
            }
            return;
        }
        if (_thread is not null && Thread.CurrentThread != _thread)
        {
            _thread.Join();
        }
    }

    public void Dispose()
    {
        StopThread();
        _socket.Dispose();
        _cipher?.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 400, Level = LogLevel.Debug, Message = "OWAMP session {Sid}: dropped a {Length}-octet datagram, shorter than the {Header}-octet header")]
        public static partial void ShortPacket(ILogger logger, SessionId sid, int length, int header);

        [LoggerMessage(EventId = 401, Level = LogLevel.Debug, Message = "OWAMP session {Sid}: dropped a {Length}-octet packet whose HMAC does not verify")]
        public static partial void BadHmac(ILogger logger, SessionId sid, int length);

        [LoggerMessage(EventId = 402, Level = LogLevel.Debug, Message = "OWAMP session {Sid}: dropped a packet with sequence number {Sequence} or error estimate 0x{Error:x4}")]
        public static partial void InvalidPacket(ILogger logger, SessionId sid, uint sequence, ushort error);

        [LoggerMessage(EventId = 403, Level = LogLevel.Information, Message = "OWAMP session {Sid}: completed, next seqno {Next}, {Lost} lost, {Malformed} malformed, {BadHmac} bad HMAC")]
        public static partial void Completed(ILogger logger, SessionId sid, uint next, int lost, long malformed, long badHmac);

        [LoggerMessage(EventId = 405, Level = LogLevel.Warning, Message = "OWAMP session {Sid}: {Limit} records held; further packets are counted as dropped")]
        public static partial void RecordLimit(ILogger logger, SessionId sid, long limit);

        [LoggerMessage(EventId = 404, Level = LogLevel.Error, Message = "OWAMP session {Sid}: receiver failed")]
        public static partial void ReceiverFailed(ILogger logger, Exception exception, SessionId sid);
    }
}
