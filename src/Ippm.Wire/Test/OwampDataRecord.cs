using System.Buffers;
using System.Buffers.Binary;

namespace Ippm.Wire.Test;

/// <summary>
/// One OWAMP data record of a fetch response (RFC 4656 §3.9), 25 octets, packed back to back:
/// <code>
///  0 Sequence Number (4) | 4 Send Error Estimate (2) | 6 Receive Error Estimate (2)
///  8 Send Timestamp (8) | 16 Receive Timestamp (8) | 24 TTL (1)
/// </code>
/// A lost packet has Receive Timestamp 0 and, from the reference, TTL 255, the scheduled send time and Send
/// Error Estimate <c>00 01</c>. Records come in no guaranteed order.
/// </summary>
public readonly record struct OwampDataRecord(
    uint SequenceNumber,
    ErrorEstimate SendError,
    ErrorEstimate ReceiveError,
    NtpTimestamp SendTime,
    NtpTimestamp ReceiveTime,
    byte Ttl)
{
    public const int Length = 25;

    /// <summary>Largest count whose encoded length still fits an <see cref="int"/>.</summary>
    public const int MaxCount = (int.MaxValue - 15) / Length;

    public bool IsLost => ReceiveTime.IsZero;

    /// <summary>
    /// The record section of a fetch response: 25 octets per record, the last block zero-padded to a multiple
    /// of 16; the HMAC block that follows is not included.
    /// </summary>
    public static int EncodedLength(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, MaxCount);
        return ((count * Length) + 15) & ~15;
    }

    public void Write(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Length, nameof(destination));
        BinaryPrimitives.WriteUInt32BigEndian(destination, SequenceNumber);
        SendError.Write(destination[4..]);
        ReceiveError.Write(destination[6..]);
        SendTime.Write(destination[8..]);
        ReceiveTime.Write(destination[16..]);
        destination[24] = Ttl;
    }

    public static OperationStatus TryRead(ReadOnlySpan<byte> source, out OwampDataRecord record)
    {
        record = default;
        if (source.Length < Length)
        {
            return OperationStatus.NeedMoreData;
        }
        record = new OwampDataRecord(
            BinaryPrimitives.ReadUInt32BigEndian(source),
            ErrorEstimate.Read(source[4..]),
            ErrorEstimate.Read(source[6..]),
            NtpTimestamp.Read(source[8..]),
            NtpTimestamp.Read(source[16..]),
            source[24]);
        return OperationStatus.Done;
    }
}
