using Ippm.Wire;

namespace Ippm.Sessions.Twamp;

/// <summary>
/// One reflected packet as the Session-Sender saw it: T1 sent, T2 reflector received, T3 reflector sent, T4 received
/// back. <paramref name="ReflectorTos"/> is the TOS octet the reflector reports having received (RFC 7750; null when
/// not negotiated); <paramref name="BackwardTos"/> the one this host received the reply with (null when unknown).
/// </summary>
public readonly record struct TwampSample(
    uint SenderSequence,
    uint ReflectorSequence,
    NtpTimestamp T1,
    NtpTimestamp T2,
    NtpTimestamp T3,
    NtpTimestamp T4,
    ErrorEstimate SenderError,
    ErrorEstimate ReflectorError,
    byte? ForwardTtl,
    byte? BackwardTtl,
    byte? ReflectorTos = null,
    byte? BackwardTos = null);
