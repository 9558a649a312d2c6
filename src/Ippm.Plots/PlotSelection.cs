using Ippm.Plots.Archive;

namespace Ippm.Plots;

/// <summary>What to draw: the archive files (paths or patterns), which tests, which time range.</summary>
public sealed record PlotRequest(
    IReadOnlyList<string> Archives,
    IReadOnlyList<string> Tests,
    DateTimeOffset? Since,
    DateTimeOffset? Until,
    bool SkipBad = false,
    bool UsePacketFiles = true);

/// <summary>Nothing in the archive matches the request; the message says what the archive does hold.</summary>
public sealed class EmptySelectionException(string message) : Exception(message);

/// <summary>One test's sessions in the selected range, with the per-packet delays when a per-packet file had them.</summary>
public sealed record TestData(
    string Test,
    string Target,
    string Protocol,
    string Mode,
    IReadOnlyList<ArchiveRecord> Sessions,
    IReadOnlyList<Direction> Directions,
    IReadOnlyDictionary<Direction, double[]> PacketDelays,
    string? PacketFile)
{
    /// <summary>Protocol as people write it: TWAMP, OWAMP, STAMP.</summary>
    public string ProtocolName => Protocol.ToUpperInvariant();

    /// <summary>The heading every figure and section uses: the path and how it is measured.</summary>
    public string Heading => $"{Test}: {Target} · {ProtocolName} {Mode}";

    public IEnumerable<ArchiveRecord> Failed => Sessions.Where(s => !s.IsOk);
}

/// <summary>The selection after reading: tests in name order, and the lines skipped with <c>--skip-bad</c>.</summary>
public sealed record PlotSelection(IReadOnlyList<TestData> Tests, IReadOnlyList<ArchiveFormatException> Skipped, IReadOnlyList<string> Files)
{
    public static PlotSelection Load(PlotRequest request)
    {
        IReadOnlyList<string> files = ArchiveSources.Expand(request.Archives);
        ArchiveContents contents = ArchiveReader.Read(files, request.SkipBad);
        var skipped = new List<ArchiveFormatException>(contents.Skipped);

        IEnumerable<ArchiveRecord> selected = contents.Records;
        if (request.Tests.Count > 0)
        {
            var wanted = request.Tests.ToHashSet(StringComparer.Ordinal);
            selected = selected.Where(r => wanted.Contains(r.Test));
        }
        if (request.Since is { } since)
        {
            selected = selected.Where(r => r.End >= since);
        }
        if (request.Until is { } until)
        {
            selected = selected.Where(r => r.Start < until);
        }
        List<ArchiveRecord> records = selected.ToList();
        if (records.Count == 0)
        {
            throw new EmptySelectionException(DescribeEmpty(request, files, contents.Records));
        }

        string? packetFile = null;
        Dictionary<string, List<PacketDelay>> packetsByTest = request.UsePacketFiles
            ? ReadPacketFiles(files, request, skipped, out packetFile)
            : new(StringComparer.Ordinal);
        string? packetFileName = packetFile is null ? null : Path.GetFileName(packetFile);

        var tests = records
            .GroupBy(r => r.Test, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g =>
            {
                List<ArchiveRecord> sessions = g.ToList();
                Direction[] directions = sessions.SelectMany(s => s.Directions).Select(d => d.Direction).Distinct().Order().ToArray();
                if (directions.Length == 0)
                {
                    directions = [sessions[0].Protocol == "owamp" ? Direction.Outbound : Direction.RoundTrip];
                }
                var packetDelays = new Dictionary<Direction, double[]>();
                if (packetsByTest.TryGetValue(g.Key, out List<PacketDelay>? packets))
                {
                    foreach (IGrouping<Direction, PacketDelay> byDirection in packets.GroupBy(p => p.Direction))
                    {
                        double[] delays = byDirection.Where(p => p.DelayMs.HasValue).Select(p => p.DelayMs!.Value).ToArray();
                        if (delays.Length > 0)
                        {
                            packetDelays[byDirection.Key] = delays;
                        }
                    }
                }
                return new TestData(
                    g.Key,
                    Joined(sessions.Select(s => s.Target)),
                    Joined(sessions.Select(s => s.Protocol)),
                    Joined(sessions.Select(s => s.Mode)),
                    sessions,
                    directions,
                    packetDelays,
                    packetDelays.Count > 0 ? packetFileName : null);
            })
            .ToList();
        return new PlotSelection(tests, skipped, files);
    }

    private static Dictionary<string, List<PacketDelay>> ReadPacketFiles(IReadOnlyList<string> files, PlotRequest request, List<ArchiveFormatException> skipped, out string? packetFile)
    {
        packetFile = null;
        var byTest = new Dictionary<string, List<PacketDelay>>(StringComparer.Ordinal);
        foreach (string? file in files.Select(ArchiveSources.PacketsFileBeside).Where(f => f is not null).Distinct())
        {
            packetFile ??= file;
            foreach (PacketDelay packet in PacketRecords.Read(file!, request.SkipBad, skipped))
            {
                if (packet.SendTime is { } sent && ((request.Since is { } since && sent < since) || (request.Until is { } until && sent >= until)))
                {
                    continue;
                }
                if (!byTest.TryGetValue(packet.Test, out List<PacketDelay>? list))
                {
                    byTest[packet.Test] = list = [];
                }
                list.Add(packet);
            }
        }
        return byTest;
    }

    private static string Joined(IEnumerable<string> values) => string.Join(", ", values.Distinct(StringComparer.Ordinal));

    private static string DescribeEmpty(PlotRequest request, IReadOnlyList<string> files, IReadOnlyList<ArchiveRecord> all)
    {
        string where = files.Count == 1 ? files[0] : $"{files.Count} archive files";
        if (all.Count == 0)
        {
            return $"{where} holds no sessions";
        }
        var asked = new List<string>();
        if (request.Tests.Count > 0)
        {
            asked.Add("--test " + string.Join(", ", request.Tests));
        }
        if (request.Since is { } since)
        {
            asked.Add("--since " + PlotTime.Format(since));
        }
        if (request.Until is { } until)
        {
            asked.Add("--until " + PlotTime.Format(until));
        }
        string tests = string.Join(", ", all.Select(r => r.Test).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal));
        return $"no session in {where} matches {string.Join(" ", asked)}; it holds tests {tests} from {PlotTime.Format(all.Min(r => r.Start))} to {PlotTime.Format(all.Max(r => r.End))}";
    }
}

/// <summary>How times are written in messages, tables and axes: UTC, ISO 8601.</summary>
public static class PlotTime
{
    public static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
}
