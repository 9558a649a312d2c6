using System.Buffers;
using System.Buffers.Binary;

namespace Ippm.Wire.Control;

/// <summary>
/// OWAMP Fetch-Session, client → server, 48 octets (RFC 4656 §3.9):
/// <code>
///  0 Command=4 (1) | 1 MBZ (7) | 8 Begin Seq (4) | 12 End Seq (4) | 16 SID (16) | 32 HMAC (16)
/// </code>
/// End Seq 0xFFFFFFFF asks for everything up to the end. The reference rejects it while sessions run.
/// </summary>
public sealed record FetchSession(uint BeginSeq, uint EndSeq, SessionId Sid)
{
    public const int Length = 48;

    /// <summary>End Seq meaning "up to the last record".</summary>
    public const uint ToEnd = uint.MaxValue;

    public void Write(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Length, nameof(destination));
        destination[..Length].Clear();
        destination[0] = (byte)CommandNumber.FetchSession;
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], BeginSeq);
        BinaryPrimitives.WriteUInt32BigEndian(destination[12..], EndSeq);
        Sid.Write(destination[16..]);
    }

    /// <summary>Parses the 48 octets. <see cref="OperationStatus.InvalidData"/> for a command other than 4.</summary>
    public static OperationStatus TryRead(ReadOnlySpan<byte> source, out FetchSession? message)
    {
        message = null;
        if (source.Length < Length)
        {
            return OperationStatus.NeedMoreData;
        }
        if (source[0] != (byte)CommandNumber.FetchSession)
        {
            return OperationStatus.InvalidData;
        }
        message = new FetchSession(
            BinaryPrimitives.ReadUInt32BigEndian(source[8..]),
            BinaryPrimitives.ReadUInt32BigEndian(source[12..]),
            SessionId.Read(source[16..]));
        return OperationStatus.Done;
    }
}
