using Ippm.Wire;
using Ippm.Wire.Control;

namespace Ippm.Security.Schedules;

/// <summary>
/// The send schedule of an OWAMP session (RFC 4656 §3.5): packet i waits delay(i) after packet i − 1 (packet 0
/// after Start Time), where delay(i) comes from slot i mod N. An exponential slot gives
/// <c>Mult(X, mean)</c> with X the next <see cref="ExponentialVariates"/> draw; a fixed slot gives its
/// parameter and consumes no draws. All values are unsigned 32.32 fixed point and wrap like the reference.
/// Sender and receiver compute the same schedule from the SID and the slots.
/// </summary>
public sealed class SessionSchedule : IDisposable
{
    private readonly ScheduleSlot[] _slots;
    private readonly ExponentialVariates _variates;
    private long _index;

    public SessionSchedule(SessionId sid, IReadOnlyList<ScheduleSlot> slots)
    {
        ArgumentNullException.ThrowIfNull(slots);
        if (slots.Count == 0)
        {
            throw new ArgumentException("A schedule needs at least one slot.", nameof(slots));
        }
        _slots = [.. slots];
        foreach (ScheduleSlot slot in _slots)
        {
            if (slot.Type is not (ScheduleSlotType.Exponential or ScheduleSlotType.Fixed))
            {
                throw new ArgumentException($"Unknown slot type {(byte)slot.Type}.", nameof(slots));
            }
        }
        _variates = new ExponentialVariates(sid);
    }

    /// <summary>32.32 multiplication keeping the low 64 bits of (x·y) &gt;&gt; 32 (the reference's <c>OWPNum64Mult</c>).</summary>
    public static ulong Mult(ulong x, ulong y) => (ulong)(((UInt128)x * y) >> 32);

    /// <summary>The delay of the next packet from the previous one (from Start Time for packet 0), 32.32 seconds.</summary>
    public ulong NextDelay()
    {
        ScheduleSlot slot = _slots[_index % _slots.Length];
        _index++;
        return slot.Type == ScheduleSlotType.Fixed
            ? slot.Parameter.Value
            : Mult(_variates.Next(), slot.Parameter.Value);
    }

    /// <summary>
    /// The offsets from Start Time of packets 0 … count − 1: <c>t_k = Σ_{i≤k} delay(i)</c>, 32.32 seconds.
    /// </summary>
    public static ulong[] Offsets(SessionId sid, IReadOnlyList<ScheduleSlot> slots, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        using var schedule = new SessionSchedule(sid, slots);
        var offsets = new ulong[count];
        ulong t = 0;
        for (int k = 0; k < count; k++)
        {
            t += schedule.NextDelay();
            offsets[k] = t;
        }
        return offsets;
    }

    public void Dispose() => _variates.Dispose();
}
