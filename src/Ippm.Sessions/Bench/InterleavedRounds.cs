namespace Ippm.Sessions.Bench;

/// <summary>
/// Figures of a benchmark that alternates short rounds of the kernel floor (F) and the system under test (R):
/// F0 R0 F1 R1 … R(n−1) Fn. Each reflector round is paired with the mean of the floor rounds just before and just
/// after it, so a drift of the machine's speed during the run moves both sides of a ratio alike; the figure
/// reported is the median of the paired ratios, with their spread. A floor that varies by more than
/// <see cref="FloorSpreadLimit"/> of its median across rounds is reported as inconsistent: the machine's speed
/// changed within a round pair, and the ratios say less.
/// </summary>
public sealed record InterleavedRounds
{
    /// <summary>(max − min) / median of the floor rounds above which the floor is called inconsistent.</summary>
    public const double FloorSpreadLimit = 0.25;

    public required IReadOnlyList<double> FloorPps { get; init; }
    public required IReadOnlyList<double> ReflectorPps { get; init; }

    /// <summary>Reflector round i over the mean of floor rounds i and i + 1.</summary>
    public required IReadOnlyList<double> Ratios { get; init; }

    public required Spread Ratio { get; init; }
    public required Spread Floor { get; init; }
    public required Spread Reflector { get; init; }

    /// <summary>(max − min) / median of the floor rounds.</summary>
    public double FloorRelativeSpread => Floor.Median > 0 ? (Floor.Max - Floor.Min) / Floor.Median : double.PositiveInfinity;

    public bool FloorConsistent => FloorRelativeSpread <= FloorSpreadLimit;

    /// <param name="floorPps">n + 1 floor rounds (n ≥ 1), in the order measured.</param>
    /// <param name="reflectorPps">n reflector rounds; round i ran between floor rounds i and i + 1.</param>
    public static InterleavedRounds Summarize(IReadOnlyList<double> floorPps, IReadOnlyList<double> reflectorPps)
    {
        if (reflectorPps.Count == 0 || floorPps.Count != reflectorPps.Count + 1)
        {
            throw new ArgumentException("Interleaved rounds need n reflector rounds between n + 1 floor rounds (n ≥ 1).");
        }
        double[] ratios = new double[reflectorPps.Count];
        for (int i = 0; i < ratios.Length; i++)
        {
            double floor = (floorPps[i] + floorPps[i + 1]) / 2;
            ratios[i] = floor > 0 ? reflectorPps[i] / floor : double.NaN;
        }
        return new InterleavedRounds
        {
            FloorPps = floorPps,
            ReflectorPps = reflectorPps,
            Ratios = ratios,
            Ratio = Spread.Of(ratios.Where(double.IsFinite).ToArray()),
            Floor = Spread.Of(floorPps),
            Reflector = Spread.Of(reflectorPps),
        };
    }
}

/// <summary>Median, quartiles (linear interpolation between order statistics), minimum and maximum of a few values.</summary>
public readonly record struct Spread(double Min, double P25, double Median, double P75, double Max)
{
    public static Spread Of(IReadOnlyList<double> values)
    {
        if (values.Count == 0)
        {
            return new Spread(double.NaN, double.NaN, double.NaN, double.NaN, double.NaN);
        }
        double[] sorted = [.. values.Order()];
        return new Spread(sorted[0], Quantile(sorted, 0.25), Quantile(sorted, 0.5), Quantile(sorted, 0.75), sorted[^1]);
    }

    /// <summary>The quantile at <paramref name="q"/> of sorted values: position q·(n − 1), interpolated.</summary>
    private static double Quantile(double[] sorted, double q)
    {
        double position = q * (sorted.Length - 1);
        int below = (int)Math.Floor(position);
        int above = Math.Min(below + 1, sorted.Length - 1);
        return sorted[below] + ((position - below) * (sorted[above] - sorted[below]));
    }
}
