namespace Ippm.Sessions.Fairness;

/// <summary>
/// The <c>reason</c> label of <c>ippm.policy.refusals</c> for a refusal by a share of the server (not by the limits
/// file): named after the <c>ippm server</c> flag that set the limit, without <c>--max-</c>. A fixed set, so the label
/// stays bounded; the source address is in the log line, never in the metric.
/// </summary>
public static class ShareRefusal
{
    /// <summary>--max-connections: Server-Greeting with Modes = 0.</summary>
    public const string Connections = "connections";

    /// <summary>--max-connections-per-source: Server-Greeting with Modes = 0.</summary>
    public const string ConnectionsPerSource = "connections_per_source";

    /// <summary>--max-sessions-per-source: Accept = 5.</summary>
    public const string SessionsPerSource = "sessions_per_source";

    /// <summary>--max-memory-per-source (TWAMP reflector buffers): Accept = 5.</summary>
    public const string MemoryPerSource = "memory_per_source";

    /// <summary>--max-scheduled-packets-per-source (OWAMP, per address or identity): Accept = 5.</summary>
    public const string ScheduledPacketsPerSource = "scheduled_packets_per_source";

    /// <summary>--max-scheduled-packets (OWAMP, the whole server): Accept = 5.</summary>
    public const string ScheduledPackets = "scheduled_packets";
}
