namespace Ippm.Plots.Archive;

/// <summary>What the archive files held: the records in time order, and the lines skipped with <c>--skip-bad</c>.</summary>
public sealed record ArchiveContents(IReadOnlyList<ArchiveRecord> Records, IReadOnlyList<ArchiveFormatException> Skipped);

/// <summary>
/// Reads archive files line by line. Empty lines are ignored; any other line that is not a version-1 record
/// stops the read with <c>file:line: reason</c>, or is collected in <see cref="ArchiveContents.Skipped"/> when
/// <c>skipBad</c> is set (a half-written last line after a crash is the usual case).
/// </summary>
public static class ArchiveReader
{
    public static ArchiveContents Read(IReadOnlyList<string> files, bool skipBad)
    {
        var records = new List<ArchiveRecord>();
        var skipped = new List<ArchiveFormatException>();
        foreach (string file in files)
        {
            using TextReader reader = ArchiveSources.Open(file);
            int lineNumber = 0;
            while (reader.ReadLine() is { } line)
            {
                lineNumber++;
                if (string.IsNullOrWhiteSpace(line))
                {
                    continue;
                }
                try
                {
                    records.Add(ArchiveLineParser.Parse(line, new ArchiveLocation(file, lineNumber)));
                }
                catch (ArchiveFormatException e) when (skipBad)
                {
                    skipped.Add(e);
                }
            }
        }
        // Rotated files may be named in any order; the plots want time order.
        return new ArchiveContents(records.OrderBy(r => r.Start).ToList(), skipped);
    }
}
