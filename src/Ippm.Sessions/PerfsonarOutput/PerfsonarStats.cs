using Ippm.Security.Schedules;
using Ippm.Sessions.SessionFiles;
using Ippm.Sessions.Twamp;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;

namespace Ippm.Sessions.PerfsonarOutput;

/// <summary>The delays perfSONAR's statistics keep apart: the one-way (or round-trip) delay and, for TWAMP, the directions and the reflector's time.</summary>
public enum PerfsonarDelay
{
    Delay = 0,
    Forward = 1,
    Backward = 2,
    Processing = 3,
}

/// <summary>Who measured what: the header lines of owstats's and twping's reports.</summary>
public sealed record PerfsonarSessionInfo
{
    public required bool TwoWay { get; init; }
    public required SessionId Sid { get; init; }
    public required string FromHost { get; init; }
    public required string FromAddress { get; init; }
    public required string FromPort { get; init; }
    public required string ToHost { get; init; }
    public required string ToAddress { get; init; }
    public required string ToPort { get; init; }

    /// <summary>START_TIME / first: the scheduled (OWAMP) or actual (TWAMP) send time of the first packet of the sample.</summary>
    public required NtpTimestamp StartTime { get; init; }

    /// <summary>END_TIME / last: the same for the last packet of the sample.</summary>
    public required NtpTimestamp EndTime { get; init; }

    public required uint TypeP { get; init; }
    public required NtpTimestamp LossTimeout { get; init; }
    public required uint Padding { get; init; }
    public required uint SessionPacketCount { get; init; }
    public required uint SampleFirst { get; init; }
    public required uint SampleLast { get; init; }
    public required bool Finished { get; init; }
}

/// <summary>
/// The figures owstats and twping print (owamp's stats.c, OWPStatsParse), computed from a session's records the way
/// perfSONAR defines them, so that <c>-M</c> and the owstats report read the same: a delay histogram of
/// <see cref="BucketWidth"/>-wide buckets (b = ⌈d / w⌉, ⌊⌋ below zero), percentiles as the upper edge of the first
/// bucket whose cumulative count reaches α × sent, min/max over every arrival (duplicates included), histogram and
/// TTL counts over first arrivals, n-reordering over the arrival order. One deliberate difference: each delay is the
/// exact difference of the two 64-bit timestamps, where perfSONAR converts each absolute timestamp to a double
/// first (2^-21 s resolution today); a figure may therefore differ in its sixth digit and a packet within 0.48 µs of
/// a bucket edge may sit in the neighbouring bucket.
/// </summary>
public sealed class PerfsonarStats
{
    /// <summary>owping/owstats/twping's default -b: 0.1 ms.</summary>
    public const double DefaultBucketWidth = 0.0001;

    private const int DelayTypes = 3;

    private PerfsonarStats(PerfsonarSessionInfo info, double bucketWidth)
    {
        Info = info;
        BucketWidth = bucketWidth;
        Array.Fill(Min, double.PositiveInfinity);
        Array.Fill(Max, double.NegativeInfinity);
    }

    public PerfsonarSessionInfo Info { get; }
    public double BucketWidth { get; }
    public long Sent { get; private set; }
    public long Lost { get; private set; }

    /// <summary>Every timestamp that counts carried the S bit (for TWAMP: see <see cref="ForTwamp"/>).</summary>
    public bool Synchronized { get; private set; } = true;

    /// <summary>Largest summed error estimate per delay type (<see cref="PerfsonarDelay"/> Delay, Forward, Backward), seconds.</summary>
    public double[] MaxError { get; } = new double[DelayTypes];

    /// <summary>OWAMP: [0] duplicates. TWAMP: [0] send (forward) duplicates, [1] reflect duplicates.</summary>
    public long[] Duplicates { get; } = new long[2];

    /// <summary>Per <see cref="PerfsonarDelay"/>, seconds; +∞/−∞ when nothing arrived.</summary>
    public double[] Min { get; } = new double[4];
    public double[] Max { get; } = new double[4];

    /// <summary>Bucket index → counts per delay type (Delay, Forward, Backward), sorted by index.</summary>
    public SortedDictionary<long, long[]> Buckets { get; } = [];

    /// <summary>[0] TTLs of OWAMP packets, or the forward TTLs of TWAMP; [1] TWAMP's backward TTLs.</summary>
    public long[][] TtlCounts { get; } = [new long[256], new long[256]];

