using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Ippm.Cli;

internal static class EndpointParser
{
    /// <summary>Splits <c>HOST[:PORT]</c>, <c>[V6]:PORT</c> or a bare IPv6 address.</summary>
    public static bool TrySplit(string text, int defaultPort, out string host, out int port) =>
        TrySplit(text, defaultPort, lowestPort: 1, out host, out port);

    private static bool TrySplit(string text, int defaultPort, int lowestPort, out string host, out int port)
    {
        host = text;
        port = defaultPort;
        if (text.StartsWith('['))
        {
            int close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                return false;
            }
            host = text[1..close];
            string rest = text[(close + 1)..];
            return rest.Length == 0 || (rest[0] == ':' && TryPort(rest[1..], lowestPort, out port));
        }
        int colon = text.LastIndexOf(':');
        if (colon > 0 && text.IndexOf(':', StringComparison.Ordinal) == colon)
        {
            host = text[..colon];
            return TryPort(text[(colon + 1)..], lowestPort, out port);
        }
        return host.Length > 0;
    }

    private static bool TryPort(string text, int lowestPort, out int port) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port >= lowestPort && port <= 65535;

    public static Task<IPEndPoint> ResolveAsync(string text, int defaultPort, CancellationToken cancellationToken) =>
        ResolveAsync(text, defaultPort, null, cancellationToken);

    /// <param name="family">-4 / -6: only addresses of this family; null prefers IPv4, as before.</param>
    public static async Task<IPEndPoint> ResolveAsync(string text, int defaultPort, AddressFamily? family, CancellationToken cancellationToken)
    {
        if (!TrySplit(text, defaultPort, out string host, out int port))
        {
            throw new FormatException($"'{text}' is not HOST[:PORT].");
        }
        if (IPAddress.TryParse(host, out IPAddress? address))
        {
            if (family is { } f && address.AddressFamily != f)
            {
                throw new FormatException($"{host} is not an {(f == AddressFamily.InterNetwork ? "IPv4" : "IPv6")} address, as {(f == AddressFamily.InterNetwork ? "-4 (or an IPv4 -S)" : "-6 (or an IPv6 -S)")} asks.");
            }
            return new IPEndPoint(address, port);
        }
        IPAddress[] addresses = await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        IPAddress? chosen = family is { } only
            ? addresses.FirstOrDefault(a => a.AddressFamily == only)
            : addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses.FirstOrDefault();
        if (chosen is null && family is { } wanted && addresses.Length > 0)
        {
            string name = wanted == AddressFamily.InterNetwork ? "IPv4" : "IPv6";
            throw new FormatException($"{host} has no {name} address (only {(wanted == AddressFamily.InterNetwork ? "IPv6" : "IPv4")}), as {(wanted == AddressFamily.InterNetwork ? "-4 (or an IPv4 -S)" : "-6 (or an IPv6 -S)")} asks.");
        }
        return chosen is null ? throw new SocketException((int)SocketError.HostNotFound) : new IPEndPoint(chosen, port);
    }

    /// <summary>
    /// A listen address: <c>ADDR:PORT</c>, <c>[V6]:PORT</c> or <c>:PORT</c> for all IPv4 and IPv6 addresses. Port 0 asks
    /// the system for a free port; each listener logs the address and port it bound.
    /// </summary>
    public static bool TryParseListen(string text, int defaultPort, out IPEndPoint? endPoint)
    {
        endPoint = null;
        if (text.StartsWith(':') && TryPort(text[1..], lowestPort: 0, out int anyPort))
        {
            endPoint = new IPEndPoint(IPAddress.IPv6Any, anyPort);
            return true;
        }
        if (!TrySplit(text, defaultPort, lowestPort: 0, out string host, out int port) || !IPAddress.TryParse(host, out IPAddress? address))
        {
            return false;
        }
        endPoint = new IPEndPoint(address, port);
        return true;
    }

    /// <summary>True when <paramref name="text"/> is a listen address with port 0 (the system picks the port).</summary>
    public static bool AsksForAnyPort(string? text) => text is not null && TryParseListen(text, 1, out IPEndPoint? endPoint) && endPoint!.Port == 0;
}
