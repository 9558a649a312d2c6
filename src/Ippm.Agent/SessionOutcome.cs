namespace Ippm.Agent;

/// <summary>How one attempt at a session ended: the archive's <c>outcome</c> member and the metrics' <c>outcome</c> label.</summary>
public enum SessionOutcome
{
    /// <summary>Measured to the end.</summary>
    Ok,

    /// <summary>The server said no: Server-Greeting Modes = 0, Accept ≠ 0 at Server-Start or Request-Session, no common mode, a wrong key.</summary>
    Refused,

    /// <summary>No control connection: the name does not resolve, the port is closed, no route.</summary>
    Unreachable,

    /// <summary>The server accepted the connection but did not answer within the connect or reply timeout.</summary>
    Timeout,

    /// <summary>The server answered with something that is not the protocol (garbage, a bad HMAC, the other protocol, a close mid-exchange).</summary>
    ProtocolError,

    /// <summary>The session was cut short: the agent stopped or the test was removed, or the server ended it (restart); figures cover what was sent.</summary>
    Interrupted,

    /// <summary>Anything else (a local socket failure, an archive that cannot be written is logged, not recorded here).</summary>
    Error,
}

public static class SessionOutcomeLabels
{
    public static string Label(this SessionOutcome outcome) => outcome switch
    {
        SessionOutcome.Ok => "ok",
        SessionOutcome.Refused => "refused",
        SessionOutcome.Unreachable => "unreachable",
        SessionOutcome.Timeout => "timeout",
        SessionOutcome.ProtocolError => "protocol_error",
        SessionOutcome.Interrupted => "interrupted",
        _ => "error",
    };
}