    /// <summary>Element j: arrivals whose j + 1 immediate predecessors all had larger numbers (OWAMP only).</summary>
    public IReadOnlyList<long> NReordering { get; private set; } = [];

    /// <summary>Arrivals the n-reordering ratios are taken over (duplicates included, as owstats counts them).</summary>
    public long ReorderingArrivals { get; private set; }

    /// <summary>TWAMP: some one-way delay was negative (perfSONAR warns "Directional delays may be inaccurate").</summary>
    public bool ClocksOffset { get; private set; }

    /// <summary>perfSONAR's bucket percentile (BucketBufferSortPercentile); false when the buckets never reach α × sent.</summary>
    public bool TryPercentile(double alpha, PerfsonarDelay type, out double value)
    {
        double sum = 0;
        foreach ((long bucket, long[] counts) in Buckets)
        {
            if (counts[(int)type] + sum >= alpha * Sent)
            {
                value = bucket * BucketWidth;
                return true;
            }
            sum += counts[(int)type];
        }
        value = double.NaN;
        return false;
    }

    /// <summary>P95 − P50 of the bucket percentiles (perfSONAR's "jitter", PDV in -M).</summary>
    public bool TryJitter(PerfsonarDelay type, out double value)
    {
        value = double.NaN;
        if (!TryPercentile(0.95, type, out double p95) || !TryPercentile(0.5, type, out double p50))
        {
            return false;
        }
        value = p95 - p50;
        return true;
    }

    /// <summary>Distinct TTLs seen and their range, per <see cref="TtlCounts"/> row.</summary>
    public (int Distinct, int Min, int Max) Ttls(int row)
    {
        int distinct = 0, min = 255, max = 0;
        for (int t = 0; t < 256; t++)
        {
            if (TtlCounts[row][t] == 0)
            {
                continue;
            }
            distinct++;
            min = Math.Min(min, t);
            max = Math.Max(max, t);
        }
        return (distinct, min, max);
    }

    private void AddBucket(double delay, PerfsonarDelay type)
    {
        double d = delay / BucketWidth;
        long b = (long)(d < 0 ? Math.Floor(d) : Math.Ceiling(d));
        if (!Buckets.TryGetValue(b, out long[]? counts))
        {
            counts = new long[DelayTypes];
            Buckets[b] = counts;
        }
        counts[(int)type]++;
    }

    private void AddMinMax(double delay, PerfsonarDelay type)
    {
        Min[(int)type] = Math.Min(Min[(int)type], delay);
        Max[(int)type] = Math.Max(Max[(int)type], delay);
    }

    /// <summary>The header of a stored OWAMP session: addresses and ports from its Request-Session, times from its schedule.</summary>
    public static PerfsonarSessionInfo InfoFor(PerfsonarOwpSession session, string? fromHost = null, string? toHost = null, uint first = 0, uint? last = null)
    {
        ArgumentNullException.ThrowIfNull(session);
        SessionRequest r = session.Request;
        uint sampleLast = last ?? r.PacketCount;
        if (sampleLast > MaxPackets)
        {
            throw new InvalidDataException($"the session schedules {sampleLast} packets, more than the {MaxPackets} ippm summarises.");
        }
        // owstats: START_TIME is the scheduled send time of the sample's first packet, END_TIME that of its last.
        (NtpTimestamp start, NtpTimestamp end) = ScheduledTimes(r, session.Slots, first, sampleLast);
        string fromAddress = r.SenderAddress.ToString(), toAddress = r.ReceiverAddress.ToString();
        return new PerfsonarSessionInfo
        {
            TwoWay = false,
            Sid = r.Sid,
            FromHost = fromHost ?? fromAddress,
            FromAddress = fromAddress,
            FromPort = r.SenderPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ToHost = toHost ?? toAddress,
            ToAddress = toAddress,
            ToPort = r.ReceiverPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            StartTime = start,
            EndTime = end,
            TypeP = r.TypePDescriptor,
            LossTimeout = r.Timeout,
            Padding = r.PaddingLength,
            SessionPacketCount = r.PacketCount,
            SampleFirst = first,
            SampleLast = sampleLast,
            Finished = session.IsFinished,
        };
    }

