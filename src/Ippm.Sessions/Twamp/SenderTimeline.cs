using Ippm.Wire;

namespace Ippm.Sessions.Twamp;

/// <summary>
/// The send schedule of a twping or STAMP Session-Sender: which packets are due, the next offset (fixed, or drawn
/// from an exponential distribution as twping does) and how late each packet left against it (the result's
/// ScheduleError). Shared by both senders on both paths (threads and the session engine).
/// </summary>
internal sealed class SenderTimeline
{
    private readonly SendSchedule _schedule;
    private readonly int _count;
    private readonly float[] _lateness;
    private readonly ulong[] _sendTimes;
    private readonly Random _random = new();
    private double _nextOffset;

    public SenderTimeline(SendSchedule schedule, int count)
    {
        _schedule = schedule;
        _count = count;
        _lateness = new float[count];
        _sendTimes = new ulong[count];
    }

    /// <summary>Records T1 of packet <paramref name="seq"/> (the receive side reads it from another thread).</summary>
    public void RecordSend(int seq, NtpTimestamp t1) => Volatile.Write(ref _sendTimes[seq], t1.Value);

    /// <summary>
    /// Matches a reply to the packet it answers, by its Sender Sequence Number, and gives that packet's T1. A reply
    /// naming a packet not (yet) sent is counted in <paramref name="malformed"/>, one that came back later than the
    /// Timeout after its packet left in <paramref name="late"/>; neither is a sample.
    /// </summary>
    public bool TryMatchReply(uint seq, long sentSoFar, NtpTimestamp t4, double timeoutSeconds, out NtpTimestamp t1, ref long malformed, ref long late)
    {
        t1 = default;
        if (seq >= sentSoFar)
        {
            malformed++;
            return false;
        }
        t1 = new NtpTimestamp(Volatile.Read(ref _sendTimes[seq]));
        if (NtpTimestamp.DifferenceSeconds(t4, t1) > timeoutSeconds)
        {
            late++;
            return false;
        }
        return true;
    }

    /// <summary>T1 of the first and the last of <paramref name="sent"/> packets (zero when none was sent).</summary>
    public (NtpTimestamp First, NtpTimestamp Last) SendSpan(int sent) =>
        (new NtpTimestamp(sent > 0 ? _sendTimes[0] : 0), new NtpTimestamp(sent > 0 ? _sendTimes[sent - 1] : 0));

    /// <summary>T1 of the first <paramref name="sent"/> packets.</summary>
    public ArraySegment<ulong> SendTimes(int sent) => new(_sendTimes, 0, sent);

    /// <summary>Seconds from the start of sending to when the next packet is due.</summary>
    public double NextOffset => _nextOffset;

    /// <summary>
    /// Takes the packets already due <paramref name="elapsedSeconds"/> after the start, from <paramref name="nextSequence"/>
    /// on (at most <paramref name="capacity"/>), records how late each is and draws the next offset. 0: none due.
    /// </summary>
    /// <param name="slackSeconds">
    /// How early a packet may be taken: the engine's deadlines are whole 100 ns ticks, rounded to the nearest, so it
    /// passes half a tick (a packet is never counted early: its lateness is at least 0).
    /// </param>
    public int TakeDue(int nextSequence, double elapsedSeconds, int capacity, double slackSeconds = 0)
    {
        int burst = 0;
        while (nextSequence + burst < _count && burst < capacity && _nextOffset <= elapsedSeconds + slackSeconds)
        {
            _lateness[nextSequence + burst] = (float)Math.Max(0, elapsedSeconds - _nextOffset);
            burst++;
            _nextOffset += _schedule.Exponential ? -_schedule.IntervalSeconds * Math.Log(1.0 - _random.NextDouble()) : _schedule.IntervalSeconds;
        }
        return burst;
    }

    /// <summary>Median and 99th percentile of the lateness of the first <paramref name="sent"/> packets, seconds.</summary>
    public (double P50, double P99) ScheduleError(int sent)
    {
        if (sent == 0)
        {
            return (double.NaN, double.NaN);
        }
        Array.Sort(_lateness, 0, sent);
        return (_lateness[(sent - 1) / 2], _lateness[(int)Math.Ceiling(0.99 * sent) - 1]);
    }
}
