using System.Buffers;
using System.Buffers.Binary;

namespace Ippm.Wire.Control;

/// <summary>
/// Accept-Session, server → client, 48 octets (RFC 4656 §3.5, RFC 5357 §3.5, RFC 6038 §4.2).
/// <code>
///  0 Accept (1) | 1 MBZ (1) | 2 Port (2) | 4 SID (16)
/// 20 Reflected octets (2) | 22 Server octets (2) | 24 MBZ (8) | 32 HMAC (16)
/// </code>
/// </summary>
public sealed record AcceptSession(AcceptCode Accept, ushort Port, SessionId Sid, ushort ReflectedOctets = 0, ushort ServerOctets = 0)
{
    public const int Length = 48;

    public void Write(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Length, nameof(destination));
        destination[..Length].Clear();
        destination[0] = (byte)Accept;
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], Port);
        Sid.Write(destination[4..]);
        BinaryPrimitives.WriteUInt16BigEndian(destination[20..], ReflectedOctets);
        BinaryPrimitives.WriteUInt16BigEndian(destination[22..], ServerOctets);
    }

    public static OperationStatus TryRead(ReadOnlySpan<byte> source, out AcceptSession? message)
    {
        message = null;
        if (source.Length < Length)
        {
            return OperationStatus.NeedMoreData;
        }
        message = new AcceptSession(
            (AcceptCode)source[0],
            BinaryPrimitives.ReadUInt16BigEndian(source[2..]),
            SessionId.Read(source[4..]),
            BinaryPrimitives.ReadUInt16BigEndian(source[20..]),
            BinaryPrimitives.ReadUInt16BigEndian(source[22..]));
        return OperationStatus.Done;
    }
}
