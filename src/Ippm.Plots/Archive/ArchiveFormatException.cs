namespace Ippm.Plots.Archive;

/// <summary>A line of an archive (or a per-packet file) that is not what format version 1 says.</summary>
public sealed class ArchiveFormatException : Exception
{
    public ArchiveFormatException(ArchiveLocation location, string reason)
        : base($"{location}: {reason}")
    {
        Location = location;
        Reason = reason;
    }

    public ArchiveLocation Location { get; }

    public string Reason { get; }
}
