using System.Globalization;
using System.Text;
using Ippm.Sessions.Twamp;
using Ippm.Wire;
using Ippm.Wire.Test;

namespace Ippm.Sessions.PerfsonarOutput;

/// <summary>
/// perfSONAR's text outputs, laid out as owamp 5.x prints them (owping.c printraw/printrawTW, stats.c
/// OWPStatsPrintMachine and OWPStatsPrintSummary): field order, names, separators and C number formats. Scripts
/// written against owstats, owping and twping read these unchanged.
/// </summary>
public static class PerfsonarReport
{
    private static readonly CultureInfo s_inv = CultureInfo.InvariantCulture;

    /// <summary><c>-R</c> for OWAMP: "SEQNO STIME SS SERR RTIME RS RERR TTL", timestamps as 64-bit NTP integers, errors with %g.</summary>
    public static string RawLine(OwampDataRecord r) =>
        string.Create(s_inv, $"{r.SequenceNumber} {r.SendTime.Value} {Sync(r.SendError)} {CFormat.G(PerfsonarStats.Seconds(r.SendError))} {r.ReceiveTime.Value} {Sync(r.ReceiveError)} {CFormat.G(PerfsonarStats.Seconds(r.ReceiveError))} {r.Ttl}");

    /// <summary>
    /// <c>twping -R</c>: "SSEQ STIME SS SERR SRTIME SRS SRERR STTL RSEQ RSTIME RSS RSERR RTIME RS RERR RTTL": the sender's record
    /// (T1 with its estimate, T2 at the reflector with the reflector's, the TTL the reflector saw) then the reflector's
    /// (T3 with its estimate, T4 back here with ours, the TTL of the reply). A TTL the kernel did not report prints as 255.
    /// </summary>
    public static string RawLine(TwampSample s) =>
        string.Create(s_inv, $"{s.SenderSequence} {s.T1.Value} {Sync(s.SenderError)} {CFormat.G(PerfsonarStats.Seconds(s.SenderError))} {s.T2.Value} {Sync(s.ReflectorError)} {CFormat.G(PerfsonarStats.Seconds(s.ReflectorError))} {s.ForwardTtl ?? 255} ")
        + string.Create(s_inv, $"{s.ReflectorSequence} {s.T3.Value} {Sync(s.ReflectorError)} {CFormat.G(PerfsonarStats.Seconds(s.ReflectorError))} {s.T4.Value} {Sync(s.SenderError)} {CFormat.G(PerfsonarStats.Seconds(s.SenderError))} {s.BackwardTtl ?? 255}");

    /// <summary>
    /// A packet twping never got an answer for, as twping's lost record prints (owamp endpoint.c): its send time (twping:
    /// the scheduled one; ippm: when it left, 0 where unknown), zero receive and reflector times, reflector number 0,
    /// TTLs 255, every estimate the sender's.
    /// </summary>
    public static string LostRawLine(uint seq, NtpTimestamp sendTime, ErrorEstimate error)
    {
        string e = CFormat.G(PerfsonarStats.Seconds(error));
        int sync = Sync(error);
        return string.Create(s_inv, $"{seq} {sendTime.Value} {sync} {e} 0 {sync} {e} 255 0 0 {sync} {e} 0 {sync} {e} 255");
    }

    /// <summary>All of a twping session's raw lines: by sender sequence number, lost packets in their place.</summary>
    public static IEnumerable<string> RawLines(TwampSessionResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        IReadOnlyList<ulong>? sendTimes = result.SendTimes;
        List<TwampSample> ordered = PerfsonarStats.OrderedReplies(result.Replies).ToList();
        ErrorEstimate lostError = ordered.Count > 0 ? ordered[0].SenderError : new ErrorEstimate(0x0001);
        int next = 0;
        for (uint seq = 0; seq < result.Sent; seq++)
        {
            if (next < ordered.Count && ordered[next].SenderSequence == seq)
            {
                while (next < ordered.Count && ordered[next].SenderSequence == seq)
                {
                    yield return RawLine(ordered[next++]);
                }
            }
            else
            {
                yield return LostRawLine(seq, new NtpTimestamp(sendTimes is not null && seq < sendTimes.Count ? sendTimes[(int)seq] : 0), lostError);
            }
        }
        while (next < ordered.Count)
        {
            yield return RawLine(ordered[next++]);
        }
    }

