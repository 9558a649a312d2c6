using Ippm.Security.Schedules;
using Ippm.Wire;
using Ippm.Wire.Control;

namespace Ippm.Sessions.Owamp;

/// <summary>
/// What both ends of an OWAMP test session agree on through Request-Session: the SID, packet count,
/// schedule, start time, padding and timeout. Both compute the same send times from it (RFC 4656 §3.5).
/// </summary>
public sealed class OwampSessionSpec
{
    public OwampSessionSpec(SessionRequest request, IReadOnlyList<ScheduleSlot> slots, SessionId sid)
    {
        Request = request;
        Slots = slots;
        Sid = sid;
        Offsets = SessionSchedule.Offsets(sid, slots, checked((int)request.PacketCount));
    }

    public SessionRequest Request { get; }
    public IReadOnlyList<ScheduleSlot> Slots { get; }
    public SessionId Sid { get; }
    public int PacketCount => Offsets.Length;
    public NtpTimestamp StartTime => Request.StartTime;
    public TimeSpan Timeout => TimeSpan.FromSeconds(Request.Timeout.TotalSeconds);
    public int PaddingLength => (int)Request.PaddingLength;

    /// <summary>Offsets t_k from Start Time, 32.32 seconds.</summary>
    public ulong[] Offsets { get; }

    public NtpTimestamp ScheduledSendTime(uint sequence) => new(StartTime.Value + Offsets[sequence]);

    /// <summary>When the last packet is scheduled to leave.</summary>
    public NtpTimestamp LastScheduledSendTime => PacketCount == 0 ? StartTime : ScheduledSendTime((uint)PacketCount - 1);
}
