namespace Ippm.Plots.Archive;

/// <summary>
/// One line of the agent's archive: one measurement session or one failed attempt (archive format version 1,
/// README "ippm plot"). <see cref="Directions"/> is empty unless the line carries figures (outcome <c>ok</c>, or
/// <c>interrupted</c> with figures): one entry for TWAMP/STAMP (the round trip), one or two for OWAMP.
/// </summary>
public sealed record ArchiveRecord(
    ArchiveLocation Location,
    string Test,
    string Target,
    string Protocol,
    string Mode,
    DateTimeOffset Start,
    DateTimeOffset End,
    string Outcome,
    string? Error,
    IReadOnlyList<DirectionFigures> Directions)
{
    public bool IsOk => Outcome == ArchiveOutcomes.Ok;

    /// <summary>The session's time on the plots' time axis: the middle of start and end.</summary>
    public DateTimeOffset Midpoint => Start + ((End - Start) / 2);
}

/// <summary>Where a line came from, for error messages in the usual <c>file:line</c> form.</summary>
public readonly record struct ArchiveLocation(string File, int Line)
{
    public override string ToString() => $"{File}:{Line}";
}

public static class ArchiveOutcomes
{
    public const string Ok = "ok";
}

/// <summary>Which way the figures were measured.</summary>
public enum Direction
{
    /// <summary>TWAMP/STAMP: round trip without the reflector's time.</summary>
    RoundTrip,

    /// <summary>OWAMP client → server.</summary>
    Outbound,

    /// <summary>OWAMP server → client.</summary>
    Inbound,
}

/// <summary>One direction's figures from a report (docs/json-report.md), delays in milliseconds.</summary>
public sealed record DirectionFigures(
    Direction Direction,
    long Sent,
    long Lost,
    double? LossPercent,
    long Duplicates,
    long Reordered,
    DelaySummary Delay);

/// <summary>
/// A report's delay object (docs/json-report.md "Delay statistics"): null figures are null in the report
/// (no packet arrived).
/// </summary>
public sealed record DelaySummary(long Count, double? Min, double? Median, double? Max, double? Mean, double? P90, double? P95, double? P99);

public static class DirectionNames
{
    public static string Label(this Direction direction) => direction switch
    {
        Direction.RoundTrip => "round trip",
        Direction.Outbound => "outbound (client → server)",
        Direction.Inbound => "inbound (server → client)",
        _ => direction.ToString(),
    };

    /// <summary>Short name used in legends and table rows.</summary>
    public static string Short(this Direction direction) => direction switch
    {
        Direction.RoundTrip => "RTT",
        Direction.Outbound => "outbound",
        Direction.Inbound => "inbound",
        _ => direction.ToString(),
    };
}
