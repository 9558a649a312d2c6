using Ippm.Security;
using Ippm.Sessions.Engine;
using Ippm.Sessions.Transport;

namespace Ippm.Sessions.Twamp;

/// <summary>
/// A TWAMP Session-Sender on a loop of the session engine: the loop's timer (a sub-millisecond deadline) sends every
/// packet already due in one sendmmsg, T1 read right before it; the loop's epoll readiness reads the replies (kernel
/// receive timestamps). After the last packet, or when the caller's token stops sending, it waits for the replies to
/// what left, at most the session Timeout, as the threaded sender does, and completes with the same result.
/// </summary>
internal sealed class TwampSenderSession : EngineSession
{
    private const double HalfTickSeconds = 0.5 / TimeSpan.TicksPerSecond;

    private readonly UdpTestSocket _socket;
    private readonly TwampSenderState _state;
    private readonly TimeSpan _timeout;
    private readonly CancellationToken _stopSending;
    private readonly TaskCompletionSource<TwampSessionResult> _result = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly DatagramBatch _outgoing;
    private readonly TestPacketCipher.PacketAccessor _outgoingPacket;
    private readonly bool[] _valid = new bool[TwampSenderState.BatchSize];
    private CancellationTokenRegistration _registration;
    private TimeSpan _start;
    private bool _draining;
    private TimeSpan _stopReceivingAt = TimeSpan.MaxValue;

    private TwampSenderSession(UdpTestSocket socket, TwampSenderState state, TimeSpan timeout, CancellationToken stopSending)
    {
        _socket = socket;
        _state = state;
        _timeout = timeout;
        _stopSending = stopSending;
        // A burst never exceeds the packets of the session: a short session holds a short batch.
        _outgoing = new DatagramBatch(Math.Clamp(state.Count, 1, TwampSenderState.BatchSize), state.PacketLength);
        _outgoingPacket = i => _outgoing.Datagram(i);
        state.PrepareOutgoing(_outgoing);
    }

    public static Task<TwampSessionResult> Start(SessionEngine engine, UdpTestSocket socket, TwampSenderState state, TimeSpan timeout, CancellationToken stopSending)
    {
        var session = new TwampSenderSession(socket, state, timeout, stopSending);
        // The token stops sending only; replies in flight are still collected. A token cancelled already is seen in
        // OnAdded (Loop is still null here, so the callback posts nothing).
        session._registration = stopSending.Register(static s =>
        {
            var me = (TwampSenderSession)s!;
            EngineLoop? loop = me.Loop;
            loop?.Post(() => me.StopSending(loop));
        }, session);
        engine.Add(session);
        return session._result.Task;
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
            int burst = _state.TakeDue(elapsed, _outgoing.Capacity, HalfTickSeconds);
            if (burst == 0)
            {
                break;
            }
            _state.SendBurst(_socket, _outgoing, _outgoingPacket, burst, wait: false);
        }
        if (_state.AllSent)
        {
            StopSending(loop);
            return;
        }
        loop.ScheduleAt(this, _start + TimeSpan.FromTicks((long)Math.Round(_state.NextOffset * TimeSpan.TicksPerSecond)));
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
        if (_state.UniqueReplies >= _state.SentCount)
        {
            loop.Remove(this);
            return;
        }
        loop.ScheduleAt(this, _stopReceivingAt);
    }

    protected internal override void OnReadable(EngineLoop loop)
    {
        BatchBuffers buffers = loop.Buffers(_state.ReceiveSlotSize, 2048);
        buffers.Received.ReceiveLength = _state.ReceiveSlotSize;
        int received = _socket.ReceiveBatch(buffers.Received, TwampSenderState.BatchSize, wait: false);
        _state.AcceptReplies(buffers.Received, received, _valid);
        if (_draining && _state.UniqueReplies >= _state.SentCount)
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
            _state.Dispose();
            _result.TrySetException(failure);
            return;
        }
        TwampSessionResult result = _state.Result();
        _state.Dispose();
        _result.TrySetResult(result);
    }
}
