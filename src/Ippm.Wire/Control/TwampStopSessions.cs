using System.Buffers;
using System.Buffers.Binary;

namespace Ippm.Wire.Control;

/// <summary>
/// TWAMP Stop-Sessions, client → server, 32 octets, no response (RFC 5357 §3.8).
/// <code>
///  0 Command=3 (1) | 1 Accept (1) | 2 MBZ (2) | 4 Number of Sessions (4) | 8 MBZ (8) | 16 HMAC (16)
/// </code>
/// The reference server fails the connection unless Number of Sessions equals the sessions it holds.
/// </summary>
public sealed record TwampStopSessions(AcceptCode Accept, uint SessionCount)
{
    public const int Length = 32;

    public void Write(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Length, nameof(destination));
        destination[..Length].Clear();
        destination[0] = (byte)CommandNumber.StopSessions;
        destination[1] = (byte)Accept;
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], SessionCount);
    }

    public static OperationStatus TryRead(ReadOnlySpan<byte> source, out TwampStopSessions? message)
    {
        message = null;
        if (source.Length < Length)
        {
            return OperationStatus.NeedMoreData;
        }
        if (source[0] != (byte)CommandNumber.StopSessions)
        {
            return OperationStatus.InvalidData;
        }
        message = new TwampStopSessions((AcceptCode)source[1], BinaryPrimitives.ReadUInt32BigEndian(source[4..]));
        return OperationStatus.Done;
    }
}
