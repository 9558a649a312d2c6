using System.Buffers;
using System.Buffers.Binary;

namespace Ippm.Wire.Stamp;

/// <summary>
/// The STAMP Session-Reflector base packet (RFC 8762 §4.3.1 and §4.3.2, SSID from RFC 8972 §3).
/// <code>
/// unauthenticated (44): 0 Seq (4) | 4 Timestamp (8) | 12 Error Estimate (2) | 14 SSID (2) | 16 Receive Timestamp (8)
///     24 Sender Seq (4) | 28 Sender Timestamp (8) | 36 Sender Error Estimate (2) | 38 MBZ (2) | 40 Sender TTL (1) | 41 MBZ (3)
/// authenticated (112):  0 Seq (4) | 4 MBZ (12) | 16 Timestamp (8) | 24 Error Estimate (2) | 26 SSID (2) | 28 MBZ (4)
///     32 Receive Timestamp (8) | 40 MBZ (8) | 48 Sender Seq (4) | 52 MBZ (12) | 64 Sender Timestamp (8)
///     72 Sender Error Estimate (2) | 74 MBZ (6) | 80 Sender TTL (1) | 81 MBZ (15) | 96 HMAC (16)
/// </code>
/// The first 41 octets of the unauthenticated form are the TWAMP reflector layout (RFC 5357 §4.2.1),
/// which is what lets one reflector answer TWAMP-Light and STAMP senders alike (RFC 8762 §4.6).
/// </summary>
public readonly record struct StampReflectorPacket(
    uint SequenceNumber,
    NtpTimestamp Timestamp,
    ErrorEstimate ErrorEstimate,
    ushort Ssid,
    NtpTimestamp ReceiveTimestamp,
    uint SenderSequenceNumber,
    NtpTimestamp SenderTimestamp,
    ErrorEstimate SenderErrorEstimate,
    byte SenderTtl)
{
    private readonly record struct Offsets(int Receive, int SenderSeq, int SenderTimestamp, int SenderTtl);

    private static readonly Offsets s_unauthenticated = new(16, 24, 28, 40);
    private static readonly Offsets s_authenticated = new(32, 48, 64, 80);

    private static Offsets For(bool authenticated) => authenticated ? s_authenticated : s_unauthenticated;

    /// <summary>Writes every base field except the HMAC; MBZ octets are cleared, TLVs after the base untouched.</summary>
    public void Write(Span<byte> packet, bool authenticated)
    {
        int length = StampLayout.BaseLength(authenticated);
        ArgumentOutOfRangeException.ThrowIfLessThan(packet.Length, length, nameof(packet));
        packet[..(authenticated ? StampLayout.HmacOffset : length)].Clear();
        Offsets o = For(authenticated);
        BinaryPrimitives.WriteUInt32BigEndian(packet, SequenceNumber);
        WriteTimestamp(packet, authenticated, Timestamp, ErrorEstimate);
        BinaryPrimitives.WriteUInt16BigEndian(packet[StampLayout.SsidOffset(authenticated)..], Ssid);
        ReceiveTimestamp.Write(packet[o.Receive..]);
        BinaryPrimitives.WriteUInt32BigEndian(packet[o.SenderSeq..], SenderSequenceNumber);
        SenderTimestamp.Write(packet[o.SenderTimestamp..]);
        SenderErrorEstimate.Write(packet[(o.SenderTimestamp + 8)..]);
        packet[o.SenderTtl] = SenderTtl;
    }

    public static OperationStatus TryRead(ReadOnlySpan<byte> packet, bool authenticated, out StampReflectorPacket result)
    {
        result = default;
        if (packet.Length < StampLayout.BaseLength(authenticated))
        {
            return OperationStatus.NeedMoreData;
        }
        Offsets o = For(authenticated);
        int ts = StampLayout.TimestampOffset(authenticated);
        result = new StampReflectorPacket(
            BinaryPrimitives.ReadUInt32BigEndian(packet),
            NtpTimestamp.Read(packet[ts..]),
            ErrorEstimate.Read(packet[(ts + 8)..]),
            BinaryPrimitives.ReadUInt16BigEndian(packet[StampLayout.SsidOffset(authenticated)..]),
            NtpTimestamp.Read(packet[o.Receive..]),
            BinaryPrimitives.ReadUInt32BigEndian(packet[o.SenderSeq..]),
            NtpTimestamp.Read(packet[o.SenderTimestamp..]),
            ErrorEstimate.Read(packet[(o.SenderTimestamp + 8)..]),
            packet[o.SenderTtl]);
        return OperationStatus.Done;
    }

    /// <summary>
    /// Hot path: builds a reply's base from the sender's base in place. Sender Sequence Number, Timestamp and
    /// Error Estimate are copied, the SSID is copied (RFC 8972 §3), Sender TTL is the received IP TTL / Hop
    /// Limit (RFC 8762 §4.3.1). Timestamp and HMAC are written later, right before sending.
    /// </summary>
    public static void BuildFromSender(ReadOnlySpan<byte> sender, Span<byte> reply, bool authenticated, uint sequenceNumber, NtpTimestamp receive, byte ttl)
    {
        Offsets o = For(authenticated);
        int ts = StampLayout.TimestampOffset(authenticated);
        int ssid = StampLayout.SsidOffset(authenticated);
        reply[..(authenticated ? StampLayout.HmacOffset : StampLayout.UnauthenticatedBase)].Clear();
        BinaryPrimitives.WriteUInt32BigEndian(reply, sequenceNumber);
        sender.Slice(ssid, 2).CopyTo(reply[ssid..]);
        receive.Write(reply[o.Receive..]);
        sender[..4].CopyTo(reply[o.SenderSeq..]);
        sender.Slice(ts, 10).CopyTo(reply[o.SenderTimestamp..]);
        reply[o.SenderTtl] = ttl;
    }

    public static void WriteTimestamp(Span<byte> reply, bool authenticated, NtpTimestamp timestamp, ErrorEstimate error)
    {
        int ts = StampLayout.TimestampOffset(authenticated);
        timestamp.Write(reply[ts..]);
        error.Write(reply[(ts + 8)..]);
    }
}
