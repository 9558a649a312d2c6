using System.Buffers;

namespace Ippm.Wire.Control;

/// <summary>
/// Start-Sessions, client → server, 32 octets (RFC 4656 §3.7): Command=2 (1) | MBZ (15) | HMAC (16).
/// </summary>
public sealed record StartSessions
{
    public const int Length = 32;

    public void Write(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Length, nameof(destination));
        destination[..Length].Clear();
        destination[0] = (byte)CommandNumber.StartSessions;
    }

    public static OperationStatus TryRead(ReadOnlySpan<byte> source, out StartSessions? message)
    {
        message = null;
        if (source.Length < Length)
        {
            return OperationStatus.NeedMoreData;
        }
        if (source[0] != (byte)CommandNumber.StartSessions)
        {
            return OperationStatus.InvalidData;
        }
        message = new StartSessions();
        return OperationStatus.Done;
    }
}

/// <summary>
/// Start-Ack, server → client, 32 octets (RFC 4656 §3.7): Accept (1) | MBZ (15) | HMAC (16).
/// </summary>
public sealed record StartAck(AcceptCode Accept)
{
    public const int Length = 32;

    public void Write(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Length, nameof(destination));
        destination[..Length].Clear();
        destination[0] = (byte)Accept;
    }

    public static OperationStatus TryRead(ReadOnlySpan<byte> source, out StartAck? message)
    {
        message = null;
        if (source.Length < Length)
        {
            return OperationStatus.NeedMoreData;
        }
        message = new StartAck((AcceptCode)source[0]);
        return OperationStatus.Done;
    }
}
