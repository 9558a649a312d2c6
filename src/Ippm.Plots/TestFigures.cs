using Ippm.Plots.Archive;
using Ippm.Statistics;

namespace Ippm.Plots;

/// <summary>
/// The figures table of one test and direction. Loss is exact (sums of the sessions' sent and lost). Delay
/// figures come from the per-packet delays when a per-packet file had them (<see cref="FromPackets"/>);
/// otherwise from the session summaries: the smallest session minimum, the median of the session medians and
/// the 95th percentile of the session p95s (nearest rank, as everywhere in ippm), and the largest maximum.
/// </summary>
public sealed record TestFigures(
    Direction Direction,
    int Sessions,
    int SessionsWithFigures,
    int Failed,
    long Sent,
    long Lost,
    long Reordered,
    long Duplicates,
    double? Min,
    double? Median,
    double? P95,
    double? Max,
    bool FromPackets)
{
    public double? LossPercent => Sent > 0 ? Lost * 100.0 / Sent : null;

    public static TestFigures Of(TestData test, Direction direction)
    {
        List<DirectionFigures> figures = test.Sessions
            .SelectMany(s => s.Directions)
            .Where(d => d.Direction == direction)
            .ToList();
        long sent = figures.Sum(f => f.Sent);
        long lost = figures.Sum(f => f.Lost);
        if (test.PacketDelays.TryGetValue(direction, out double[]? packets))
        {
            double[] sorted = packets.Order().ToArray();
            return new TestFigures(direction, test.Sessions.Count, figures.Count, test.Failed.Count(), sent, lost,
                figures.Sum(f => f.Reordered), figures.Sum(f => f.Duplicates),
                sorted[0], DelayStatistics.Percentile(sorted, 50), DelayStatistics.Percentile(sorted, 95), sorted[^1], FromPackets: true);
        }
        return new TestFigures(direction, test.Sessions.Count, figures.Count, test.Failed.Count(), sent, lost,
            figures.Sum(f => f.Reordered), figures.Sum(f => f.Duplicates),
            Smallest(figures.Select(f => f.Delay.Min)),
            Percentile(figures.Select(f => f.Delay.Median), 50),
            Percentile(figures.Select(f => f.Delay.P95), 95),
            Largest(figures.Select(f => f.Delay.Max)),
            FromPackets: false);
    }

    private static double? Smallest(IEnumerable<double?> values) => values.Where(v => v.HasValue).Min();

    private static double? Largest(IEnumerable<double?> values) => values.Where(v => v.HasValue).Max();

    private static double? Percentile(IEnumerable<double?> values, double percent)
    {
        double[] sorted = values.Where(v => v.HasValue).Select(v => v!.Value).Order().ToArray();
        return sorted.Length == 0 ? null : DelayStatistics.Percentile(sorted, percent);
    }
}
