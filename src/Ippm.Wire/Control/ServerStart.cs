using System.Buffers;

namespace Ippm.Wire.Control;

/// <summary>
/// Server-Start, server → client, 48 octets (RFC 4656 §3.1).
/// <code>
///  0 MBZ (15) | 15 Accept (1) | 16 Server-IV (16) | 32 Start-Time (8) | 40 MBZ (8)
/// </code>
/// Octets 0–31 are always clear; with Accept = 0 in a protected mode, octets 32–47 are the first
/// block of the server → client CBC stream and are carried into the server's first HMAC.
/// </summary>
public sealed record ServerStart(AcceptCode Accept, byte[] ServerIv, NtpTimestamp StartTime)
{
    public const int Length = 48;
    public const int ClearLength = 32;
    private const int AcceptOffset = 15;
    private const int ServerIvOffset = 16;
    private const int StartTimeOffset = 32;

    public void Write(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Length, nameof(destination));
        destination[..Length].Clear();
        destination[AcceptOffset] = (byte)Accept;
        ServerIv.AsSpan(0, 16).CopyTo(destination[ServerIvOffset..]);
        StartTime.Write(destination[StartTimeOffset..]);
    }

    public static OperationStatus TryRead(ReadOnlySpan<byte> source, out ServerStart? start)
    {
        start = null;
        if (source.Length < Length)
        {
            return OperationStatus.NeedMoreData;
        }
        start = new ServerStart(
            (AcceptCode)source[AcceptOffset],
            source.Slice(ServerIvOffset, 16).ToArray(),
            NtpTimestamp.Read(source[StartTimeOffset..]));
        return OperationStatus.Done;
    }
}
