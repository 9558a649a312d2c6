namespace Ippm.Wire;

/// <summary>The Accept field of Server-Start, Accept-Session, Start-Ack, Stop-Sessions and Fetch-Ack (RFC 4656 §3.3).</summary>
public enum AcceptCode : byte
{
    Ok = 0,
    Failure = 1,
    InternalError = 2,
    NotSupported = 3,
    PermanentResourceLimitation = 4,
    TemporaryResourceLimitation = 5,

    /// <summary>RFC 7717 §5.2: no IKEv2 SA matches the SPIs in the KeyID (Server-Start only).</summary>
    NoMatchingIkeSa = 6,
}

/// <summary>Command numbers of the first octet of a control command.</summary>
public enum CommandNumber : byte
{
    /// <summary>OWAMP Request-Session (RFC 4656 §3.5); forbidden in TWAMP.</summary>
    RequestSession = 1,
    StartSessions = 2,
    StopSessions = 3,

    /// <summary>OWAMP Fetch-Session (RFC 4656 §3.8).</summary>
    FetchSession = 4,

    /// <summary>TWAMP Request-TW-Session (RFC 5357 §3.5).</summary>
    RequestTwSession = 5,

    /// <summary>TWAMP Start-N-Sessions (RFC 5938 §3.2), when Individual Session Control was negotiated.</summary>
    StartNSessions = 7,

    /// <summary>TWAMP Start-N-Ack (RFC 5938 §3.3), server to client.</summary>
    StartNAck = 8,

    /// <summary>TWAMP Stop-N-Sessions (RFC 5938 §3.4).</summary>
    StopNSessions = 9,

    /// <summary>TWAMP Stop-N-Ack (RFC 5938 §3.5), server to client.</summary>
    StopNAck = 10,
}
