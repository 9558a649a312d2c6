using System.Globalization;
using System.Text.RegularExpressions;
using Ippm.Sessions.Twamp;
using Ippm.Wire;
using static Ippm.Statistics.Tests.PerfsonarVectors;

namespace Ippm.Statistics.Tests;

/// <summary>
/// TWAMP figures against twping's. twping's -M and -R files in cli-output/ come from different runs (their
/// SIDs and start times differ), so the raw records are checked against twping's documented arithmetic and
/// the -v run, which prints every packet and the summary of the same run, is the summary oracle; the captures
/// add T1, T2, T3 and TTL as they crossed the wire, with twping's report of the same run.
/// </summary>
public sealed partial class TwampOracleTests
{
    private static readonly ErrorEstimate s_unsynchronised = new(0x0001); // what this capture host sent (README item 9)

    private static TwampSessionResult Result(IReadOnlyList<TwampSample> samples, int sent) => new(
        SessionId.Read(new byte[16]), SecurityMode.Open, sent, samples, Late: 0, Malformed: 0, BadHmac: 0,
        samples.Count > 0 ? samples[0].T1 : default, samples.Count > 0 ? samples[^1].T1 : default, SenderPacketLength: 41, TimeSpan.FromSeconds(2));

    private static NtpTimestamp At(double seconds) => new((ulong)Math.Round((3_973_000_000.0 + seconds) * 4294967296.0));

