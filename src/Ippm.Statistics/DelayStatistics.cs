namespace Ippm.Statistics;

/// <summary>Order statistics of a set of delays, in seconds. Empty when no sample exists.</summary>
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

    /// <summary>Nearest-rank percentile (the smallest sample with at least p % of samples at or below it).</summary>
    public static double Percentile(double[] sorted, double percent)
    {
        if (sorted.Length == 0)
        {
            return double.NaN;
        }
        int rank = (int)Math.Ceiling(percent / 100.0 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    /// <summary>twping's jitter: P95 − P50 of the delay distribution.</summary>
    public double Jitter => Count == 0 ? double.NaN : P95 - Median;
}
