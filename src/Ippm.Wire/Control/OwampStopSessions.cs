using System.Buffers;
using System.Buffers.Binary;

namespace Ippm.Wire.Control;

/// <summary>
/// One skip range of an OWAMP session description or fetch response (RFC 4656 §3.8, §3.9), 8 octets:
/// First Seqno Skipped (4) | Last Seqno Skipped (4). Both ends are inclusive.
/// </summary>
public readonly record struct SkipRange(uint First, uint Last)
{
    public const int Length = 8;

    public void Write(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Length, nameof(destination));
        BinaryPrimitives.WriteUInt32BigEndian(destination, First);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], Last);
    }

    public static SkipRange Read(ReadOnlySpan<byte> source) =>
        new(BinaryPrimitives.ReadUInt32BigEndian(source), BinaryPrimitives.ReadUInt32BigEndian(source[4..]));

    /// <summary>
    /// The rule the reference receiver states for a list of ranges: each has First ≤ Last, and each starts
    /// after the previous one ends (strictly increasing, no overlap; adjacent ranges are allowed).
    /// </summary>
    public static bool AreWellFormed(ReadOnlySpan<SkipRange> ranges)
    {
        for (int i = 0; i < ranges.Length; i++)
        {
            if (ranges[i].Last < ranges[i].First || (i > 0 && ranges[i].First <= ranges[i - 1].Last))
            {
                return false;
            }
        }
        return true;
    }
}

/// <summary>
/// An OWAMP Stop-Sessions session description (RFC 4656 §3.8), 24 + 8·k octets padded to a block:
/// <code>
///  0 SID (16) | 16 Next Seqno (4) | 20 Number of Skip Ranges k (4)
/// 24 k × Skip Range: First Seqno Skipped (4) | Last Seqno Skipped (4)
///    MBZ (8) when k is even, so the description ends on a block boundary
/// </code>
/// (The diagram above <c>_OWPWriteStopSessions</c> in the reference puts the count at 24; its code, the RFC and
/// the wire put it at 20.) Equality compares the skip ranges element by element.
/// </summary>
public sealed record SessionDescription(SessionId Sid, uint NextSeqno, IReadOnlyList<SkipRange> SkipRanges)
{
    /// <summary>The shortest description (k = 0 or 1): SID, Next Seqno, count and one range or 8 MBZ octets.</summary>
    public const int MinLength = 32;

    private const int FixedLength = 24;

    /// <summary>Largest k whose description length still fits an <see cref="int"/>.</summary>
    public const int MaxSkipRanges = (int.MaxValue - FixedLength - 15) / SkipRange.Length;

    public int Length => EncodedLength(SkipRanges.Count);

    /// <summary>24 + 8·k octets rounded up to a multiple of 16: 32, 32, 48, 48, 64 … for k = 0, 1, 2, 3, 4 ….</summary>
    public static int EncodedLength(int skipRangeCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(skipRangeCount);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(skipRangeCount, MaxSkipRanges);
        return (FixedLength + (SkipRange.Length * skipRangeCount) + 15) & ~15;
    }

    /// <summary>Writes <see cref="Length"/> octets, padding included.</summary>
    public void Write(Span<byte> destination)
    {
        int length = Length;
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, length, nameof(destination));
        Span<byte> d = destination[..length];
        d.Clear();
        Sid.Write(d);
        BinaryPrimitives.WriteUInt32BigEndian(d[16..], NextSeqno);
        BinaryPrimitives.WriteUInt32BigEndian(d[20..], (uint)SkipRanges.Count);
        for (int i = 0; i < SkipRanges.Count; i++)
        {
            SkipRanges[i].Write(d[(FixedLength + (i * SkipRange.Length))..]);
        }
    }

    public bool Equals(SessionDescription? other) =>
        other is not null
        && Sid == other.Sid
        && NextSeqno == other.NextSeqno
        && SkipRanges.SequenceEqual(other.SkipRanges);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Sid);
        hash.Add(NextSeqno);
        foreach (SkipRange range in SkipRanges)
        {
            hash.Add(range);
        }
        return hash.ToHashCode();
    }
}

/// <summary>
/// OWAMP Stop-Sessions (command 3, RFC 4656 §3.8), variable length; each side sends one, describing the
/// sessions it <em>sent</em>:
/// <code>
///  0 Command=3 (1) | 1 Accept (1) | 2 MBZ (2) | 4 Number of Sessions (4) | 8 MBZ (8)
/// 16 Number of Sessions × session description (<see cref="SessionDescription"/>, 32 + 16·⌊k/2⌋ octets each)
///    HMAC (16), covering the header and every description
/// </code>
/// A side that sent nothing sends Number of Sessions = 0: the header block and the HMAC block.
/// </summary>
public sealed record OwampStopSessions(AcceptCode Accept, IReadOnlyList<SessionDescription> Sessions)
{
    public const int HeaderLength = 16;
    public const int HmacLength = 16;

