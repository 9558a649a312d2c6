namespace Ippm.Tests.Vectors;

/// <summary>
/// The perfSONAR vectors directory: the first ancestor of the test binaries that holds <c>shared/vectors/perfsonar</c>
/// (the <c>shared</c> folder is a sibling of the repository). Fails the test, never skips, when absent. Linked into
/// Ippm.Tests too (its CLI tests read the same vectors).
/// </summary>
internal static class PerfsonarVectorsDirectory
{
    private static readonly Lazy<string> s_path = new(LocateDirectory);

    public static string Path => s_path.Value;

    private static string LocateDirectory()
    {
        string start = AppContext.BaseDirectory;
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            string candidate = System.IO.Path.Combine(dir.FullName, "shared", "vectors", "perfsonar");
            if (System.IO.Directory.Exists(candidate))
            {
                return candidate;
            }
        }
        Assert.Fail(
            $"Could not find 'shared/vectors/perfsonar' in any ancestor of '{start}'. The perfSONAR vectors are " +
            "expected in a 'shared' folder next to the repository (../shared relative to the repository root).");
        return string.Empty; // unreachable: Assert.Fail throws
    }
}
