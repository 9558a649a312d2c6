using System.Globalization;

namespace Ippm.Sessions.Server;

/// <summary>An inclusive UDP port range for test sessions (owampd/twampd's <c>testports</c>).</summary>
public readonly record struct PortRange(ushort Low, ushort High)
{
    /// <summary>
    /// 61000–65535: inside the IANA dynamic range (49152–65535, RFC 6335 §6) and above Linux's default ephemeral
    /// range (32768–60999), so test sockets neither sit on service ports nor compete with outgoing connections.
    /// </summary>
    public static PortRange DefaultTestPorts { get; } = new(61000, 65535);

    public int Count => High - Low + 1;

    public bool Contains(int port) => port >= Low && port <= High;

    /// <summary>Parses <c>LOW-HIGH</c> or a single port.</summary>
    public static bool TryParse(string text, out PortRange range)
    {
        range = default;
        string[] parts = text.Split('-', 2, StringSplitOptions.TrimEntries);
        if (!ushort.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out ushort low))
        {
            return false;
        }
        ushort high = low;
        if (parts.Length == 2 && !ushort.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out high))
        {
            return false;
        }
        if (low == 0 || high < low)
        {
            return false;
        }
        range = new PortRange(low, high);
        return true;
    }

    public override string ToString() => $"{Low}-{High}";
}