    private static int Sync(ErrorEstimate e) => e.IsSynchronized ? 1 : 0;

    private static string Suffix(PerfsonarDelay type) => type switch
    {
        PerfsonarDelay.Delay => "",
        PerfsonarDelay.Forward => "_FWD",
        PerfsonarDelay.Backward => "_BCK",
        _ => "_PROC",
    };

    /// <summary><c>-M</c>: the "SUMMARY 3.00" key/value lines, &lt;BUCKETS&gt;, TTLs and (OWAMP) &lt;NREORDERING&gt;.</summary>
    public static string Machine(PerfsonarStats stats)
    {
        ArgumentNullException.ThrowIfNull(stats);
        PerfsonarSessionInfo i = stats.Info;
        bool tw = i.TwoWay;
        var b = new StringBuilder();
        void Line(string key, string value) => b.Append(key).Append('\t').Append(value).Append('\n');
        Line("SUMMARY", "3.00");
        Line("SID", i.Sid.ToString());
        Line("FROM_HOST", i.FromHost);
        Line("FROM_ADDR", i.FromAddress);
        Line("FROM_PORT", i.FromPort);
        Line("TO_HOST", i.ToHost);
        Line("TO_ADDR", i.ToAddress);
        Line("TO_PORT", i.ToPort);
        Line("START_TIME", i.StartTime.Value.ToString(s_inv));
        Line("END_TIME", i.EndTime.Value.ToString(s_inv));
        if ((i.TypeP & ~0x3F00_0000u) == 0)
        {
            Line("DSCP", "0x" + (i.TypeP >> 24).ToString("x2", s_inv));
        }
        Line("LOSS_TIMEOUT", i.LossTimeout.Value.ToString(s_inv));
        Line("PACKET_PADDING", i.Padding.ToString(s_inv));
        Line("SESSION_PACKET_COUNT", i.SessionPacketCount.ToString(s_inv));
        Line("SAMPLE_PACKET_COUNT", (i.SampleLast - i.SampleFirst).ToString(s_inv));
        Line("BUCKET_WIDTH", CFormat.G(stats.BucketWidth));
        Line("SESSION_FINISHED", i.Finished ? "1" : "0");
        Line("SENT", stats.Sent.ToString(s_inv));
        Line("SYNC", stats.Synchronized ? "1" : "0");
        Line("MAXERR", CFormat.G(stats.MaxError[0]));
        if (tw)
        {
            Line("MAXERR_FWD", CFormat.G(stats.MaxError[1]));
            Line("MAXERR_BCK", CFormat.G(stats.MaxError[2]));
            Line("DUPS_FWD", stats.Duplicates[0].ToString(s_inv));
            Line("DUPS_BCK", stats.Duplicates[1].ToString(s_inv));
        }
        else
        {
            Line("DUPS", stats.Duplicates[0].ToString(s_inv));
        }
        Line("LOST", stats.Lost.ToString(s_inv));
        PerfsonarDelay[] all = tw ? [PerfsonarDelay.Delay, PerfsonarDelay.Forward, PerfsonarDelay.Backward, PerfsonarDelay.Processing] : [PerfsonarDelay.Delay];
        PerfsonarDelay[] bucketed = tw ? [PerfsonarDelay.Delay, PerfsonarDelay.Forward, PerfsonarDelay.Backward] : [PerfsonarDelay.Delay];
        foreach (PerfsonarDelay t in all)
        {
            if (double.IsFinite(stats.Min[(int)t]))
            {
                Line("MIN" + Suffix(t), CFormat.G(stats.Min[(int)t]));
            }
        }
        foreach (PerfsonarDelay t in bucketed)
        {
            if (stats.TryPercentile(0.5, t, out double median))
            {
                Line("MEDIAN" + Suffix(t), CFormat.G(median));
            }
        }
        foreach (PerfsonarDelay t in all)
        {
            if (double.IsFinite(stats.Max[(int)t]))
            {
                Line("MAX" + Suffix(t), CFormat.G(stats.Max[(int)t]));
            }
        }
        foreach (PerfsonarDelay t in bucketed)
        {
            if (stats.TryJitter(t, out double pdv))
            {
                Line("PDV" + Suffix(t), CFormat.G(pdv));
            }
        }
        if (stats.Sent > stats.Lost)
        {
            b.Append("<BUCKETS>\n");
            foreach ((long bucket, long[] counts) in stats.Buckets)
            {
                b.Append(s_inv, $"\t{bucket}\t{counts[0]}");
                if (tw)
                {
                    b.Append(s_inv, $"\t{counts[1]}\t{counts[2]}");
                }
                b.Append('\n');
            }
            b.Append("</BUCKETS>\n");
        }
        int distinct = 0;
        foreach ((int row, string suffix) in tw ? new[] { (0, "_FWD"), (1, "_BCK") } : [(0, "")])
        {
            (int n, int min, int max) = stats.Ttls(row);
            distinct += n;
            Line("MINTTL" + suffix, min.ToString(s_inv));
            Line("MAXTTL" + suffix, max.ToString(s_inv));
        }
        if (distinct > 0)
        {
            b.Append("<TTLBUCKETS>\n");
            for (int t = 0; t < 256; t++)
            {
                long forward = stats.TtlCounts[0][t], backward = stats.TtlCounts[1][t];
                if (tw && (forward > 0 || backward > 0))
                {
                    b.Append(s_inv, $"\t{t}\t{forward}\t{backward}\n");
                }
                else if (!tw && forward > 0)
                {
                    b.Append(s_inv, $"\t{t}\t{forward}\n");
                }
            }
            b.Append("</TTLBUCKETS>\n");
        }
        b.Append('\n');
        if (!tw)
        {
            b.Append("<NREORDERING>\n");
            int j = 0;
            for (; j < stats.NReordering.Count && stats.NReordering[j] > 0; j++)
            {
                b.Append(s_inv, $"\t{j + 1}\t{stats.NReordering[j]}\n");
            }
            if (j == 0)
            {
                b.Append("\t1\t0\n");
            }
            b.Append("</NREORDERING>\n");
        }
        return b.ToString();
    }

