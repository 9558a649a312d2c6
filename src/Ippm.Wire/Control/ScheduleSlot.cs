using System.Buffers;

namespace Ippm.Wire.Control;

public enum ScheduleSlotType : byte
{
    Exponential = 0,
    Fixed = 1,
}

/// <summary>
/// One OWAMP schedule slot, 16 octets (RFC 4656 §3.5): Slot Type (1) | MBZ (7) | Slot Parameter (8, 32.32 s).
/// </summary>
public readonly record struct ScheduleSlot(ScheduleSlotType Type, NtpTimestamp Parameter)
{
    public const int Length = 16;

    public void Write(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Length, nameof(destination));
        destination[..Length].Clear();
        destination[0] = (byte)Type;
        Parameter.Write(destination[8..]);
    }

    public static OperationStatus TryRead(ReadOnlySpan<byte> source, out ScheduleSlot slot)
    {
        slot = default;
        if (source.Length < Length)
        {
            return OperationStatus.NeedMoreData;
        }
        if (source[0] > (byte)ScheduleSlotType.Fixed)
        {
            return OperationStatus.InvalidData;
        }
        slot = new ScheduleSlot((ScheduleSlotType)source[0], NtpTimestamp.Read(source[8..]));
        return OperationStatus.Done;
    }
}
