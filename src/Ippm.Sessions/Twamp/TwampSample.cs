using Ippm.Wire;

namespace Ippm.Sessions.Twamp;

/// <summary>One reflected packet as the Session-Sender saw it: T1 sent, T2 reflector received, T3 reflector sent, T4 received back.</summary>
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
    byte? BackwardTtl);
