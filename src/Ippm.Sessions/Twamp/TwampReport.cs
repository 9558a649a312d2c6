using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Ippm.Sessions.Reports;
using Ippm.Statistics;
using Ippm.Wire;

namespace Ippm.Sessions.Twamp;

/// <summary>
/// Statistics of one TWAMP session, in the spirit of twping's report. Round trip excludes the reflector's
/// processing time, (T4 − T1) − (T3 − T2), as RFC 5357 and twping compute it. One-way delays need
/// synchronised clocks; they are reported as measured, never clamped, and flagged when either clock is
/// unsynchronised.
/// </summary>
public sealed partial class TwampReport
{
    public required string Server { get; init; }
    public required TwampSessionResult Result { get; init; }
    public required SequenceAnalysis Sequence { get; init; }
    public required DelayStatistics RoundTrip { get; init; }
    public required DelayStatistics Forward { get; init; }
    public required DelayStatistics Backward { get; init; }
    public required DelayStatistics Processing { get; init; }
    public required DelayStatistics RoundTripIpdv { get; init; }
    public required DelayStatistics ForwardIpdv { get; init; }
    public required DelayStatistics BackwardIpdv { get; init; }
    public required bool ClocksSynchronized { get; init; }
    public required double MaxRoundTripError { get; init; }
    public required double MaxOneWayError { get; init; }
    public required (int Min, int Max)? ForwardHops { get; init; }
    public required (int Min, int Max)? BackwardHops { get; init; }
    public required long ReflectorDuplicates { get; init; }

    public static TwampReport Create(string server, TwampSessionResult result)
    {
        IReadOnlyList<TwampSample> replies = result.Replies;
        var firstBySeq = new Dictionary<uint, TwampSample>();
        var reflectorSeqs = new HashSet<uint>();
        long reflectorDuplicates = 0;
        foreach (TwampSample s in replies)
        {
            firstBySeq.TryAdd(s.SenderSequence, s);
            if (!reflectorSeqs.Add(s.ReflectorSequence))
            {
                reflectorDuplicates++;
            }
        }
        static double Rtt(TwampSample s) => NtpTimestamp.DifferenceSeconds(s.T4, s.T1) - NtpTimestamp.DifferenceSeconds(s.T3, s.T2);
        static double Fwd(TwampSample s) => NtpTimestamp.DifferenceSeconds(s.T2, s.T1);
        static double Bwd(TwampSample s) => NtpTimestamp.DifferenceSeconds(s.T4, s.T3);
        IEnumerable<TwampSample> unique = firstBySeq.Values;
        bool synchronized = replies.Count > 0 && replies.All(s => s.SenderError.IsSynchronized && s.ReflectorError.IsSynchronized);
        return new TwampReport
        {
            Server = server,
            Result = result,
            Sequence = SequenceAnalysis.Analyze(result.Sent, replies.Select(r => r.SenderSequence)),
            RoundTrip = DelayStatistics.From(unique.Select(Rtt)),
            Forward = DelayStatistics.From(unique.Select(Fwd)),
            Backward = DelayStatistics.From(unique.Select(Bwd)),
            Processing = DelayStatistics.From(unique.Select(s => NtpTimestamp.DifferenceSeconds(s.T3, s.T2))),
            RoundTripIpdv = DelayStatistics.From(Ipdv.Compute(firstBySeq.ToDictionary(p => p.Key, p => Rtt(p.Value)))),
            ForwardIpdv = DelayStatistics.From(Ipdv.Compute(firstBySeq.ToDictionary(p => p.Key, p => Fwd(p.Value)))),
            BackwardIpdv = DelayStatistics.From(Ipdv.Compute(firstBySeq.ToDictionary(p => p.Key, p => Bwd(p.Value)))),
            ClocksSynchronized = synchronized,
            // Four timestamps make a round trip: T1 and T4 carry the sender's error, T2 and T3 the reflector's
            // (its packet has one estimate for both), summed as twping does.
            MaxRoundTripError = replies.Count == 0 ? double.NaN : replies.Max(s => 2 * (s.SenderError.Seconds + s.ReflectorError.Seconds)),
            MaxOneWayError = replies.Count == 0 ? double.NaN : replies.Max(s => s.SenderError.Seconds + s.ReflectorError.Seconds),
            ForwardHops = HopRange(replies.Select(s => (byte?)s.ForwardTtl)),
            BackwardHops = HopRange(replies.Select(s => s.BackwardTtl)),
            ReflectorDuplicates = reflectorDuplicates,
        };
    }

