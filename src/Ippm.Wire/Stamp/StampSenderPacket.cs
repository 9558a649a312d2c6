using System.Buffers;
using System.Buffers.Binary;

namespace Ippm.Wire.Stamp;

/// <summary>
/// The STAMP Session-Sender base packet (RFC 8762 §4.2.1 and §4.2.2, SSID from RFC 8972 §3).
/// <code>
/// unauthenticated (44): 0 Seq (4) | 4 Timestamp (8) | 12 Error Estimate (2) | 14 SSID (2) | 16 MBZ (28)
/// authenticated (112):  0 Seq (4) | 4 MBZ (12) | 16 Timestamp (8) | 24 Error Estimate (2) | 26 SSID (2)
///                       28 MBZ (68) | 96 HMAC (16)
/// </code>
/// TLVs (RFC 8972 §4) may follow. The HMAC is not this type's business (see StampAuthenticator).
/// </summary>
public readonly record struct StampSenderPacket(uint SequenceNumber, NtpTimestamp Timestamp, ErrorEstimate ErrorEstimate, ushort Ssid)
{
    /// <summary>Writes the base packet except the HMAC; every MBZ octet is cleared, TLVs after the base untouched.</summary>
    public void Write(Span<byte> packet, bool authenticated)
    {
        int length = StampLayout.BaseLength(authenticated);
        ArgumentOutOfRangeException.ThrowIfLessThan(packet.Length, length, nameof(packet));
        packet[..(authenticated ? StampLayout.HmacOffset : length)].Clear();
        BinaryPrimitives.WriteUInt32BigEndian(packet, SequenceNumber);
        int ts = StampLayout.TimestampOffset(authenticated);
        Timestamp.Write(packet[ts..]);
        ErrorEstimate.Write(packet[(ts + 8)..]);
        BinaryPrimitives.WriteUInt16BigEndian(packet[StampLayout.SsidOffset(authenticated)..], Ssid);
    }

    /// <summary>NeedMoreData when shorter than the base packet; MBZ octets are ignored on receipt (RFC 8762 §4.2.1).</summary>
    public static OperationStatus TryRead(ReadOnlySpan<byte> packet, bool authenticated, out StampSenderPacket result)
    {
        result = default;
        if (packet.Length < StampLayout.BaseLength(authenticated))
        {
            return OperationStatus.NeedMoreData;
        }
        int ts = StampLayout.TimestampOffset(authenticated);
        result = new StampSenderPacket(
            BinaryPrimitives.ReadUInt32BigEndian(packet),
            NtpTimestamp.Read(packet[ts..]),
            ErrorEstimate.Read(packet[(ts + 8)..]),
            BinaryPrimitives.ReadUInt16BigEndian(packet[StampLayout.SsidOffset(authenticated)..]));
        return OperationStatus.Done;
    }
}
