namespace Ippm.Policy;

/// <summary>The checks that need no shared state: per-connection session count and the stored-data estimate.</summary>
public static class ClassDecisions
{
    /// <summary>test_sessions: sessions one control connection may request, checked up to the root.</summary>
    public static PolicyRefusal? CheckTestSessions(LimitClass limitClass, int sessionsAlready)
    {
        foreach (LimitClass c in limitClass.SelfAndAncestors())
        {
            if (c.TestSessions != 0 && (ulong)sessionsAlready + 1 > c.TestSessions)
            {
                return new PolicyRefusal(c.Name, "test_sessions", $"already {sessionsAlready} session(s) on this connection, limit {c.TestSessions}");
            }
        }
        return null;
    }

    /// <summary>disk: the estimated size of the stored session (a soft limit, as owampd checks it at request time).</summary>
    public static PolicyRefusal? CheckDisk(LimitClass limitClass, ulong estimatedOctets)
    {
        foreach (LimitClass c in limitClass.SelfAndAncestors())
        {
            if (c.Disk != 0 && estimatedOctets > c.Disk)
            {
                return new PolicyRefusal(c.Name, "disk", $"the session would store about {estimatedOctets} octets, limit {c.Disk}");
            }
        }
        return null;
    }

    /// <summary>allow_open_mode: only the class itself decides (owampd reads the value the class has or inherits).</summary>
    public static PolicyRefusal? CheckOpenMode(LimitClass limitClass) =>
        limitClass.AllowOpenMode ? null : new PolicyRefusal(limitClass.Name, "allow_open_mode", "open mode is off for this class");
}
