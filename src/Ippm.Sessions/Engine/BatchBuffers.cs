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
    /// <param name="addressed">Batches whose slots carry their peer's address (see <see cref="DatagramBatch.Addressed"/>).</param>
    public BatchBuffers(int capacity, int receiveSlotSize, int sendSlotSize, bool addressed = false)
    {
        Received = new DatagramBatch(capacity, receiveSlotSize, addressed);
        Send = new DatagramBatch(capacity, sendSlotSize, addressed);
        Indices = new int[capacity];
        Flags = new bool[capacity];
        ReplySources = new int[capacity];
        SendFailed = new bool[capacity];
        ReceivedByIndex = i => Received.Datagram(Indices[i]);
        SendSlot = j => Send.Datagram(SendOffset + j);
    }

    public DatagramBatch Received { get; }
    public DatagramBatch Send { get; }

    /// <summary>Slots of <see cref="Received"/> selected for further work (e.g. the well-formed ones).</summary>
    public int[] Indices { get; }

    /// <summary>One verdict per selected slot (e.g. HMAC verified).</summary>
    public bool[] Flags { get; }

    /// <summary>Received datagram <see cref="Indices"/>[i].</summary>
    public TestPacketCipher.PacketAccessor ReceivedByIndex { get; }

    /// <summary>Datagram <see cref="SendOffset"/> + j of <see cref="Send"/> (its set length).</summary>
    public TestPacketCipher.PacketAccessor SendSlot { get; }

    /// <summary>First slot of <see cref="Send"/> that <see cref="SendSlot"/> reaches: where one session's replies start in a batch several sessions fill.</summary>
    public int SendOffset { get; set; }

    /// <summary>For each reply slot, the received slot it answers (a shared port addresses replies by it).</summary>
    public int[] ReplySources { get; }

    /// <summary>For each reply slot, whether the kernel refused it (<see cref="Transport.UdpTestSocket.SendBatch(DatagramBatch, int, bool, Span{bool})"/>).</summary>
    public bool[] SendFailed { get; }

    public int Capacity => Received.Capacity;

    public void Dispose()
    {
        Received.Dispose();
        Send.Dispose();
    }
}
