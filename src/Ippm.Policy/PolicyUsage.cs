namespace Ippm.Policy;

/// <summary>
/// What the running tests of each class use, keyed by class name so that it survives a reload: a session keeps the
/// reservation it was admitted with (against the policy it started under), and new sessions after a reload are counted
/// against the same names. Bandwidth is charged to the class and every ancestor, and each is checked against its own
/// limit, as owampd does.
/// </summary>
public sealed class PolicyUsage
{
    private readonly Dictionary<string, ulong> _bandwidth = new(StringComparer.Ordinal);

    /// <summary>Bits per second in use by running tests of the class and its descendants.</summary>
    public ulong BandwidthInUse(string className)
    {
        lock (_bandwidth)
        {
            return _bandwidth.GetValueOrDefault(className);
        }
    }

    /// <summary>Reserves <paramref name="bitsPerSecond"/> in the class and all its ancestors, or names the class whose limit refuses it.</summary>
    public BandwidthReservation? TryReserve(LimitClass limitClass, ulong bitsPerSecond, out PolicyRefusal? refusal)
    {
        refusal = null;
        lock (_bandwidth)
        {
            foreach (LimitClass c in limitClass.SelfAndAncestors())
            {
                ulong limit = c.Bandwidth;
                if (limit == 0)
                {
                    continue;
                }
                ulong used = _bandwidth.GetValueOrDefault(c.Name);
                if (bitsPerSecond > limit || used > limit - bitsPerSecond)
                {
                    refusal = new PolicyRefusal(c.Name, "bandwidth",
                        $"the test needs {TestBandwidth.Describe(bitsPerSecond)}, {TestBandwidth.Describe(used)} of {TestBandwidth.Describe(limit)} in use");
                    return null;
                }
            }
            string[] charged = [.. limitClass.SelfAndAncestors().Select(c => c.Name)];
            foreach (string name in charged)
            {
                _bandwidth[name] = _bandwidth.GetValueOrDefault(name) + bitsPerSecond;
            }
            return new BandwidthReservation(this, charged, bitsPerSecond);
        }
    }

    internal void Release(string[] charged, ulong bitsPerSecond)
    {
        lock (_bandwidth)
        {
            foreach (string name in charged)
            {
                ulong left = _bandwidth.GetValueOrDefault(name) - bitsPerSecond;
                if (left == 0)
                {
                    _bandwidth.Remove(name);
                }
                else
                {
                    _bandwidth[name] = left;
                }
            }
        }
    }
}

/// <summary>Bandwidth held by one admitted session until it ends; disposing twice releases once.</summary>
public sealed class BandwidthReservation : IDisposable
{
    private readonly PolicyUsage _usage;
    private readonly string[] _charged;
    private int _released;

    internal BandwidthReservation(PolicyUsage usage, string[] charged, ulong bitsPerSecond)
    {
        _usage = usage;
        _charged = charged;
        BitsPerSecond = bitsPerSecond;
    }

    public ulong BitsPerSecond { get; }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            _usage.Release(_charged, BitsPerSecond);
        }
    }
}
