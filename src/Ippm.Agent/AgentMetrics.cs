using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Ippm.Sessions.Owamp;
using Ippm.Sessions.Twamp;
using Ippm.Statistics;
using Ippm.Wire;

namespace Ippm.Agent;

/// <summary>
/// The agent's per-test series (meter <see cref="MeterName"/>), exported by the server's own endpoint code
/// (<c>MetricsEndpoint</c>, <c>OtlpExport</c>). Labels are the configuration's, so their number is bounded by the test
/// list: <c>test</c>, <c>target</c>, <c>protocol</c>, <c>mode</c>, <c>dscp</c>, and <c>direction</c> (TWAMP
/// <c>forward</c>/<c>backward</c>/<c>round_trip</c>, OWAMP <c>outbound</c>/<c>inbound</c>). Nothing is recorded while
/// packets fly: a finished session's results are walked once, after its report is made. Delay histograms have explicit
/// boundaries from 10 µs to 10 s (1-2-5 steps), which fits loopback to intercontinental paths.
/// </summary>
public static class AgentMetrics
{
    public const string MeterName = "Ippm.Agent";

    /// <summary>Seconds: 10 µs … 10 s in 1-2-5 steps.</summary>
    public static readonly IReadOnlyList<double> DelayBuckets =
    [
        0.00001, 0.00002, 0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10,
    ];

    private static readonly Meter s_meter = new(MeterName, "1.0");

