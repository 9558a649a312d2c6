using System.Buffers;
using System.Buffers.Binary;

namespace Ippm.Wire.Control;

/// <summary>
/// OWAMP Fetch-Ack, server → client, 32 octets (RFC 4656 §3.9):
/// <code>
///  0 Accept (1) | 1 Finished (1) | 2 MBZ (2) | 4 Next Seqno (4) | 8 Number of Skip Ranges (4)
/// 12 Number of Records (4) | 16 HMAC (16)
/// </code>
/// Finished: 0 = still running; the reference sends 1 (ended after Stop-Sessions) or 2 (ended without one).
/// Next Seqno and Number of Skip Ranges are meaningful only when Finished ≠ 0 (the reference sends zeros
/// otherwise). With Accept = 0 the server then sends, each section followed by its own HMAC block: the
/// original Request-Session with its slots, the skip ranges (<see cref="SkipRangeList"/>) and the records
/// (<see cref="Test.OwampDataRecord"/>).
/// </summary>
public sealed record FetchAck(AcceptCode Accept, byte Finished, uint NextSeqno, uint SkipRangeCount, uint RecordCount)
{
    public const int Length = 32;

    public void Write(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Length, nameof(destination));
        destination[..Length].Clear();
        destination[0] = (byte)Accept;
        destination[1] = Finished;
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], NextSeqno);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], SkipRangeCount);
        BinaryPrimitives.WriteUInt32BigEndian(destination[12..], RecordCount);
    }

    public static OperationStatus TryRead(ReadOnlySpan<byte> source, out FetchAck? message)
    {
        message = null;
        if (source.Length < Length)
        {
            return OperationStatus.NeedMoreData;
        }
        message = new FetchAck(
            (AcceptCode)source[0],
            source[1],
            BinaryPrimitives.ReadUInt32BigEndian(source[4..]),
            BinaryPrimitives.ReadUInt32BigEndian(source[8..]),
            BinaryPrimitives.ReadUInt32BigEndian(source[12..]));
        return OperationStatus.Done;
    }
}

/// <summary>
/// The skip-range section of a fetch response (RFC 4656 §3.9): <c>count</c> × (First (4) | Last (4)), the last
/// block zero-padded; the HMAC block that follows is not part of it (it is present even when count is 0).
/// </summary>
public static class SkipRangeList
{
    /// <summary>Largest count whose encoded length still fits an <see cref="int"/>.</summary>
    public const int MaxCount = (int.MaxValue - 15) / SkipRange.Length;

    /// <summary>8 octets per range, rounded up to a multiple of 16 (0 when <paramref name="count"/> is 0).</summary>
    public static int EncodedLength(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, MaxCount);
        return ((count * SkipRange.Length) + 15) & ~15;
    }

    /// <summary>Writes <see cref="EncodedLength"/>(ranges.Count) octets, padding included.</summary>
    public static void Write(IReadOnlyList<SkipRange> ranges, Span<byte> destination)
    {
        int length = EncodedLength(ranges.Count);
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, length, nameof(destination));
        destination[..length].Clear();
        for (int i = 0; i < ranges.Count; i++)
        {
            ranges[i].Write(destination[(i * SkipRange.Length)..]);
        }
    }

    /// <summary>
    /// Parses <paramref name="count"/> ranges and their padding (<see cref="EncodedLength"/>(count) octets).
    /// <see cref="OperationStatus.InvalidData"/> when count is negative or too large, or a range has
    /// Last &lt; First, or the ranges are out of order or overlap. The padding is MBZ and not checked.
    /// </summary>
    public static OperationStatus TryRead(ReadOnlySpan<byte> source, int count, out SkipRange[] ranges)
    {
        ranges = [];
        if (count is < 0 or > MaxCount)
        {
            return OperationStatus.InvalidData;
        }
        if (source.Length < EncodedLength(count))
        {
            return OperationStatus.NeedMoreData;
        }
        var read = new SkipRange[count];
        for (int i = 0; i < count; i++)
        {
            read[i] = SkipRange.Read(source[(i * SkipRange.Length)..]);
        }
        if (!SkipRange.AreWellFormed(read))
        {
            return OperationStatus.InvalidData;
        }
        ranges = read;
        return OperationStatus.Done;
    }
}
