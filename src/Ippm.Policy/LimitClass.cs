namespace Ippm.Policy;

/// <summary>
/// One <c>limit NAME with …</c> line of a perfSONAR limits file. Values a class does not set are inherited from its
/// parent, as owampd copies them at parse time; a limit of 0 means "unlimited by this class", and every check walks the
/// class and all its ancestors (owampd.limits(5): "checked all the way to the root of the hierarchy").
/// </summary>
public sealed class LimitClass
{
    internal LimitClass(string name, LimitClass? parent, int line)
    {
        Name = name;
        Parent = parent;
        Line = line;
    }

    public string Name { get; }

    public LimitClass? Parent { get; }

    /// <summary>Line of the limits file that defines the class.</summary>
    public int Line { get; }

    internal ulong? OwnBandwidth { get; set; }

    internal ulong? OwnDisk { get; set; }

    internal bool? OwnDeleteOnFetch { get; set; }

    internal bool? OwnAllowOpenMode { get; set; }

    internal ulong? OwnTestSessions { get; set; }

    /// <summary>Bits per second all concurrent tests of the class may use; 0 = unlimited here.</summary>
    public ulong Bandwidth => OwnBandwidth ?? Parent?.Bandwidth ?? 0;

    /// <summary>Octets of stored OWAMP data one test of the class may need; 0 = unlimited here.</summary>
    public ulong Disk => OwnDisk ?? Parent?.Disk ?? 0;

    public bool DeleteOnFetch => OwnDeleteOnFetch ?? Parent?.DeleteOnFetch ?? false;

    public bool AllowOpenMode => OwnAllowOpenMode ?? Parent?.AllowOpenMode ?? true;

    /// <summary>Test sessions per control connection; 0 = unlimited here.</summary>
    public ulong TestSessions => OwnTestSessions ?? Parent?.TestSessions ?? 0;

    /// <summary>The class, then its parent, up to the root.</summary>
    public IEnumerable<LimitClass> SelfAndAncestors()
    {
        for (LimitClass? c = this; c is not null; c = c.Parent)
        {
            yield return c;
        }
    }

    public override string ToString() => Name;
}
