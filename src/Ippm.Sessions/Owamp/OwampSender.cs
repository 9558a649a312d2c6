using System.Diagnostics;
using Ippm.Security;
using Ippm.Sessions.Time;
using Ippm.Sessions.Transport;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;

namespace Ippm.Sessions.Owamp;

/// <summary>
/// The OWAMP Session-Sender of one test session (RFC 4656 §4.1): sends packet k at Start Time + t_k on a
/// dedicated thread, skips packets already later than Timeout (RFC 4656 §4.1.1; the receiver would discard
/// them) and reports Next Seqno and the skip ranges for Stop-Sessions.
/// </summary>
public sealed class OwampSender : IDisposable
{
    private readonly UdpTestSocket _socket;
    private readonly OwampSessionSpec _spec;
    private readonly TestPacketCipher? _cipher;
    private readonly List<SkipRange> _skips = [];
    private readonly TaskCompletionSource<SessionDescription> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _stopping;
    private Thread? _thread;

    public OwampSender(UdpTestSocket socket, OwampSessionSpec spec, TestPacketCipher? cipher)
    {
        _socket = socket;
        _spec = spec;
        _cipher = cipher;
    }

    public OwampSessionSpec Spec => _spec;
    public SessionId Sid => _spec.Sid;
    public int Port => _socket.LocalEndPoint.Port;

    /// <summary>Completes with this session's Stop-Sessions description when sending ends.</summary>
    public Task<SessionDescription> Completion => _done.Task;

    public void Start()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = $"owamp-sender {Port}", Priority = ThreadPriority.AboveNormal };
        _thread.Start();
    }

    /// <summary>Stops sending now (Stop-Sessions arrived) and returns the description of what was sent.</summary>
    public SessionDescription Stop()
    {
        _stopping = true;
        if (_thread is null)
        {
            _done.TrySetResult(new SessionDescription(Sid, 0, []));
        }
        else
        {
            _thread.Join();
        }
        return _done.Task.Result;
    }

    private void Run()
    {
        bool protectedLayout = _cipher is not null;
        int header = TestPacketLayout.SenderHeader(protectedLayout);
        byte[] packet = new byte[header + _spec.PaddingLength];
        Random.Shared.NextBytes(packet.AsSpan(header));
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
                packet.AsSpan(0, protectedLayout ? TestPacketLayout.SenderHmacOffset : header).Clear();
                SenderPacket.WriteSequenceNumber(packet, seq);
                SenderPacket.WriteTimestamp(packet, protectedLayout, clock.Now(), clock.ErrorEstimate);
                _cipher?.Protect(packet, TestPacketLayout.SenderHmacOffset);
                try
                {
                    _socket.Send(packet);
                }
                catch (System.Net.Sockets.SocketException)
                {
                    // Reported ICMP errors do not stop the schedule; the packet counts as sent (and lost).
                }
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
        _thread?.Join();
        _socket.Dispose();
        _cipher?.Dispose();
    }
}
