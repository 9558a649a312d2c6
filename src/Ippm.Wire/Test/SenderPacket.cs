using System.Buffers;
using System.Buffers.Binary;

namespace Ippm.Wire.Test;

/// <summary>
/// The OWAMP-Test packet and TWAMP Session-Sender packet (RFC 4656 §4.1.2, RFC 5357 §4.1.2), in plaintext.
/// <code>
/// open:       0 Seq (4) | 4 Timestamp (8) | 12 Error Estimate (2) | 14 Padding
/// protected:  0 Seq (4) | 4 MBZ (12) | 16 Timestamp (8) | 24 Error Estimate (2) | 26 MBZ (6) | 32 HMAC (16) | 48 Padding
/// </code>
/// </summary>
public readonly record struct SenderPacket(uint SequenceNumber, NtpTimestamp Timestamp, ErrorEstimate ErrorEstimate)
{
    public static int TimestampOffset(bool protectedLayout) => protectedLayout ? 16 : 4;

    /// <summary>Writes the header fields (not the HMAC, not the padding); MBZ octets are cleared.</summary>
    public void Write(Span<byte> packet, bool protectedLayout)
    {
        int header = TestPacketLayout.SenderHeader(protectedLayout);
        ArgumentOutOfRangeException.ThrowIfLessThan(packet.Length, header, nameof(packet));
        if (protectedLayout)
        {
            packet[..TestPacketLayout.SenderHmacOffset].Clear();
        }
        BinaryPrimitives.WriteUInt32BigEndian(packet, SequenceNumber);
        int ts = TimestampOffset(protectedLayout);
        Timestamp.Write(packet[ts..]);
        ErrorEstimate.Write(packet[(ts + 8)..]);
    }

    public static OperationStatus TryRead(ReadOnlySpan<byte> packet, bool protectedLayout, out SenderPacket result)
    {
        result = default;
        if (packet.Length < TestPacketLayout.SenderHeader(protectedLayout))
        {
            return OperationStatus.InvalidData;
        }
        int ts = TimestampOffset(protectedLayout);
        result = new SenderPacket(
            BinaryPrimitives.ReadUInt32BigEndian(packet),
            NtpTimestamp.Read(packet[ts..]),
            ErrorEstimate.Read(packet[(ts + 8)..]));
        return OperationStatus.Done;
    }

    /// <summary>Writes just the sequence number (the hot path prepares block 0 before it reads the clock).</summary>
    public static void WriteSequenceNumber(Span<byte> packet, uint sequenceNumber) =>
        BinaryPrimitives.WriteUInt32BigEndian(packet, sequenceNumber);

    public static void WriteTimestamp(Span<byte> packet, bool protectedLayout, NtpTimestamp timestamp, ErrorEstimate error)
    {
        int ts = TimestampOffset(protectedLayout);
        timestamp.Write(packet[ts..]);
        error.Write(packet[(ts + 8)..]);
    }
}