    private static (int, int)? HopRange(IEnumerable<byte?> ttls)
    {
        int[] hops = ttls.Where(t => t.HasValue).Select(t => 255 - t!.Value).ToArray();
        return hops.Length == 0 ? null : (hops.Min(), hops.Max());
    }

    private static string Ms(double seconds) => ReportHeader.Ms(seconds);

    /// <summary>The heading and the JSON members both tools share.</summary>
    public ReportHeader Header => new()
    {
        Tool = "twping",
        Server = Server,
        Mode = Result.Mode,
        KeySource = Result.KeySource,
        IkeSpis = Result.IkeSpis,
        PeerIdentity = Result.PeerIdentity,
        Interrupted = Result.Interrupted,
        EndedByServer = Result.EndedByServer,
        Request = Result.Request,
        LocalControl = Result.LocalControl,
        PeerControl = Result.PeerControl,
        LocalTestPort = Result.LocalTest?.Port,
        PeerTestPort = Result.PeerTest?.Port,
    };

    public string ToHumanReadable()
    {
        var b = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        Header.AppendHeading(b, "to", Result.Sid, Result.Sent > 0 ? Result.FirstSend : null, Result.Sent > 0 ? Result.LastSend : null);
        b.AppendLine(inv, $"{Sequence.Sent} sent, {Sequence.Lost} lost ({Sequence.LossRatio * 100:0.000}%), {Sequence.Duplicates} duplicates, {Sequence.Reordered} reordered");
        b.AppendLine(inv, $"round-trip time min/median/max = {Ms(RoundTrip.Min)}/{Ms(RoundTrip.Median)}/{Ms(RoundTrip.Max)} ms, p95 {Ms(RoundTrip.P95)} ms, (err={Ms(MaxRoundTripError)} ms)");
        string flag = ClocksSynchronized ? "" : " [clocks unsynchronised]";
        b.AppendLine(inv, $"send time min/median/max = {Ms(Forward.Min)}/{Ms(Forward.Median)}/{Ms(Forward.Max)} ms, (err={Ms(MaxOneWayError)} ms){flag}");
        b.AppendLine(inv, $"reflect time min/median/max = {Ms(Backward.Min)}/{Ms(Backward.Median)}/{Ms(Backward.Max)} ms, (err={Ms(MaxOneWayError)} ms){flag}");
        b.AppendLine(inv, $"reflector processing time min/median/max = {Ms(Processing.Min)}/{Ms(Processing.Median)}/{Ms(Processing.Max)} ms");
        b.AppendLine(inv, $"two-way jitter = {Ms(RoundTrip.Jitter)} ms (P95-P50), IPDV min/median/max = {Ms(RoundTripIpdv.Min)}/{Ms(RoundTripIpdv.Median)}/{Ms(RoundTripIpdv.Max)} ms");
        b.AppendLine(inv, $"send jitter = {Ms(Forward.Jitter)} ms (P95-P50)");
        b.AppendLine(inv, $"reflect jitter = {Ms(Backward.Jitter)} ms (P95-P50)");
        b.AppendLine(inv, $"send hops = {Hops(ForwardHops)}");
        b.AppendLine(inv, $"reflect hops = {Hops(BackwardHops)}");
        if (Result.Malformed + Result.BadHmac + Result.Late > 0)
        {
            b.AppendLine(inv, $"discarded replies: {Result.Malformed} malformed, {Result.BadHmac} bad HMAC, {Result.Late} later than the {Result.Timeout.TotalSeconds:0.###} s timeout");
        }
        AppendExtensions(b);
        return b.ToString();
    }

