using Ippm.Wire;

namespace Ippm.Sessions.Control;

/// <summary>
/// The peer broke the control protocol (bad HMAC, malformed or unexpected message, refusal).
/// The connection cannot continue; <see cref="Accept"/> carries the protocol's code where one applies.
/// </summary>
public sealed class ControlProtocolException : Exception
{
    public ControlProtocolException(string message, AcceptCode? accept = null)
        : base(message) => Accept = accept;

    public ControlProtocolException(string message, Exception inner)
        : base(message, inner)
    {
    }

    public ControlProtocolException()
    {
    }

    public AcceptCode? Accept { get; }
}
