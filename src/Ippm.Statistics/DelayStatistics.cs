namespace Ippm.Statistics;

/// <summary>
/// Order statistics of a set of delays, in seconds; <see cref="Empty"/> (count 0, every figure NaN) when no
/// sample exists. Non-finite samples are ignored. Percentiles are nearest-rank (see <see cref="Percentile"/>),
/// so every figure is a delay some packet actually had.
/// </summary>
public sealed record DelayStatistics(int Count, double Min, double Median, double Max, double Mean, double P90, double P95, double P99)
{
    public static readonly DelayStatistics Empty = new(0, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN);

    public static DelayStatistics From(IEnumerable<double> samples)
    {
        double[] sorted = samples.Where(double.IsFinite).ToArray();
        if (sorted.Length == 0)
        {
            return Empty;
        }
        Array.Sort(sorted);
        return new DelayStatistics(
            sorted.Length,
            sorted[0],
            Percentile(sorted, 50),
            sorted[^1],
            sorted.Average(),
            Percentile(sorted, 90),
            Percentile(sorted, 95),
            Percentile(sorted, 99));
    }

    /// <summary>
    /// Nearest-rank percentile: the sample of rank ⌈p·n/100⌉ (1-based) in ascending order, i.e. the smallest
    /// sample with at least p % of the samples at or below it; p = 0 gives the minimum. With an even count the
    /// median is the lower of the two middle samples (no interpolation). This is the rank perfSONAR's
    /// histogram uses too (owstats/twping take the first 0.1 ms bucket whose cumulative count reaches p·n/100).
    /// </summary>
    public static double Percentile(double[] sorted, double percent)
    {
        ArgumentNullException.ThrowIfNull(sorted);
        if (sorted.Length == 0)
        {
            return double.NaN;
        }
        // p·n first, then /100: p/100 is rarely exact in binary, and p/100·n can land just above an integer
        // and take the next rank (99.9/100·1000 = 999.0000000000001 → rank 1000 instead of 999).
        int rank = (int)Math.Ceiling(percent * sorted.Length / 100.0);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    /// <summary>twping's jitter: P95 − P50 of the delay distribution (NaN without samples).</summary>
    public double Jitter => P95 - Median;
}
