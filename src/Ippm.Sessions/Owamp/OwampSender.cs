using System.Diagnostics;
using Ippm.Security;
using Ippm.Sessions.Engine;
using Ippm.Sessions.Time;
using Ippm.Sessions.Transport;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;

namespace Ippm.Sessions.Owamp;

/// <summary>
/// The OWAMP Session-Sender of one test session (RFC 4656 §4.1): sends packet k at Start Time + t_k, skips packets
/// already later than Timeout (RFC 4656 §4.1.1; the receiver would discard them) and reports Next Seqno and the skip
/// ranges for Stop-Sessions. On a loop of the session engine each packet leaves on the loop's timer (a sub-millisecond
/// deadline); without the engine (not Linux, <c>IPPM_SESSION_ENGINE=0</c>, a socket that cannot batch) on a dedicated
/// thread. Both paths send each packet through <see cref="SendPacket"/>.
/// </summary>
public sealed class OwampSender : EngineSession, IDisposable
{
    /// <summary>Packets one timer callback may send before it lets the loop serve the other sessions.</summary>
    private const int MaxPerCallback = 64;

    private readonly UdpTestSocket _socket;
    private readonly OwampSessionSpec _spec;
    private readonly TestPacketCipher? _cipher;
    private readonly List<SkipRange> _skips = [];
    private readonly TaskCompletionSource<SessionDescription> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SessionEngine? _engine;
    private readonly ManualResetEventSlim _offLoop = new(false);
    private readonly byte[] _packet;
    private readonly bool _protectedLayout;
    private volatile bool _stopping;
    private Thread? _thread;

    // Loop state (engine path): the schedule on the loop's clock and the next sequence number.
    private TimeSpan _startOnLoop;
    private uint _next;
    private DatagramBatch? _outgoing;

    /// <param name="engine">The engine to send on; null for <see cref="SessionEngine.Shared"/> (a thread where there is none).</param>
    public OwampSender(UdpTestSocket socket, OwampSessionSpec spec, TestPacketCipher? cipher, SessionEngine? engine = null)
    {
        _socket = socket;
        _spec = spec;
        _cipher = cipher;
        _engine = socket.IsNative ? engine ?? SessionEngine.Shared : null;
        _protectedLayout = cipher is not null;
        int header = TestPacketLayout.SenderHeader(_protectedLayout);
        _packet = new byte[header + spec.PaddingLength];
        Random.Shared.NextBytes(_packet.AsSpan(header));
    }

    /// <summary>Whether the sender runs on an engine loop rather than a thread of its own.</summary>
    public bool OnEngine => _engine is not null;

    public OwampSessionSpec Spec => _spec;
    public SessionId Sid => _spec.Sid;
    public int Port => _socket.LocalEndPoint.Port;

    /// <summary>Completes with this session's Stop-Sessions description when sending ends.</summary>
    public Task<SessionDescription> Completion => _done.Task;

    public void Start()
    {
        if (_engine is not null)
        {
            _engine.Add(this);
            return;
        }
        _thread = new Thread(Run) { IsBackground = true, Name = $"owamp-sender {Port}", Priority = ThreadPriority.AboveNormal };
        _thread.Start();
    }

    /// <summary>Stops sending now (Stop-Sessions arrived) and returns the description of what was sent.</summary>
    public SessionDescription Stop()
    {
        _stopping = true;
        if (Loop is EngineLoop loop)
        {
            LeaveLoop(loop);
        }
        else if (_thread is null)
        {
            _done.TrySetResult(new SessionDescription(Sid, 0, []));
        }
        else
        {
            _thread.Join();
        }
        return _done.Task.Result;
    }

    /// <summary>Asks the loop to take the sender off and waits until it has (the bound only guards against a dead loop).</summary>
    private void LeaveLoop(EngineLoop loop)
    {
        if (!_offLoop.IsSet)
        {
            loop.Post(() => loop.Remove(this));
            _offLoop.Wait(TimeSpan.FromSeconds(10));
        }
    }

    private void Run()
    {
        SystemClock clock = SystemClock.Instance;
        // Map the NTP schedule onto the monotonic clock once, so the wall clock is read only for timestamps.
        NtpTimestamp now = clock.Now();
        long startTicks = Stopwatch.GetTimestamp() + (long)(NtpTimestamp.DifferenceSeconds(_spec.StartTime, now) * Stopwatch.Frequency);
        double timeoutSeconds = _spec.Timeout.TotalSeconds;
        uint next = 0;
        try
        {
            for (uint seq = 0; seq < _spec.PacketCount && !_stopping; seq++)
            {
                double offsetSeconds = _spec.Offsets[seq] / 4_294_967_296.0;
                long target = startTicks + (long)(offsetSeconds * Stopwatch.Frequency);
                if (!WaitUntil(target))
                {
                    break;
                }
                next = seq + 1;
                double lateSeconds = (Stopwatch.GetTimestamp() - target) / (double)Stopwatch.Frequency;
                if (lateSeconds > timeoutSeconds)
                {
                    AddSkip(seq);
                    continue;
                }
                SendPacket(seq, null);
            }
        }
        catch (ObjectDisposedException) when (_stopping)
        {
        }
        finally
        {
            _done.TrySetResult(new SessionDescription(Sid, next, [.. _skips]));
        }
    }