    /// <summary>Header, every description and the trailing HMAC block.</summary>
    public int EncodedLength
    {
        get
        {
            int length = HeaderLength + HmacLength;
            foreach (SessionDescription session in Sessions)
            {
                length = checked(length + session.Length);
            }
            return length;
        }
    }

    /// <summary>Writes <see cref="EncodedLength"/> octets; the HMAC block is left zero for the control channel.</summary>
    public void Write(Span<byte> destination)
    {
        int length = EncodedLength;
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, length, nameof(destination));
        Span<byte> d = destination[..length];
        d.Clear();
        d[0] = (byte)CommandNumber.StopSessions;
        d[1] = (byte)Accept;
        BinaryPrimitives.WriteUInt32BigEndian(d[4..], (uint)Sessions.Count);
        int offset = HeaderLength;
        foreach (SessionDescription session in Sessions)
        {
            session.Write(d[offset..]);
            offset += session.Length;
        }
    }

    /// <summary>
    /// Parses the 16-octet header block. <see cref="OperationStatus.InvalidData"/> for a command other than 3.
    /// MBZ octets are not checked (the reference does not check them either).
    /// </summary>
    public static OperationStatus TryReadHeader(ReadOnlySpan<byte> header, out AcceptCode accept, out uint sessionCount)
    {
        accept = default;
        sessionCount = 0;
        if (header.Length < HeaderLength)
        {
            return OperationStatus.NeedMoreData;
        }
        if (header[0] != (byte)CommandNumber.StopSessions)
        {
            return OperationStatus.InvalidData;
        }
        accept = (AcceptCode)header[1];
        sessionCount = BinaryPrimitives.ReadUInt32BigEndian(header[4..]);
        return OperationStatus.Done;
    }

    /// <summary>
    /// Parses one session description at the start of <paramref name="source"/>.
    /// <list type="bullet">
    /// <item><see cref="OperationStatus.Done"/>: <paramref name="consumed"/> is the description's length.</item>
    /// <item><see cref="OperationStatus.NeedMoreData"/>: <paramref name="consumed"/> is the total number of octets
    /// needed from the start of the description: 32 until the skip-range count is known, then the full length.
    /// Read up to that and call again.</item>
    /// <item><see cref="OperationStatus.InvalidData"/> (the reference fails the control connection for each):
    /// more than <paramref name="maxSkipRanges"/> skip ranges, non-zero padding, a range with Last &lt; First,
    /// or ranges out of order or overlapping.</item>
    /// </list>
    /// </summary>
    public static OperationStatus TryReadDescription(ReadOnlySpan<byte> source, int maxSkipRanges, out SessionDescription? description, out int consumed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxSkipRanges);
        description = null;
        consumed = 0;
        if (source.Length < SessionDescription.MinLength)
        {
            consumed = SessionDescription.MinLength;
            return OperationStatus.NeedMoreData;
        }
        uint count = BinaryPrimitives.ReadUInt32BigEndian(source[20..]);
        if (count > (uint)Math.Min(maxSkipRanges, SessionDescription.MaxSkipRanges))
        {
            return OperationStatus.InvalidData;
        }
        int k = (int)count;
        int length = SessionDescription.EncodedLength(k);
        if (source.Length < length)
        {
            consumed = length;
            return OperationStatus.NeedMoreData;
        }
        int rangesEnd = 24 + (k * SkipRange.Length);
        if (source[rangesEnd..length].ContainsAnyExcept((byte)0))
        {
            return OperationStatus.InvalidData;
        }
        var ranges = new SkipRange[k];
        for (int i = 0; i < k; i++)
        {
            ranges[i] = SkipRange.Read(source[(24 + (i * SkipRange.Length))..]);
        }
        if (!SkipRange.AreWellFormed(ranges))
        {
            return OperationStatus.InvalidData;
        }
        description = new SessionDescription(SessionId.Read(source), BinaryPrimitives.ReadUInt32BigEndian(source[16..]), ranges);
        consumed = length;
        return OperationStatus.Done;
    }

    public bool Equals(OwampStopSessions? other) =>
        other is not null && Accept == other.Accept && Sessions.SequenceEqual(other.Sessions);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Accept);
        foreach (SessionDescription session in Sessions)
        {
            hash.Add(session);
        }
        return hash.ToHashCode();
    }
}
