using Ippm.Sessions.Transport;

namespace Ippm.Sessions.Engine;

/// <summary>
/// A Session-Sender on a loop of the session engine (twping's, STAMP's): the loop's timer (a sub-millisecond
/// deadline) sends every packet already due in one sendmmsg, T1 read right before it; the loop's epoll readiness
/// reads the replies (kernel receive timestamps). After the last packet, or when the caller's token stops sending,
/// it waits for the replies to what left, at most the session Timeout, as the threaded senders do, and completes
/// with the result the <see cref="IScheduledSender"/> makes.
/// </summary>
internal sealed class ScheduledSenderSession<TResult> : EngineSession
{
    private const double HalfTickSeconds = 0.5 / TimeSpan.TicksPerSecond;
    private const int MaxBatch = 64;

    private readonly UdpTestSocket _socket;
    private readonly IScheduledSender _sender;
    private readonly Func<TResult> _result;
    private readonly TimeSpan _timeout;
    private readonly CancellationToken _stopSending;
    private readonly TaskCompletionSource<TResult> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly DatagramBatch _outgoing;
    private CancellationTokenRegistration _registration;
    private TimeSpan _start;
    private bool _draining;
    private TimeSpan _stopReceivingAt = TimeSpan.MaxValue;

    private ScheduledSenderSession(UdpTestSocket socket, IScheduledSender sender, Func<TResult> result, TimeSpan timeout, CancellationToken stopSending)
    {
        _socket = socket;
        _sender = sender;
        _result = result;
        _timeout = timeout;
        _stopSending = stopSending;
        // A burst never exceeds the packets of the session: a short session holds a short batch.
        _outgoing = new DatagramBatch(Math.Clamp(sender.Count, 1, MaxBatch), sender.PacketLength);
        sender.PrepareOutgoing(_outgoing);
    }

    /// <summary>Places the sender on <paramref name="engine"/>; the task completes when it has left the loop.</summary>
    public static Task<TResult> Start(SessionEngine engine, UdpTestSocket socket, IScheduledSender sender, Func<TResult> result, TimeSpan timeout, CancellationToken stopSending)
    {
        var session = new ScheduledSenderSession<TResult>(socket, sender, result, timeout, stopSending);
        // A token cancelled already is seen in OnAdded (Loop is still null here, so the callback posts nothing).
        session._registration = stopSending.Register(static s =>
        {
            var me = (ScheduledSenderSession<TResult>)s!;
            EngineLoop? loop = me.Loop;
            loop?.Post(() => me.StopSending(loop));
        }, session);
        engine.Add(session);
        return session._completion.Task;
    }

    protected internal override UdpTestSocket EngineSocket => _socket;

    protected internal override void OnAdded(EngineLoop loop)
    {
        _start = loop.Now;
        SendDue(loop);
    }

    protected internal override void OnTimer(EngineLoop loop, long nowMs)
    {
        if (_draining)
        {
            if (loop.Now >= _stopReceivingAt)
            {
                loop.Remove(this);
            }
            else
            {
                loop.ScheduleAt(this, _stopReceivingAt);
            }
            return;
        }
        SendDue(loop);
    }

    /// <summary>Sends what is due (a batch at a time) and arms the deadline of the next packet.</summary>
    private void SendDue(EngineLoop loop)
    {
        if (_draining)
        {
            return;
        }
        if (_stopSending.IsCancellationRequested)
        {
            StopSending(loop);
            return;
        }
        while (true)
        {
            double elapsed = (loop.Now - _start).TotalSeconds;
            int burst = _sender.TakeDue(elapsed, _outgoing.Capacity, HalfTickSeconds);
            if (burst == 0)
            {
                break;
            }
            _sender.SendBurst(_socket, _outgoing, burst, wait: false);
        }
        if (_sender.AllSent)
        {
            StopSending(loop);
            return;
        }
        loop.ScheduleAt(this, _start + TimeSpan.FromTicks((long)Math.Round(_sender.NextOffset * TimeSpan.TicksPerSecond)));
    }

    /// <summary>No more packets leave; replies to those that did are awaited for at most the Timeout.</summary>
    private void StopSending(EngineLoop loop)
    {
        if (_draining || Slot < 0)
        {
            return;
        }
        _draining = true;
        _stopReceivingAt = loop.Now + _timeout;
        if (_sender.UniqueReplies >= _sender.SentCount || (_sender.StopReceivingOnStop && _stopSending.IsCancellationRequested))
        {
            loop.Remove(this);
            return;
        }
        loop.ScheduleAt(this, _stopReceivingAt);
    }

    protected internal override void OnReadable(EngineLoop loop)
    {
        _sender.ReceiveReady(_socket, loop);
        if (_draining && _sender.UniqueReplies >= _sender.SentCount)
        {
            loop.Remove(this);
        }
    }

    protected internal override void OnRemoved(Exception? failure)
    {
        _registration.Dispose();
        _outgoing.Dispose();
        if (failure is not null)
        {
            _sender.Dispose();
            _completion.TrySetException(failure);
            return;
        }
        TResult result;
        try
        {
            result = _result();
        }
        catch (Exception e)
        {
            _sender.Dispose();
            _completion.TrySetException(e);
            return;
        }
        _sender.Dispose();
        _completion.TrySetResult(result);
    }
}
