using System.Buffers;
using System.Buffers.Binary;

namespace Ippm.Wire.Test;

/// <summary>
/// The TWAMP Session-Reflector packet (RFC 5357 §4.2.1), in plaintext.
/// <code>
/// open:  0 Seq (4) | 4 Timestamp (8) | 12 Error Estimate (2) | 14 MBZ (2) | 16 Receive Timestamp (8)
///       24 Sender Seq (4) | 28 Sender Timestamp (8) | 36 Sender Error Estimate (2) | 38 MBZ (2) | 40 Sender TTL (1) | 41 Padding
/// protected: 0 Seq (4) | 4 MBZ (12) | 16 Timestamp (8) | 24 Error Estimate (2) | 26 MBZ (6) | 32 Receive Timestamp (8) | 40 MBZ (8)
///       48 Sender Seq (4) | 52 MBZ (12) | 64 Sender Timestamp (8) | 72 Sender Error Estimate (2) | 74 MBZ (6)
///       80 Sender TTL (1) | 81 MBZ (15) | 96 HMAC (16) | 112 Padding
/// </code>
/// </summary>
public readonly record struct ReflectorPacket(
    uint SequenceNumber,
    NtpTimestamp Timestamp,
    ErrorEstimate ErrorEstimate,
    NtpTimestamp ReceiveTimestamp,
    uint SenderSequenceNumber,
    NtpTimestamp SenderTimestamp,
    ErrorEstimate SenderErrorEstimate,
    byte SenderTtl)
{
    private readonly record struct Offsets(int Timestamp, int Receive, int SenderSeq, int SenderTimestamp, int SenderTtl);

    private static readonly Offsets s_open = new(4, 16, 24, 28, 40);
    private static readonly Offsets s_protected = new(16, 32, 48, 64, 80);

    private static Offsets For(bool protectedLayout) => protectedLayout ? s_protected : s_open;

    public static int TimestampOffset(bool protectedLayout) => For(protectedLayout).Timestamp;

    /// <summary>Writes every header field except the HMAC; MBZ octets are cleared, padding untouched.</summary>
    public void Write(Span<byte> packet, bool protectedLayout)
    {
        int header = TestPacketLayout.ReflectorHeader(protectedLayout);
        ArgumentOutOfRangeException.ThrowIfLessThan(packet.Length, header, nameof(packet));
        packet[..(protectedLayout ? TestPacketLayout.ReflectorHmacOffset : header)].Clear();
        Offsets o = For(protectedLayout);
        BinaryPrimitives.WriteUInt32BigEndian(packet, SequenceNumber);
        Timestamp.Write(packet[o.Timestamp..]);
        ErrorEstimate.Write(packet[(o.Timestamp + 8)..]);
        ReceiveTimestamp.Write(packet[o.Receive..]);
        BinaryPrimitives.WriteUInt32BigEndian(packet[o.SenderSeq..], SenderSequenceNumber);
        SenderTimestamp.Write(packet[o.SenderTimestamp..]);
        SenderErrorEstimate.Write(packet[(o.SenderTimestamp + 8)..]);
        packet[o.SenderTtl] = SenderTtl;
    }

    public static OperationStatus TryRead(ReadOnlySpan<byte> packet, bool protectedLayout, out ReflectorPacket result)
    {
        result = default;
        if (packet.Length < TestPacketLayout.ReflectorHeader(protectedLayout))
        {
            return OperationStatus.InvalidData;
        }
        Offsets o = For(protectedLayout);
        result = new ReflectorPacket(
            BinaryPrimitives.ReadUInt32BigEndian(packet),
            NtpTimestamp.Read(packet[o.Timestamp..]),
            ErrorEstimate.Read(packet[(o.Timestamp + 8)..]),
            NtpTimestamp.Read(packet[o.Receive..]),
            BinaryPrimitives.ReadUInt32BigEndian(packet[o.SenderSeq..]),
            NtpTimestamp.Read(packet[o.SenderTimestamp..]),
            ErrorEstimate.Read(packet[(o.SenderTimestamp + 8)..]),
            packet[o.SenderTtl]);
        return OperationStatus.Done;
    }

    /// <summary>
    /// Copies the sender's fields into a reply in place; the hot path fills the rest later.
    /// Sender Sequence Number, Timestamp and Error Estimate are copied verbatim (RFC 5357 §4.2.1).
    /// </summary>
    public static void CopySenderFields(ReadOnlySpan<byte> senderPacket, Span<byte> reply, bool protectedLayout, byte senderTtl)
    {
        Offsets o = For(protectedLayout);
        int senderTs = SenderPacket.TimestampOffset(protectedLayout);
        senderPacket[..4].CopyTo(reply[o.SenderSeq..]);
        senderPacket.Slice(senderTs, 10).CopyTo(reply[o.SenderTimestamp..]);
        reply[o.SenderTtl] = senderTtl;
    }

    public static void WriteReceiveTimestamp(Span<byte> reply, bool protectedLayout, NtpTimestamp receive) =>
        receive.Write(reply[For(protectedLayout).Receive..]);

    public static void WriteSequenceNumber(Span<byte> reply, uint sequenceNumber) =>
        BinaryPrimitives.WriteUInt32BigEndian(reply, sequenceNumber);

    public static void WriteTimestamp(Span<byte> reply, bool protectedLayout, NtpTimestamp timestamp, ErrorEstimate error)
    {
        int ts = For(protectedLayout).Timestamp;
        timestamp.Write(reply[ts..]);
        error.Write(reply[(ts + 8)..]);
    }
}
