using Ippm.Policy;
using Ippm.Wire;

namespace Ippm.Sessions.Server;

/// <summary>The perfSONAR limits policy of the server (what a class may do), beside the server-wide limits.</summary>
public sealed partial class ServerOptions
{
    private LimitsFile _owampPolicy = LimitsFile.Unlimited;
    private LimitsFile _twampPolicy = LimitsFile.Unlimited;

    /// <summary>Sets the limits of both protocols (<c>--limits</c>).</summary>
    public LimitsFile Policy
    {
        set
        {
            OwampPolicy = value;
            TwampPolicy = value;
        }
    }

    /// <summary>
    /// The OWAMP limits in force (owampd.limits). A reload swaps it whole; each control connection reads it once when it
    /// opens and keeps that policy (and its class) for its whole life, so running sessions continue under the policy
    /// they started with.
    /// </summary>
    public LimitsFile OwampPolicy
    {
        get => Volatile.Read(ref _owampPolicy);
        set => Volatile.Write(ref _owampPolicy, value ?? throw new ArgumentNullException(nameof(value)));
    }

    /// <summary>The TWAMP limits in force (twampd.limits); see <see cref="OwampPolicy"/>.</summary>
    public LimitsFile TwampPolicy
    {
        get => Volatile.Read(ref _twampPolicy);
        set => Volatile.Write(ref _twampPolicy, value ?? throw new ArgumentNullException(nameof(value)));
    }

    public LimitsFile PolicyFor(ControlProtocol protocol) => protocol == ControlProtocol.Twamp ? TwampPolicy : OwampPolicy;

    /// <summary>Bandwidth in use per class, kept across reloads.</summary>
    public PolicyUsage PolicyUsage { get; } = new();
}
