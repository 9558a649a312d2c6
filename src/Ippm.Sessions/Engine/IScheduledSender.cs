using Ippm.Sessions.Transport;

namespace Ippm.Sessions.Engine;

/// <summary>
/// What a Session-Sender (twping's, STAMP's) brings to <see cref="ScheduledSenderSession{TResult}"/>: its schedule,
/// how it writes and sends a burst of due packets, and how it reads the replies. The same object serves the
/// sender's threaded path, so both paths measure with the same code.
/// </summary>
internal interface IScheduledSender : IDisposable
{
    /// <summary>Packets of the session.</summary>
    int Count { get; }

    /// <summary>Octets of every test packet sent.</summary>
    int PacketLength { get; }

    /// <summary>Every packet of the schedule has been handed to the kernel.</summary>
    bool AllSent { get; }

    /// <summary>Packets sent so far.</summary>
    int SentCount { get; }

    /// <summary>Sequence numbers answered at least once.</summary>
    int UniqueReplies { get; }

    /// <summary>Seconds from the start of sending to when the next packet is due.</summary>
    double NextOffset { get; }

    /// <summary>Whether stopping the sender (its token) also stops receiving at once (STAMP's), rather than waiting for the replies to what left (twping's).</summary>
    bool StopReceivingOnStop { get; }

    /// <summary>Writes what every packet carries into each slot of <paramref name="outgoing"/> once.</summary>
    void PrepareOutgoing(DatagramBatch outgoing);

    /// <summary>Packets due <paramref name="elapsedSeconds"/> after the start (at most <paramref name="capacity"/>); 0: none.</summary>
    int TakeDue(double elapsedSeconds, int capacity, double slackSeconds);

    /// <summary>Writes, protects and sends the first <paramref name="burst"/> slots, T1 read right before.</summary>
    void SendBurst(UdpTestSocket socket, DatagramBatch outgoing, int burst, bool wait);

    /// <summary>Reads one batch of what <paramref name="socket"/> holds without waiting and matches the replies.</summary>
    void ReceiveReady(UdpTestSocket socket, EngineLoop loop);
}