    /// <summary>Sessions scheduling more packets are refused: walking the schedule of a hostile header would take hours.</summary>
    public const uint MaxPackets = 100_000_000;

    /// <summary>Scheduled send times of packets <paramref name="first"/> and <paramref name="last"/> − 1 (RFC 4656 §3.5), walking the schedule without keeping it.</summary>
    private static (NtpTimestamp Start, NtpTimestamp End) ScheduledTimes(SessionRequest r, IReadOnlyList<ScheduleSlot> slots, uint first, uint last)
    {
        if (slots.Count == 0)
        {
            return (r.StartTime, r.StartTime);
        }
        using var schedule = new SessionSchedule(r.Sid, slots);
        ulong t = r.StartTime.Value, start = t;
        uint final = Math.Max(last, 1) - 1;
        for (uint k = 0; k <= final; k++)
        {
            t += schedule.NextDelay();
            if (k == first)
            {
                start = t;
            }
        }
        return (new NtpTimestamp(start), new NtpTimestamp(t));
    }

    /// <summary>One OWAMP session's records in file order, as owstats summarises packets first ≤ seq &lt; last.</summary>
    public static PerfsonarStats ForOwamp(PerfsonarOwpSession session, PerfsonarSessionInfo info, double bucketWidth = DefaultBucketWidth)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(info);
        var stats = new PerfsonarStats(info, bucketWidth);
        var seen = new Dictionary<uint, int>();
        var lost = new HashSet<uint>();
        var arrivals = new List<uint>();
        SkipRange[] skips = [.. session.SkipRanges.OrderBy(s => s.First)];
        bool Skipped(uint seq)
        {
            // The last range starting at or before seq is the only one that can hold it (ranges do not overlap).
            int lo = 0, hi = skips.Length - 1, found = -1;
            while (lo <= hi)
            {
                int mid = (lo + hi) / 2;
                if (skips[mid].First <= seq)
                {
                    found = mid;
                    lo = mid + 1;
                }
                else
                {
                    hi = mid - 1;
                }
            }
            return found >= 0 && seq <= skips[found].Last;
        }
        foreach (OwampDataRecord rec in session.Records)
        {
            uint seq = rec.SequenceNumber;
            if (seq < info.SampleFirst || seq >= info.SampleLast || Skipped(seq))
            {
                continue;
            }
            if (rec.IsLost)
            {
                if (seen.ContainsKey(seq) || !lost.Add(seq))
                {
                    continue; // owstats refuses such a file; ippm keeps the first word on each packet
                }
                stats.Sent++;
                stats.Synchronized &= rec.ReceiveError.IsSynchronized;
                stats.MaxError[0] = Math.Max(stats.MaxError[0], Seconds(rec.ReceiveError));
                continue;
            }
            if (lost.Contains(seq))
            {
                continue;
            }
            seen.TryGetValue(seq, out int count);
            seen[seq] = count + 1;
            if (count == 0)
            {
                stats.Sent++;
            }
            arrivals.Add(seq);
            stats.Synchronized &= rec.SendError.IsSynchronized && rec.ReceiveError.IsSynchronized;
            double delay = NtpTimestamp.DifferenceSeconds(rec.ReceiveTime, rec.SendTime);
            stats.MaxError[0] = Math.Max(stats.MaxError[0], Seconds(rec.SendError) + Seconds(rec.ReceiveError));
            stats.AddMinMax(delay, PerfsonarDelay.Delay);
            if (count > 0)
            {
                continue;
            }
            stats.AddBucket(delay, PerfsonarDelay.Delay);
            stats.TtlCounts[0][rec.Ttl]++;
        }
        stats.Lost = lost.Count;
        stats.Duplicates[0] = seen.Values.Sum(c => (long)c - 1);
        stats.NReordering = CountNReordering(arrivals);
        stats.ReorderingArrivals = arrivals.Count;
        return stats;
    }

    /// <summary>
    /// A twping session: the replies by sender sequence number (as twping's file holds them), lost packets from
    /// <see cref="TwampSessionResult.Sent"/>. Round trip excludes the reflector's time, (T4 − T1) − (T3 − T2); send
    /// duplicates are replies to one sender number under a new reflector number, reflect duplicates repeat a reflector
    /// number.
    /// </summary>
    public static PerfsonarStats ForTwamp(TwampSessionResult result, PerfsonarSessionInfo info, double bucketWidth = DefaultBucketWidth)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(info);
        var stats = new PerfsonarStats(info, bucketWidth);
        var firstReflectorSeq = new Dictionary<uint, uint>();
        var reflectorSeen = new HashSet<uint>();
        foreach (TwampSample s in OrderedReplies(result.Replies))
        {
            bool newReflected = reflectorSeen.Add(s.ReflectorSequence);
            bool duplicate;
            if (!firstReflectorSeq.TryGetValue(s.SenderSequence, out uint firstReflected))
            {
                firstReflectorSeq[s.SenderSequence] = s.ReflectorSequence;
                duplicate = !newReflected;
            }
            else
            {
                duplicate = true;
                if (firstReflected != s.ReflectorSequence && newReflected)
                {
                    stats.Duplicates[0]++;
                }
            }
            if (!newReflected)
            {
                stats.Duplicates[1]++;
            }
            double proc = NtpTimestamp.DifferenceSeconds(s.T3, s.T2);
            double rtt = NtpTimestamp.DifferenceSeconds(s.T4, s.T1) - proc;
            double fwd = NtpTimestamp.DifferenceSeconds(s.T2, s.T1);
            double bck = NtpTimestamp.DifferenceSeconds(s.T4, s.T3);
            double senderError = Seconds(s.SenderError), reflectorError = Seconds(s.ReflectorError);
            // T1 and T4 carry the sender's estimate, T2 and T3 the reflector's.
            stats.MaxError[0] = Math.Max(stats.MaxError[0], 2 * (senderError + reflectorError));
            stats.MaxError[1] = Math.Max(stats.MaxError[1], senderError + reflectorError);
            stats.MaxError[2] = Math.Max(stats.MaxError[2], senderError + reflectorError);
            stats.Synchronized &= s.SenderError.IsSynchronized && s.ReflectorError.IsSynchronized;
            stats.ClocksOffset |= fwd < 0 || bck < 0;
            stats.AddMinMax(rtt, PerfsonarDelay.Delay);
            stats.AddMinMax(fwd, PerfsonarDelay.Forward);
            stats.AddMinMax(bck, PerfsonarDelay.Backward);
            stats.AddMinMax(proc, PerfsonarDelay.Processing);
            if (duplicate)
            {
                continue;
            }
            stats.AddBucket(rtt, PerfsonarDelay.Delay);
            stats.AddBucket(fwd, PerfsonarDelay.Forward);
            stats.AddBucket(bck, PerfsonarDelay.Backward);
            if (s.ForwardTtl is byte forward)
            {
                stats.TtlCounts[0][forward]++;
            }
            if (s.BackwardTtl is byte backward)
            {
                stats.TtlCounts[1][backward]++;
            }
        }
        stats.Sent = result.Sent;
        stats.Lost = result.Sent - firstReflectorSeq.Keys.Count(seq => seq < result.Sent);
        return stats;
    }

    /// <summary>Replies by sender sequence number, arrivals of one number in arrival order.</summary>
    public static IEnumerable<TwampSample> OrderedReplies(IReadOnlyList<TwampSample> replies) =>
        replies.Select((s, i) => (s, i)).OrderBy(p => p.s.SenderSequence).ThenBy(p => p.i).Select(p => p.s);

    /// <summary>An error estimate in seconds, 0 for the invalid Multiplier 0 (as perfSONAR's arithmetic gives).</summary>
    public static double Seconds(ErrorEstimate e) => e.IsValid ? e.Seconds : 0;

    /// <summary>
    /// owstats's j-reordering count: for each arrival, every immediate predecessor with a larger number adds one to
    /// the count of its depth. The depth looked at is bounded (owstats bounds it by its packet buffer, rate × timeout ×
    /// 3.5 packets) so a hostile file cannot make this quadratic.
    /// </summary>
    private static long[] CountNReordering(List<uint> arrivals)
    {
        const int Window = 1024;
        var counts = new List<long>();
        for (int k = 0; k < arrivals.Count; k++)
        {
            for (int i = 0; i < Math.Min(k, Window) && arrivals[k] < arrivals[k - i - 1]; i++)
            {
                if (i == counts.Count)
                {
                    counts.Add(0);
                }
                counts[i]++;
            }
        }
        return [.. counts];
    }
}
