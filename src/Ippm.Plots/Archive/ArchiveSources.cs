using System.IO.Compression;

namespace Ippm.Plots.Archive;

/// <summary>
/// The files named on the command line: plain paths, or shell-style patterns (<c>*</c>, <c>?</c> in the file name
/// part) for rotated archives a shell did not expand. Per-packet files (<c>*.packets.jsonl</c>) are never read as
/// archives even when a pattern matches them. Files ending in <c>.gz</c> are read through gzip.
/// </summary>
public static class ArchiveSources
{
    public const string PacketsSuffix = ".packets.jsonl";

    public static IReadOnlyList<string> Expand(IEnumerable<string> arguments)
    {
        var files = new List<string>();
        foreach (string argument in arguments)
        {
            string name = Path.GetFileName(argument);
            if (name.AsSpan().IndexOfAny('*', '?') < 0)
            {
                if (!File.Exists(argument))
                {
                    throw new FileNotFoundException($"{argument}: no such archive file", argument);
                }
                files.Add(argument);
                continue;
            }
            string directory = Path.GetDirectoryName(argument) is { Length: > 0 } d ? d : ".";
            string[] matches = Directory.Exists(directory)
                ? Directory.GetFiles(directory, name).Where(f => !IsPacketsFile(f)).Order(StringComparer.Ordinal).ToArray()
                : [];
            if (matches.Length == 0)
            {
                throw new FileNotFoundException($"{argument}: no archive file matches", argument);
            }
            files.AddRange(matches);
        }
        return files.Distinct(StringComparer.Ordinal).ToList();
    }

    public static bool IsPacketsFile(string path) =>
        path.EndsWith(PacketsSuffix, StringComparison.Ordinal) || path.EndsWith(PacketsSuffix + ".gz", StringComparison.Ordinal);

    /// <summary>
    /// The per-packet file beside an archive: <c>NAME.packets.jsonl</c> for <c>NAME.jsonl</c> (also for rotated
    /// <c>NAME.jsonl.1</c> or <c>NAME.jsonl.gz</c>, whose per-packet file is rotated alike when it exists).
    /// </summary>
    public static string? PacketsFileBeside(string archive)
    {
        string name = Path.GetFileName(archive);
        int jsonl = name.IndexOf(".jsonl", StringComparison.Ordinal);
        if (jsonl <= 0)
        {
            return null;
        }
        string directory = Path.GetDirectoryName(archive) ?? "";
        string rotated = Path.Combine(directory, name[..jsonl] + PacketsSuffix + name[(jsonl + ".jsonl".Length)..]);
        return File.Exists(rotated) ? rotated : null;
    }

    public static TextReader Open(string path)
    {
        Stream stream = File.OpenRead(path);
        if (path.EndsWith(".gz", StringComparison.Ordinal))
        {
            stream = new GZipStream(stream, CompressionMode.Decompress);
        }
        return new StreamReader(stream, System.Text.Encoding.UTF8);
    }
}
