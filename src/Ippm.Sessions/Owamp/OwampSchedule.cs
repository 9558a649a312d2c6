using System.Globalization;
using Ippm.Wire;
using Ippm.Wire.Control;

namespace Ippm.Sessions.Owamp;

/// <summary>Parses perfSONAR's schedule syntax for owping <c>-i</c>: a comma list of slots, each seconds plus e (exponential) or f (fixed).</summary>
public static class OwampSchedule
{
    public static bool TryParse(string text, out ScheduleSlot[] slots)
    {
        var list = new List<ScheduleSlot>();
        slots = [];
        foreach (string raw in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (raw.Length == 0)
            {
                return false;
            }
            ScheduleSlotType type = ScheduleSlotType.Exponential;
            string number = raw;
            char last = char.ToLowerInvariant(raw[^1]);
            if (last is 'e' or 'f')
            {
                type = last == 'f' ? ScheduleSlotType.Fixed : ScheduleSlotType.Exponential;
                number = raw[..^1];
            }
            if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds) || !(seconds >= 0) || seconds > 86400)
            {
                return false;
            }
            list.Add(new ScheduleSlot(type, NtpTimestamp.FromSeconds(seconds)));
        }
        slots = [.. list];
        return slots.Length > 0 && slots.Length <= 1024;
    }

    public static string Format(IReadOnlyList<ScheduleSlot> slots) =>
        string.Join(",", slots.Select(s => s.Parameter.TotalSeconds.ToString("0.######", CultureInfo.InvariantCulture) + (s.Type == ScheduleSlotType.Fixed ? "f" : "e")));
}