    /// <summary>
    /// Writes packet <paramref name="seq"/> with its timestamp read right before it is protected and sent. A packet the
    /// kernel refuses (an ICMP error reported, a full buffer on the loop) does not stop the schedule; it counts as sent
    /// (and lost).
    /// </summary>
    private void SendPacket(uint seq, DatagramBatch? outgoing)
    {
        byte[] packet = _packet;
        SystemClock clock = SystemClock.Instance;
        packet.AsSpan(0, _protectedLayout ? TestPacketLayout.SenderHmacOffset : TestPacketLayout.SenderHeader(_protectedLayout)).Clear();
        SenderPacket.WriteSequenceNumber(packet, seq);
        SenderPacket.WriteTimestamp(packet, _protectedLayout, clock.Now(), clock.ErrorEstimate);
        _cipher?.Protect(packet, TestPacketLayout.SenderHmacOffset);
        if (outgoing is not null)
        {
            // The loop never blocks: MSG_DONTWAIT through the batch path.
            packet.CopyTo(outgoing.Slot(0));
            outgoing.SetLength(0, packet.Length);
            _socket.SendBatch(outgoing, 1, wait: false);
            return;
        }
        try
        {
            _socket.Send(packet);
        }
        catch (System.Net.Sockets.SocketException)
        {
        }
    }

    // Session engine: the same sender, driven by an EngineLoop's timer.

    protected internal override UdpTestSocket EngineSocket => _socket;

    protected internal override void OnAdded(EngineLoop loop)
    {
        // Map the NTP schedule onto the loop's clock once, so the wall clock is read only for timestamps.
        NtpTimestamp now = SystemClock.Instance.Now();
        _startOnLoop = loop.Now + TimeSpan.FromSeconds(NtpTimestamp.DifferenceSeconds(_spec.StartTime, now));
        _outgoing = new DatagramBatch(1, _packet.Length);
        SendDue(loop);
    }

    protected internal override void OnTimer(EngineLoop loop, long nowMs) => SendDue(loop);

    /// <summary>Sends (or skips) every packet already due, at most <see cref="MaxPerCallback"/>, then arms the next deadline.</summary>
    private void SendDue(EngineLoop loop)
    {
        double timeoutSeconds = _spec.Timeout.TotalSeconds;
        for (int sent = 0; _next < _spec.PacketCount && !_stopping; sent++)
        {
            TimeSpan target = _startOnLoop + TimeSpan.FromTicks((long)Math.Round(_spec.Offsets[_next] / 4_294_967_296.0 * TimeSpan.TicksPerSecond));
            TimeSpan now = loop.Now;
            if (target > now || sent == MaxPerCallback)
            {
                loop.ScheduleAt(this, target > now ? target : now);
                return;
            }
            uint seq = _next++;
            if ((now - target).TotalSeconds > timeoutSeconds)
            {
                AddSkip(seq);
                continue;
            }
            SendPacket(seq, _outgoing);
        }
        loop.Remove(this);
    }

    /// <summary>Nothing is expected on a sender's socket; whatever arrives is read and dropped so epoll stops reporting it.</summary>
    protected internal override void OnReadable(EngineLoop loop)
    {
        BatchBuffers buffers = loop.Buffers(2048, 2048);
        buffers.Received.ReceiveLength = 2048;
        _socket.ReceiveBatch(buffers.Received, 16, wait: false);
    }

    protected internal override void OnRemoved(Exception? failure)
    {
        _outgoing?.Dispose();
        _outgoing = null;
        // Next Seqno: the first sequence number not sent or skipped (RFC 4656 §3.8).
        _done.TrySetResult(new SessionDescription(Sid, _next, [.. _skips]));
        _offLoop.Set();
    }

    private void AddSkip(uint seq)
    {
        if (_skips.Count > 0 && _skips[^1].Last == seq - 1)
        {
            _skips[^1] = _skips[^1] with { Last = seq };
        }
        else
        {
            _skips.Add(new SkipRange(seq, seq));
        }
    }

    private bool WaitUntil(long target)
    {
        while (!_stopping)
        {
            long remaining = target - Stopwatch.GetTimestamp();
            if (remaining <= 0)
            {
                return true;
            }
            double remainingMs = remaining * 1000.0 / Stopwatch.Frequency;
            if (remainingMs > 2)
            {
                Thread.Sleep((int)Math.Min(remainingMs - 1, 100));
            }
            else
            {
                Thread.SpinWait(20);
            }
        }
        return false;
    }

    public void Dispose()
    {
        _stopping = true;
        if (Loop is EngineLoop loop)
        {
            LeaveLoop(loop);
        }
        _thread?.Join();
        _socket.Dispose();
        _cipher?.Dispose();
    }
}
