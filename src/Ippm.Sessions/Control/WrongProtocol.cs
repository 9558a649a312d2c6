using System.Net;
using Ippm.Wire;

namespace Ippm.Sessions.Control;

/// <summary>
/// Telling a TWAMP server from an OWAMP one. Their greetings look alike (RFC 4656 §3.1, RFC 5357 §3.1); what shows
/// is how each answers the other's session request: an OWAMP server knows no command 5 (Request-TW-Session) and
/// closes, or answers Accept=3; a TWAMP server closes on command 1 (Request-Session, forbidden by RFC 5357 §3.5) —
/// and only a TWAMP server offers mixed mode (RFC 5618, mode bit 8), so an OWAMP client knows it at the greeting.
/// </summary>
public static class WrongProtocol
{
    public static string NotTwamp(IPEndPoint server) =>
        $"the server at {server} does not speak TWAMP (it closed the connection on Request-TW-Session); is it an OWAMP server (port 861)?";

    public static string NotOwamp(IPEndPoint server) =>
        $"the server at {server} does not speak OWAMP (it closed the connection on Request-Session); is it a TWAMP server (port 862)?";

    public static string OffersMixed(IPEndPoint server) =>
        $"the server at {server} offers mixed mode, which only TWAMP has: it does not speak OWAMP; is it a TWAMP server (port 862)?";

    /// <summary>Request-TW-Session answered Accept=3 by a server that did not offer TWAMP-only mixed mode: it may be OWAMP.</summary>
    public static string MaybeNotTwamp(IPEndPoint server, AcceptCode accept, uint greetingModes) =>
        accept == AcceptCode.NotSupported && (greetingModes & (uint)SecurityMode.Mixed) == 0
            ? $" If the server at {server} is an OWAMP server (port 861), it does not speak TWAMP."
            : "";

    /// <summary>Whether a greeting shows a TWAMP server: mixed mode exists only in TWAMP.</summary>
    public static bool GreetingIsTwamp(uint greetingModes) => (greetingModes & (uint)SecurityMode.Mixed) != 0;
}
