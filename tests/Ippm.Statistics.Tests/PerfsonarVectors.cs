using System.Globalization;
using System.Text.RegularExpressions;
using Ippm.Sessions.Twamp;
using Ippm.Wire;
using Ippm.Wire.Test;

namespace Ippm.Statistics.Tests;

/// <summary>
/// perfSONAR's own outputs in <c>../shared/vectors/perfsonar</c> (beside the repository), read as oracles. A
/// missing directory fails the test with what to do; it never skips.
/// </summary>
internal static partial class PerfsonarVectors
{
    /// <summary>owstats/twping histogram width (BUCKET_WIDTH in every -M output): 0.1 ms.</summary>
    public const double BucketWidth = 0.0001;

    private static readonly Lazy<string> s_directory = new(Locate);

    public static string Directory => s_directory.Value;

    public static string PathOf(string relative) => Path.Combine(Directory, relative);

    public static string[] Lines(string relative) => File.ReadAllLines(PathOf(relative));

    private static string Locate()
    {
        for (string? dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
        {
            string candidate = Path.Combine(dir, "..", "shared", "vectors", "perfsonar");
            if (System.IO.Directory.Exists(candidate))
            {
                return Path.GetFullPath(candidate);
            }
        }
        Assert.Fail("perfSONAR vectors not found: ../shared/vectors/perfsonar must sit beside the repository, as CI lays it out.");
        return "";
    }

    /// <summary>The key/value lines of an <c>owstats -M</c> / <c>twping -M</c> summary (SUMMARY 3.00), histograms left out.</summary>
    public static Dictionary<string, string> MachineSummary(string relative)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in Lines(relative))
        {
            string[] parts = line.Split('\t');
            if (parts.Length == 2 && parts[0].Length > 0 && char.IsAsciiLetterUpper(parts[0][0]))
            {
                values[parts[0]] = parts[1];
            }
        }
        Assert.Equal("3.00", values["SUMMARY"]);
        return values;
    }

    /// <summary>The rows between <c>&lt;NAME&gt;</c> and <c>&lt;/NAME&gt;</c> of a -M output, as integers.</summary>
    public static List<long[]> Section(string relative, string name)
    {
        var rows = new List<long[]>();
        bool inside = false;
        foreach (string line in Lines(relative))
        {
            if (line == $"<{name}>")
            {
                inside = true;
            }
            else if (line == $"</{name}>")
            {
                return rows;
            }
            else if (inside)
            {
                rows.Add(line.Split('\t', StringSplitOptions.RemoveEmptyEntries).Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray());
            }
        }
        Assert.Fail($"{relative}: no <{name}> section");
        return rows;
    }

    public static double Number(string text) => double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);

    /// <summary>
    /// perfSONAR's percentile (owamp stats.c, BucketBufferSortPercentile): delays go into buckets
    /// b = ⌈d / 0.1 ms⌉ (⌊⌋ below zero); the result is b·0.1 ms of the first bucket whose cumulative count
    /// reaches α·sent. This is the figure twping/owstats print for a sample ippm reports exactly.
    /// </summary>
    public static double BucketOf(double delay) => (delay < 0 ? Math.Floor(delay / BucketWidth) : Math.Ceiling(delay / BucketWidth)) * BucketWidth;

    /// <summary>One record of <c>owstats -R</c>: SEQNO STIME SS SERR RTIME RS RERR TTL.</summary>
    public sealed record OwstatsRaw(uint Seq, ulong SendTime, bool SendSync, double SendError, ulong ReceiveTime, bool ReceiveSync, double ReceiveError, byte Ttl);

    public static List<OwstatsRaw> OwstatsRawRecords(string relative) =>
        Lines(relative).Where(l => l.Length > 0 && char.IsAsciiDigit(l[0])).Select(l =>
        {
            string[] f = l.Split(' ');
            Assert.Equal(8, f.Length);
            return new OwstatsRaw(uint.Parse(f[0], CultureInfo.InvariantCulture), ulong.Parse(f[1], CultureInfo.InvariantCulture), f[2] == "1",
                Number(f[3]), ulong.Parse(f[4], CultureInfo.InvariantCulture), f[5] == "1", Number(f[6]), byte.Parse(f[7], CultureInfo.InvariantCulture));
        }).ToList();

    /// <summary>
    /// <c>twping -R</c>: SSEQ STIME SS SERR SRTIME SRS SRERR STTL RSEQ RSTIME RSS RSERR RTIME RS RERR RTTL, i.e. the
    /// sender's record (T1, T2 at the reflector, TTL seen there) then the reflector's (T3, T4 back home, TTL).
    /// </summary>
    public static List<TwampSample> TwpingRawSamples(string relative) =>
        Lines(relative).Where(l => l.Length > 0 && char.IsAsciiDigit(l[0])).Select(l =>
        {
            string[] f = l.Split(' ');
            Assert.Equal(16, f.Length);
            static NtpTimestamp T(string v) => new(ulong.Parse(v, CultureInfo.InvariantCulture));
            static ErrorEstimate E(string sync, string seconds) => Estimate(Number(seconds), sync == "1");
            return new TwampSample(
                SenderSequence: uint.Parse(f[0], CultureInfo.InvariantCulture),
                ReflectorSequence: uint.Parse(f[8], CultureInfo.InvariantCulture),
                T1: T(f[1]), T2: T(f[4]), T3: T(f[9]), T4: T(f[12]),
                SenderError: E(f[2], f[3]), ReflectorError: E(f[10], f[11]),
                ForwardTtl: byte.Parse(f[7], CultureInfo.InvariantCulture), BackwardTtl: byte.Parse(f[15], CultureInfo.InvariantCulture));
        }).ToList();

    /// <summary>The error estimate (RFC 4656 §4.1.2) whose value is the %g-printed <paramref name="seconds"/>.</summary>
    public static ErrorEstimate Estimate(double seconds, bool synchronized)
    {
        for (int scale = 0; scale < 64; scale++)
        {
            double unit = Math.Pow(2, scale - 32);
            double multiplier = Math.Round(seconds / unit);
            if (multiplier is >= 1 and <= 255 && Math.Abs((multiplier * unit) - seconds) <= seconds * 1e-5)
            {
                return new ErrorEstimate((ushort)((synchronized ? 0x8000 : 0) | (scale << 8) | (int)multiplier));
            }
        }
        throw new ArgumentException($"{seconds} is no error estimate", nameof(seconds));
    }

    /// <summary>The "record seq=… send=SSSSSSSS.FFFFFFFF recv=… ttl=N" lines of a capture's independent decode (Fetch-Ack records).</summary>
    public static List<OwampDataRecord> DecodedFetchRecords(string relative) =>
        Lines(relative).Select(l => DecodedRecord().Match(l)).Where(m => m.Success).Select(m => new OwampDataRecord(
            uint.Parse(m.Groups["seq"].Value, CultureInfo.InvariantCulture),
            new ErrorEstimate(ushort.Parse(m.Groups["serr"].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture)),
            new ErrorEstimate(ushort.Parse(m.Groups["rerr"].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture)),
            Ntp(m.Groups["send"].Value), Ntp(m.Groups["recv"].Value),
            byte.Parse(m.Groups["ttl"].Value, CultureInfo.InvariantCulture))).ToList();

    /// <summary>Reflected packets of a TWAMP capture's decode: T1 (sender-ts), T2 (recv), T3 (ts), sender TTL.</summary>
    public static List<(uint Seq, NtpTimestamp T1, NtpTimestamp T2, NtpTimestamp T3, byte SenderTtl)> DecodedReflections(string relative) =>
        Lines(relative).Select(l => DecodedReflection().Match(l)).Where(m => m.Success).Select(m => (
            uint.Parse(m.Groups["seq"].Value, CultureInfo.InvariantCulture),
            Ntp(m.Groups["t1"].Value), Ntp(m.Groups["t2"].Value), Ntp(m.Groups["t3"].Value),
            byte.Parse(m.Groups["ttl"].Value, CultureInfo.InvariantCulture))).ToList();

    private static NtpTimestamp Ntp(string secondsDotFraction)
    {
        string[] p = secondsDotFraction.Split('.');
        return new NtpTimestamp((ulong.Parse(p[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture) << 32) | ulong.Parse(p[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
    }

    [GeneratedRegex(@"record seq=(?<seq>\d+) serr=0x(?<serr>[0-9a-f]{4}).* rerr=0x(?<rerr>[0-9a-f]{4}).* send=(?<send>[0-9a-f]{8}\.[0-9a-f]{8}) .* recv=(?<recv>[0-9a-f]{8}\.[0-9a-f]{8}) .* ttl=(?<ttl>\d+)")]
    private static partial Regex DecodedRecord();

    [GeneratedRegex(@"reflector \d+->\d+ len=\d+ seq=(?<seq>\d+) ts=(?<t3>[0-9a-f]{8}\.[0-9a-f]{8}) .* recv=(?<t2>[0-9a-f]{8}\.[0-9a-f]{8}) .* sender-ts=(?<t1>[0-9a-f]{8}\.[0-9a-f]{8}) .* sender-ttl=(?<ttl>\d+)")]
    private static partial Regex DecodedReflection();

    /// <summary>The numbers of a twping/owping human line "NAME min/median/max = a/b/c ms".</summary>
    public static double[] Triple(IEnumerable<string> lines, string prefix)
    {
        string line = lines.First(l => l.StartsWith(prefix, StringComparison.Ordinal));
        Match m = Regex.Match(line, @"= ([-0-9.e+]+)/([-0-9.e+]+)/([-0-9.e+]+) ms");
        Assert.True(m.Success, line);
        return [Number(m.Groups[1].Value) / 1000, Number(m.Groups[2].Value) / 1000, Number(m.Groups[3].Value) / 1000];
    }

    /// <summary>perfSONAR's %.3g figure and ippm's agree within the printed precision plus perfSONAR's 2^-21 s.</summary>
    public static void EqualWithin3g(double printed, double ippm, string what)
    {
        double halfDigit = Math.Pow(10, Math.Floor(Math.Log10(Math.Abs(printed))) - 2) / 2;
        Assert.True(Math.Abs(printed - ippm) <= halfDigit + PerfsonarDelayResolution, $"{what}: perfSONAR printed {printed:G3}, ippm has {ippm:G6}");
    }

    /// <summary>perfSONAR prints with %.3g: equal to three significant digits.</summary>
    public static void EqualTo3g(double expected, double actual, string what) =>
        Assert.True(actual.ToString("G3", CultureInfo.InvariantCulture) == expected.ToString("G3", CultureInfo.InvariantCulture),
            $"{what}: perfSONAR printed {expected:G6} (3 significant digits), ippm has {actual:G6}");

    /// <summary>
    /// perfSONAR's delay arithmetic (owamp's OWPDelay): each absolute 32.32 timestamp becomes a double first,
    /// then they are subtracted, so a delay is quantised to one double ulp at today's NTP seconds, 2^-21 s
    /// (0.48 µs). ippm subtracts the 64-bit integers first and is exact to 2^-32 s.
    /// </summary>
    public static double PerfsonarDelay(NtpTimestamp send, NtpTimestamp receive) => (receive.Value / 4294967296.0) - (send.Value / 4294967296.0);

    /// <summary>One double ulp of an NTP-era timestamp in seconds: the resolution of perfSONAR's delays.</summary>
    public static readonly double PerfsonarDelayResolution = Math.Pow(2, -21);

    /// <summary>A perfSONAR delay figure (%g) and ippm's exact one agree within perfSONAR's resolution.</summary>
    public static void EqualWithinPerfsonarResolution(double perfsonar, double ippm, string what) =>
        Assert.True(Math.Abs(perfsonar - ippm) <= PerfsonarDelayResolution + (Math.Abs(perfsonar) * 5e-6),
            $"{what}: perfSONAR {perfsonar:G6}, ippm {ippm:G9}, more than 2^-21 s apart");

    /// <summary>perfSONAR prints -M values with %g: equal to six significant digits.</summary>
    public static void EqualTo6g(double expected, double actual, string what) =>
        Assert.True(Math.Abs(expected - actual) <= Math.Abs(expected) * 5e-6, $"{what}: perfSONAR {expected:G6}, ippm {actual:G9}");
}
