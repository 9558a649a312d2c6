using Ippm.Policy;

namespace Ippm.Sessions.Server;

/// <summary>The perfSONAR limits policy of the server (what a class may do), beside the server-wide limits.</summary>
public sealed partial class ServerOptions
{
    private LimitsFile _policy = LimitsFile.Unlimited;

    /// <summary>
    /// The limits file in force. A reload swaps it whole; each control connection reads it once when it opens and keeps
    /// that policy (and its class) for its whole life, so running sessions continue under the policy they started with.
    /// </summary>
    public LimitsFile Policy
    {
        get => Volatile.Read(ref _policy);
        set => Volatile.Write(ref _policy, value ?? throw new ArgumentNullException(nameof(value)));
    }

    /// <summary>Bandwidth in use per class, kept across reloads.</summary>
    public PolicyUsage PolicyUsage { get; } = new();
}