    private static string Hops((int Min, int Max)? hops) => hops switch
    {
        null => "unknown",
        var (min, max) when min == max => $"{min} (consistently)",
        var (min, max) => $"takes {min}..{max} hops",
    };

    public void WriteJson(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        Header.WriteJson(w);
        w.WriteString("sid", Result.Sid.ToString());
        w.WriteNumber("sent", Sequence.Sent);
        w.WriteNumber("received", Sequence.Received);
        w.WriteNumber("lost", Sequence.Lost);
        w.WriteNumber("loss_percent", Sequence.LossRatio * 100);
        w.WriteNumber("duplicates", Sequence.Duplicates);
        w.WriteNumber("reflector_duplicates", ReflectorDuplicates);
        w.WriteNumber("reordered", Sequence.Reordered);
        w.WriteNumber("late", Result.Late);
        w.WriteNumber("malformed", Result.Malformed);
        w.WriteNumber("bad_hmac", Result.BadHmac);
        w.WriteNumber("packet_size", Result.SenderPacketLength);
        w.WriteStartObject("schedule_error_ms");
        WriteNumberOrNull(w, "p50", Result.ScheduleError.P50 * 1000);
        WriteNumberOrNull(w, "p99", Result.ScheduleError.P99 * 1000);
        w.WriteEndObject();
        w.WriteString("first_send", Result.Sent > 0 ? Result.FirstSend.ToDateTimeOffset().ToString("O", CultureInfo.InvariantCulture) : null);
        w.WriteString("last_send", Result.Sent > 0 ? Result.LastSend.ToDateTimeOffset().ToString("O", CultureInfo.InvariantCulture) : null);
        WriteDelay(w, "round_trip_ms", RoundTrip);
        WriteDelay(w, "forward_ms", Forward);
        WriteDelay(w, "backward_ms", Backward);
        WriteDelay(w, "reflector_processing_ms", Processing);
        w.WriteStartObject("ipdv_ms");
        WriteDelay(w, "round_trip", RoundTripIpdv);
        WriteDelay(w, "forward", ForwardIpdv);
        WriteDelay(w, "backward", BackwardIpdv);
        w.WriteEndObject();
        w.WriteBoolean("clocks_synchronized", ClocksSynchronized);
        WriteNumberOrNull(w, "round_trip_error_ms", MaxRoundTripError * 1000);
        WriteNumberOrNull(w, "one_way_error_ms", MaxOneWayError * 1000);
        w.WriteStartObject("hops");
        WriteHops(w, "forward", ForwardHops);
        WriteHops(w, "backward", BackwardHops);
        w.WriteEndObject();
        WriteExtensions(w);
        w.WriteEndObject();
    }

    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            WriteJson(writer);
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void WriteHops(Utf8JsonWriter w, string name, (int Min, int Max)? hops)
    {
        if (hops is not { } h)
        {
            w.WriteNull(name);
            return;
        }
        w.WriteStartObject(name);
        w.WriteNumber("min", h.Min);
        w.WriteNumber("max", h.Max);
        w.WriteEndObject();
    }

    internal static void WriteDelay(Utf8JsonWriter w, string name, DelayStatistics d)
    {
        w.WriteStartObject(name);
        w.WriteNumber("count", d.Count);
        WriteNumberOrNull(w, "min", d.Min * 1000);
        WriteNumberOrNull(w, "median", d.Median * 1000);
        WriteNumberOrNull(w, "max", d.Max * 1000);
        WriteNumberOrNull(w, "mean", d.Mean * 1000);
        WriteNumberOrNull(w, "p90", d.P90 * 1000);
        WriteNumberOrNull(w, "p95", d.P95 * 1000);
        WriteNumberOrNull(w, "p99", d.P99 * 1000);
        WriteNumberOrNull(w, "jitter", d.Jitter * 1000);
        w.WriteEndObject();
    }

    internal static void WriteNumberOrNull(Utf8JsonWriter w, string name, double value) => ReportHeader.WriteNumberOrNull(w, name, value);
}
