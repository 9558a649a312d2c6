using Ippm.Security;
using Ippm.Sessions.Transport;

namespace Ippm.Sessions.Engine;

/// <summary>
/// A receive batch and a send batch with the per-batch scratch a session needs to answer them (indices, verdicts,
/// accessors for <see cref="TestPacketCipher"/>'s batch methods). An <see cref="EngineLoop"/> owns one per size
/// class and lends it to whichever session it is serving, so buffers are per loop, not per session.
/// </summary>
public sealed class BatchBuffers : IDisposable
{
    public BatchBuffers(int capacity, int receiveSlotSize, int sendSlotSize)
    {
        Received = new DatagramBatch(capacity, receiveSlotSize);
        Send = new DatagramBatch(capacity, sendSlotSize);
        Indices = new int[capacity];
        Flags = new bool[capacity];
        ReceivedByIndex = i => Received.Datagram(Indices[i]);
        SendSlot = j => Send.Datagram(j);
    }

    public DatagramBatch Received { get; }
    public DatagramBatch Send { get; }

    /// <summary>Slots of <see cref="Received"/> selected for further work (e.g. the well-formed ones).</summary>
    public int[] Indices { get; }

    /// <summary>One verdict per selected slot (e.g. HMAC verified).</summary>
    public bool[] Flags { get; }

    /// <summary>Received datagram <see cref="Indices"/>[i].</summary>
    public TestPacketCipher.PacketAccessor ReceivedByIndex { get; }

    /// <summary>Datagram j of <see cref="Send"/> (its set length).</summary>
    public TestPacketCipher.PacketAccessor SendSlot { get; }

    public int Capacity => Received.Capacity;

    public void Dispose()
    {
        Received.Dispose();
        Send.Dispose();
    }
}