    /// <summary>The unit of owping's <c>-n</c>: n, u, m (default) or s, with its factor and abbreviation; null for another letter.</summary>
    public static (double Factor, string Abbreviation)? Units(char unit) => char.ToLowerInvariant(unit) switch
    {
        'n' => (1e9, "ns"),
        'u' => (1e6, "us"),
        'm' => (1e3, "ms"),
        's' => (1, ""),
        _ => null,
    };

    /// <summary>
    /// owstats's report (OWAMP) or twping's (TWAMP), in units of <paramref name="unit"/>, with the extra percentiles of
    /// <c>-a</c>. Times are printed in UTC (owstats prints local time).
    /// </summary>
    public static string Summary(PerfsonarStats stats, char unit = 'm', IReadOnlyList<double>? percentiles = null)
    {
        ArgumentNullException.ThrowIfNull(stats);
        (double factor, string abbreviation) = Units(unit) ?? throw new ArgumentException($"unit '{unit}' is none of n, u, m, s", nameof(unit));
        PerfsonarSessionInfo i = stats.Info;
        bool tw = i.TwoWay;
        var b = new StringBuilder();
        if (stats.ClocksOffset)
        {
            b.Append("\nDirectional delays may be inaccurate due to out of sync clocks!\n");
        }
        b.Append(s_inv, $"\n--- {(tw ? "twping" : "owping")} statistics from [{i.FromHost}]:{i.FromPort} to [{i.ToHost}]:{i.ToPort} ---\n");
        b.Append(s_inv, $"SID:\t{i.Sid}\n");
        b.Append(s_inv, $"first:\t{Time(i.StartTime)}\nlast:\t{Time(i.EndTime)}\n");
        double lossRatio = stats.Sent > 0 ? (double)stats.Lost / stats.Sent : 0;
        b.Append(s_inv, $"{stats.Sent} sent, {stats.Lost} lost ({CFormat.F(100.0 * lossRatio, 3)}%), ");
        b.Append(tw ? string.Create(s_inv, $"{stats.Duplicates[0]} send duplicates, {stats.Duplicates[1]} reflect duplicates\n") : string.Create(s_inv, $"{stats.Duplicates[0]} duplicates\n"));
        string G3(double seconds) => CFormat.G(seconds * factor, 3);
        string MinText(PerfsonarDelay t) => double.IsFinite(stats.Min[(int)t]) ? G3(stats.Min[(int)t]) : "nan";
        string MaxText(PerfsonarDelay t) => double.IsFinite(stats.Max[(int)t]) ? G3(stats.Max[(int)t]) : "nan";
        foreach ((PerfsonarDelay t, string name) in tw
            ? new[] { (PerfsonarDelay.Delay, "round-trip time"), (PerfsonarDelay.Forward, "send time"), (PerfsonarDelay.Backward, "reflect time") }
            : [(PerfsonarDelay.Delay, "one-way delay")])
        {
            string median = stats.TryPercentile(0.5, t, out double m) ? G3(m) : "nan";
            b.Append(s_inv, $"{name} min/median/max = {MinText(t)}/{median}/{MaxText(t)} {abbreviation}, ");
            b.Append(stats.Synchronized ? string.Create(s_inv, $"(err={G3(stats.MaxError[(int)t])} {abbreviation})\n") : "(unsync)\n");
        }
        if (tw)
        {
            b.Append(s_inv, $"reflector processing time min/max = {MinText(PerfsonarDelay.Processing)}/{MaxText(PerfsonarDelay.Processing)} {abbreviation}\n");
        }
        foreach ((PerfsonarDelay t, string name) in tw
            ? new[] { (PerfsonarDelay.Delay, "two-way"), (PerfsonarDelay.Forward, "send"), (PerfsonarDelay.Backward, "reflect") }
            : [(PerfsonarDelay.Delay, "one-way")])
        {
            string jitter = stats.TryJitter(t, out double j) ? G3(j) : "nan";
            b.Append(s_inv, $"{name} jitter = {jitter} {abbreviation} (P95-P50)\n");
        }
        if (percentiles is { Count: > 0 })
        {
            b.Append("Percentiles:\n");
            foreach (double p in percentiles)
            {
                string value = stats.TryPercentile(p / 100.0, PerfsonarDelay.Delay, out double v) ? G3(v) : "nan";
                b.Append(s_inv, $"\t{CFormat.F((float)p, 1)}: {value} {abbreviation}\n");
            }
        }
        foreach ((int row, string prefix) in tw ? new[] { (0, "send "), (1, "reflect ") } : [(0, "")])
        {
            (int n, int min, int max) = stats.Ttls(row);
            b.Append(n switch
            {
                0 => $"{prefix}TTL not reported\n",
                1 => string.Create(s_inv, $"{prefix}hops = {255 - min} (consistently)\n"),
                _ => string.Create(s_inv, $"{prefix}hops takes {n} values; min hops = {255 - max}, max hops = {255 - min}\n"),
            });
        }
        if (!tw)
        {
            int k = 0;
            for (; k < stats.NReordering.Count && stats.NReordering[k] > 0; k++)
            {
                b.Append(s_inv, $"{k + 1}-reordering = {CFormat.F(100.0 * stats.NReordering[k] / stats.ReorderingArrivals, 6)}%\n");
            }
            b.Append(k == 0 ? "no reordering\n" : string.Create(s_inv, $"no {k + 1}-reordering\n"));
        }
        b.Append('\n');
        return b.ToString();
    }

    /// <summary>"%FT%T" and the milliseconds as "%03.0f" of (float) nanoseconds / 10^6, as owstats prints them (UTC here).</summary>
    private static string Time(NtpTimestamp t)
    {
        long unixSeconds = (long)t.Seconds - NtpTimestamp.UnixEpochOffsetSeconds;
        long nanoseconds = (long)(((ulong)t.Fraction * 1_000_000_000UL) >> 32);
        string date = DateTimeOffset.FromUnixTimeSeconds(unixSeconds).ToString("yyyy-MM-ddTHH:mm:ss", s_inv);
        return date + "." + ((double)((float)nanoseconds / 1_000_000f)).ToString("000", s_inv);
    }
}
