using Ippm.Sessions.Transport;

namespace Ippm.Sessions.Engine;

/// <summary>
/// A test session served by an <see cref="EngineLoop"/>: the loop watches its socket and calls it on the loop's
/// thread when datagrams are waiting or its deadline has come. Every callback runs on that one thread, so a
/// session's state needs no locks; what other threads read (counters) is written with <see cref="Interlocked"/>.
/// </summary>
public abstract class EngineSession
{
    internal int Slot = -1;
    internal uint Generation;
    internal long TimerDue = long.MaxValue;

    /// <summary>The loop serving the session once <see cref="SessionEngine.Add"/> placed it; null before.</summary>
    public EngineLoop? Loop { get; internal set; }

    /// <summary>
    /// The socket the loop watches for readability; null for a session without one of its own, which the loop serves
    /// with timers only and another session feeds its datagrams (a reflector on a <c>SharedReflectorPort</c>).
    /// </summary>
    protected internal abstract UdpTestSocket? EngineSocket { get; }

    /// <summary>Registered with the loop: arm the first deadline here.</summary>
    protected internal abstract void OnAdded(EngineLoop loop);

    /// <summary>
    /// The socket is readable. Read at most one batch (<see cref="UdpTestSocket.ReceiveBatch(DatagramBatch, int, bool)"/>
    /// without waiting) and answer it: the loop comes back while datagrams remain, after serving every other ready
    /// socket once, so one busy session cannot starve the others.
    /// </summary>
    protected internal abstract void OnReadable(EngineLoop loop);

    /// <summary>The deadline armed with <see cref="EngineLoop.Schedule"/> has come (the loop's clock, <paramref name="nowMs"/>).</summary>
    protected internal abstract void OnTimer(EngineLoop loop, long nowMs);

    /// <summary>
    /// The loop has let go of the session (it asked with <see cref="EngineLoop.Remove"/>, a callback threw, or the
    /// engine is disposed): release the socket and anything else it holds. Runs on the loop thread.
    /// </summary>
    protected internal abstract void OnRemoved(Exception? failure);
}