    [Fact]
    public void VerboseRun_PerPacketDelays_ReproduceTwpingSummaryOfTheSameRun()
    {
        string[] lines = Lines("cli-output/twping-v.txt");
        var samples = new List<TwampSample>();
        var backward = new List<double>();
        foreach (Match m in lines.Select(l => VerboseLine().Match(l)).Where(m => m.Success))
        {
            double Ms(string g) => Number(m.Groups[g].Value) / 1000;
            uint seq = uint.Parse(m.Groups["seq"].Value, CultureInfo.InvariantCulture);
            // twping prints fwd, bck, delay = RTT and proc per packet, each to 3 digits. T1..T4 are laid out so
            // that ippm's arithmetic must give back fwd (T2 − T1), proc (T3 − T2) and the RTT, (T4 − T1) − proc.
            double t1 = seq * 0.01;
            NtpTimestamp T1 = At(t1), T2 = At(t1 + Ms("fwd")), T3 = At(t1 + Ms("fwd") + Ms("proc")), T4 = At(t1 + Ms("proc") + Ms("rtt"));
            samples.Add(new TwampSample(seq, seq, T1, T2, T3, T4, s_unsynchronised, s_unsynchronised, 255, 255));
            backward.Add(Ms("bck"));
        }
        Assert.Equal(20, samples.Count);
        TwampReport report = TwampReport.Create("127.0.0.1", Result(samples, 20));
        string[] summary = lines.SkipWhile(l => !l.StartsWith("first:", StringComparison.Ordinal)).ToArray();

        Assert.Contains($"{report.Sequence.Sent} sent, {report.Sequence.Lost} lost (0.000%), {report.Sequence.Duplicates} send duplicates, {report.ReflectorDuplicates} reflect duplicates", summary);
        double[] rtt = Triple(summary, "round-trip time");
        EqualWithin3g(rtt[0], report.RoundTrip.Min, "RTT min");
        Assert.Equal(rtt[1], BucketOf(report.RoundTrip.Median), 9);
        EqualWithin3g(rtt[2], report.RoundTrip.Max, "RTT max");
        double[] send = Triple(summary, "send time");
        EqualWithin3g(send[0], report.Forward.Min, "send min");
        Assert.Equal(send[1], BucketOf(report.Forward.Median), 9);
        EqualWithin3g(send[2], report.Forward.Max, "send max");
        // Backward is T4 − T3 = RTT − fwd here: 3-digit roundings of two figures, so compare to twping's own bck.
        double[] reflect = Triple(summary, "reflect time");
        EqualWithin3g(reflect[0], backward.Min(), "reflect min (printed per packet)");
        EqualWithin3g(reflect[2], backward.Max(), "reflect max (printed per packet)");
        Assert.True(Math.Abs(reflect[0] - report.Backward.Min) < 1e-6 && Math.Abs(reflect[2] - report.Backward.Max) < 2e-5, "reflect min/max");
        Assert.Equal(reflect[1], BucketOf(report.Backward.Median), 9);
        Match proc = Regex.Match(summary.First(l => l.StartsWith("reflector processing", StringComparison.Ordinal)), @"= ([0-9.e-]+)/([0-9.e-]+) ms");
        EqualWithin3g(Number(proc.Groups[1].Value) / 1000, report.Processing.Min, "proc min");
        EqualWithin3g(Number(proc.Groups[2].Value) / 1000, report.Processing.Max, "proc max");

        Assert.Equal(Jitter(summary, "two-way"), BucketOf(report.RoundTrip.P95) - BucketOf(report.RoundTrip.Median), 9);
        Assert.Equal(Jitter(summary, "send"), BucketOf(report.Forward.P95) - BucketOf(report.Forward.Median), 9);
        Assert.Equal(Jitter(summary, "reflect"), BucketOf(report.Backward.P95) - BucketOf(report.Backward.Median), 9);
        Assert.Contains($"send hops = {report.ForwardHops!.Value.Min} (consistently)", summary);
        Assert.Contains($"reflect hops = {report.BackwardHops!.Value.Min} (consistently)", summary);

        // err: twping sums the four timestamps' estimates for the round trip, two for each direction.
        Assert.Contains("(err=9.31e-07 ms)", summary.First(l => l.StartsWith("round-trip", StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.Equal("9.31E-07", (report.MaxRoundTripError * 1000).ToString("G3", CultureInfo.InvariantCulture));
        Assert.Equal("4.66E-07", (report.MaxOneWayError * 1000).ToString("G3", CultureInfo.InvariantCulture));
    }

    private static double Jitter(string[] summary, string what) =>
        Number(Regex.Match(summary.First(l => l.StartsWith($"{what} jitter", StringComparison.Ordinal)), @"= ([0-9.]+) ms").Groups[1].Value) / 1000;

    [GeneratedRegex(@"^seq_no=(?<seq>\d+)\s+fwd_delay=(?<fwd>[0-9.e-]+) ms bck_delay=(?<bck>[0-9.e-]+) ms delay=(?<rtt>[0-9.e-]+) ms proc_delay=(?<proc>[0-9.e-]+) ms")]
    private static partial Regex VerboseLine();

    public static TheoryData<string> Captures => new() { "twamp-open", "twamp-auth", "twamp-encrypted", "twamp-mixed" };

    [Theory]
    [MemberData(nameof(Captures))]
    public void Capture_SendTimesProcessingAndHops_ReproduceTwpingReport(string name)
    {
        var reflections = DecodedReflections($"{name}.decoded.txt");
        Assert.Equal(5, reflections.Count);
        // T4 is twping's receive time, never on the wire: only what the packets carry is compared.
        var samples = reflections.Select(r => new TwampSample(r.Seq, r.Seq, r.T1, r.T2, r.T3, r.T3, s_unsynchronised, s_unsynchronised, r.SenderTtl, 255)).ToList();
        TwampReport report = TwampReport.Create("127.0.0.1", Result(samples, 5));
        string[] lines = Lines($"{name}.client-output.txt");

        Assert.Contains("5 sent, 0 lost (0.000%), 0 send duplicates, 0 reflect duplicates", lines);
        Assert.Equal((5L, 0L, 0L), (report.Sequence.Sent, report.Sequence.Lost, report.Sequence.Duplicates));
        double[] send = Triple(lines, "send time");
        EqualWithin3g(send[0], report.Forward.Min, "send min");
        Assert.Equal(send[1], BucketOf(report.Forward.Median), 9);
        EqualWithin3g(send[2], report.Forward.Max, "send max");
        Assert.Equal(Jitter(lines, "send"), BucketOf(report.Forward.P95) - BucketOf(report.Forward.Median), 9);
        Match proc = Regex.Match(lines.First(l => l.StartsWith("reflector processing", StringComparison.Ordinal)), @"= ([0-9.e-]+)/([0-9.e-]+) ms");
        EqualWithin3g(Number(proc.Groups[1].Value) / 1000, report.Processing.Min, "proc min");
        EqualWithin3g(Number(proc.Groups[2].Value) / 1000, report.Processing.Max, "proc max");
        Assert.Contains($"send hops = {report.ForwardHops!.Value.Max} (consistently)", lines);
        Assert.Equal(report.ForwardHops.Value.Min, report.ForwardHops.Value.Max);
    }

    [Fact]
    public void RawRecords_ReportMatchesTwpingArithmeticPerPacket()
    {
        List<TwampSample> samples = TwpingRawSamples("cli-output/twping-R.txt");
        Assert.Equal(20, samples.Count);
        TwampReport report = TwampReport.Create("127.0.0.1", Result(samples, 20));

        // twping (stats.c): proc = T3 − T2, RTT = (T4 − T1) − proc, fwd = T2 − T1, bck = T4 − T3, each in
        // twping's double arithmetic (PerfsonarDelay); ippm's exact figures agree within its 2^-21 s.
        double[] rtt = samples.Select(s => PerfsonarDelay(s.T1, s.T4) - PerfsonarDelay(s.T2, s.T3)).ToArray();
        double[] fwd = samples.Select(s => PerfsonarDelay(s.T1, s.T2)).ToArray();
        double[] bck = samples.Select(s => PerfsonarDelay(s.T3, s.T4)).ToArray();
        double[] proc = samples.Select(s => PerfsonarDelay(s.T2, s.T3)).ToArray();
        EqualWithinPerfsonarResolution(rtt.Min(), report.RoundTrip.Min, "RTT min");
        EqualWithinPerfsonarResolution(rtt.Max(), report.RoundTrip.Max, "RTT max");
        EqualWithinPerfsonarResolution(fwd.Min(), report.Forward.Min, "fwd min");
        EqualWithinPerfsonarResolution(fwd.Max(), report.Forward.Max, "fwd max");
        EqualWithinPerfsonarResolution(bck.Min(), report.Backward.Min, "bck min");
        EqualWithinPerfsonarResolution(bck.Max(), report.Backward.Max, "bck max");
        EqualWithinPerfsonarResolution(proc.Min(), report.Processing.Min, "proc min");
        EqualWithinPerfsonarResolution(proc.Max(), report.Processing.Max, "proc max");
        Assert.Equal(BucketOf(Sorted(rtt)[9]), BucketOf(report.RoundTrip.Median), 9);
        Assert.Equal(BucketOf(Sorted(fwd)[9]), BucketOf(report.Forward.Median), 9);
        Assert.Equal(BucketOf(Sorted(bck)[9]), BucketOf(report.Backward.Median), 9);
        Assert.Equal(BucketOf(Sorted(rtt)[18]), BucketOf(report.RoundTrip.P95), 9);

        // Errors: four timestamps (2.32831e-10 s each in -R) for the round trip, two per direction: twping's
        // MAXERR / MAXERR_FWD of the same host's -M run.
        Dictionary<string, string> m = MachineSummary("cli-output/twping-M.txt");
        EqualTo6g(Number(m["MAXERR"]), report.MaxRoundTripError, "MAXERR");
        EqualTo6g(Number(m["MAXERR_FWD"]), report.MaxOneWayError, "MAXERR_FWD");
        Assert.Equal((0L, 0L, 0L), (report.Sequence.Lost, report.Sequence.Duplicates, report.ReflectorDuplicates));
        Assert.Equal((0, 0), report.ForwardHops);
        Assert.Equal((0, 0), report.BackwardHops);
        Assert.False(report.ClocksSynchronized);
    }

    private static double[] Sorted(double[] values)
    {
        double[] copy = (double[])values.Clone();
        Array.Sort(copy);
        return copy;
    }
}