    private static readonly Histogram<double> s_delay = s_meter.CreateHistogram(
        "ippm.agent.delay", "s", "One-way delay of each packet of finished sessions (negative delays of unsynchronised clocks are left out)",
        tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DelayBuckets });

    private static readonly Histogram<double> s_rtt = s_meter.CreateHistogram(
        "ippm.agent.rtt", "s", "TWAMP round-trip time of each packet of finished sessions, reflector time excluded",
        tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DelayBuckets });

    private static readonly Histogram<double> s_ipdv = s_meter.CreateHistogram(
        "ippm.agent.ipdv", "s", "Magnitude of the RFC 3393 IPDV between consecutive packets of finished sessions",
        tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DelayBuckets });

    private static readonly Counter<long> s_sessions = s_meter.CreateCounter<long>(
        "ippm.agent.sessions", "{session}", "Sessions and failed attempts by outcome");

    private static readonly Counter<long> s_sent = s_meter.CreateCounter<long>("ippm.agent.packets.sent", "{packet}", "Test packets sent");
    private static readonly Counter<long> s_lost = s_meter.CreateCounter<long>("ippm.agent.packets.lost", "{packet}", "Test packets lost");
    private static readonly Counter<long> s_duplicates = s_meter.CreateCounter<long>("ippm.agent.packets.duplicates", "{packet}", "Duplicate test packets");
    private static readonly Counter<long> s_reordered = s_meter.CreateCounter<long>("ippm.agent.packets.reordered", "{packet}", "Reordered test packets (RFC 4737)");

    /// <summary>The last finished session's figures per series, read by the observable gauges.</summary>
    private static readonly ConcurrentDictionary<string, LastSession> s_last = new(StringComparer.Ordinal);

    static AgentMetrics()
    {
        s_meter.CreateObservableGauge("ippm.agent.loss.ratio", () => Observe(l => l.LossRatio), "1", "Loss ratio of the last finished session");
        s_meter.CreateObservableGauge("ippm.agent.hops", () => Observe(l => l.Hops), "{hop}", "Largest hop count of the last finished session (255 − TTL)");
        s_meter.CreateObservableGauge("ippm.agent.clock.synchronized", () => Observe(l => l.Synchronized), "1", "1 when every timestamp of the last finished session claimed synchronised clocks");
        s_meter.CreateObservableGauge("ippm.agent.clock.error", () => Observe(l => l.Error), "s", "Largest error estimate of the last finished session (sum of both ends)");
    }

    private sealed record LastSession(string Test, TagList Tags, double LossRatio, double Hops, double Synchronized, double Error);

    private static IEnumerable<Measurement<double>> Observe(Func<LastSession, double> value)
    {
        foreach (LastSession last in s_last.Values)
        {
            double v = value(last);
            if (double.IsFinite(v))
            {
                yield return new Measurement<double>(v, last.Tags);
            }
        }
    }

    private static TagList Tags(AgentTest test, string? direction)
    {
        var tags = new TagList
        {
            { "test", test.Name },
            { "target", test.Target },
            { "protocol", test.ProtocolLabel },
            { "mode", test.ModeLabel },
            { "dscp", test.Dscp.ToString(CultureInfo.InvariantCulture) },
        };
        if (direction is not null)
        {
            tags.Add("direction", direction);
        }
        return tags;
    }

    public static void Outcome(AgentTest test, SessionOutcome outcome)
    {
        TagList tags = Tags(test, test.Protocol == TestProtocol.Owamp ? test.DirectionLabel : null);
        tags.Add("outcome", outcome.Label());
        s_sessions.Add(1, tags);
    }

    /// <summary>A test left the configuration: its gauges stop being reported (counters and histograms stay, as Prometheus expects).</summary>
    public static void Forget(string test)
    {
        foreach (string key in s_last.Keys.Where(k => k.StartsWith(test + "\n", StringComparison.Ordinal)))
        {
            s_last.TryRemove(key, out _);
        }
    }

    public static void Twamp(AgentTest test, TwampReport report)
    {
        var first = new Dictionary<uint, TwampSample>();
        foreach (TwampSample s in report.Result.Replies)
        {
            first.TryAdd(s.SenderSequence, s);
        }
        TagList rt = Tags(test, "round_trip"), fwd = Tags(test, "forward"), bwd = Tags(test, "backward");
        foreach (TwampSample s in first.Values)
        {
            double rtt = NtpTimestamp.DifferenceSeconds(s.T4, s.T1) - NtpTimestamp.DifferenceSeconds(s.T3, s.T2);
            s_rtt.Record(rtt, rt);
            RecordDelay(NtpTimestamp.DifferenceSeconds(s.T2, s.T1), fwd);
            RecordDelay(NtpTimestamp.DifferenceSeconds(s.T4, s.T3), bwd);
        }
        foreach (double v in Ipdv.Compute(first.ToDictionary(p => p.Key, p => NtpTimestamp.DifferenceSeconds(p.Value.T4, p.Value.T1) - NtpTimestamp.DifferenceSeconds(p.Value.T3, p.Value.T2))))
        {
            s_ipdv.Record(Math.Abs(v), rt);
        }
        Counts(rt, report.Sequence.Sent, report.Sequence.Lost, report.Sequence.Duplicates, report.Sequence.Reordered);
        int hops = Math.Max(report.ForwardHops?.Max ?? -1, report.BackwardHops?.Max ?? -1);
        Remember(test, "round_trip", rt, report.Sequence.LossRatio, hops < 0 ? double.NaN : hops, report.ClocksSynchronized, report.MaxRoundTripError);
    }

    public static void Owamp(AgentTest test, OwampReport report)
    {
        foreach ((string direction, OwampDirectionReport? d) in new[] { ("outbound", report.Outbound), ("inbound", report.Inbound) })
        {
            if (d is null)
            {
                continue;
            }
            TagList tags = Tags(test, direction);
            var first = new Dictionary<uint, double>();
            foreach (var r in d.Data.Records)
            {
                if (!r.IsLost && r.SequenceNumber < d.Data.NextSeqno)
                {
                    first.TryAdd(r.SequenceNumber, NtpTimestamp.DifferenceSeconds(r.ReceiveTime, r.SendTime));
                }
            }
            foreach (double delay in first.Values)
            {
                RecordDelay(delay, tags);
            }
            foreach (double v in Ipdv.Compute(first))
            {
                s_ipdv.Record(Math.Abs(v), tags);
            }
            Counts(tags, d.Sent, d.Lost, d.Duplicates, d.Reordered);
            Remember(test, direction, tags, d.LossRatio, d.Hops?.Max ?? double.NaN, d.ClocksSynchronized, d.MaxError);
        }
    }

    private static void RecordDelay(double seconds, in TagList tags)
    {
        if (seconds >= 0)
        {
            s_delay.Record(seconds, tags);
        }
    }

    private static void Counts(in TagList tags, long sent, long lost, long duplicates, long reordered)
    {
        s_sent.Add(sent, tags);
        s_lost.Add(lost, tags);
        s_duplicates.Add(duplicates, tags);
        s_reordered.Add(reordered, tags);
    }

    private static void Remember(AgentTest test, string direction, TagList tags, double loss, double hops, bool synchronized, double error) =>
        s_last[test.Name + "\n" + direction] = new LastSession(test.Name, tags, loss, hops, synchronized ? 1 : 0, error);
}
