namespace Ippm.Policy;

/// <summary>
/// The bandwidth a test asks for, as owampd computes it (OWPTestPacketBandwidth): the packet on the wire (IP and UDP
/// headers, test header, padding) × 8 × the mean packet rate of the schedule (slots ÷ the sum of their mean intervals).
/// </summary>
public static class TestBandwidth
{
    public const int Ipv4Header = 20;
    public const int Ipv6Header = 40;
    public const int UdpHeader = 8;

    /// <param name="packetOctets">UDP payload octets of one test packet.</param>
    /// <param name="ipv6">True when the test runs over IPv6.</param>
    /// <param name="slotMeanSeconds">Mean interval of each schedule slot (the parameter of fixed and exponential slots).</param>
    public static ulong BitsPerSecond(int packetOctets, bool ipv6, ReadOnlySpan<double> slotMeanSeconds)
    {
        double total = 0;
        foreach (double seconds in slotMeanSeconds)
        {
            total += seconds;
        }
        if (slotMeanSeconds.Length == 0)
        {
            return 0;
        }
        if (total <= 0)
        {
            return ulong.MaxValue;
        }
        double bits = (packetOctets + (ipv6 ? Ipv6Header : Ipv4Header) + UdpHeader) * 8.0 * slotMeanSeconds.Length / total;
        return bits >= ulong.MaxValue ? ulong.MaxValue : (ulong)Math.Ceiling(bits);
    }

    /// <summary>"1.5 Mbit/s" style for log lines.</summary>
    public static string Describe(ulong bitsPerSecond) => bitsPerSecond switch
    {
        >= 1_000_000_000 => $"{bitsPerSecond / 1e9:0.###} Gbit/s",
        >= 1_000_000 => $"{bitsPerSecond / 1e6:0.###} Mbit/s",
        >= 1_000 => $"{bitsPerSecond / 1e3:0.###} kbit/s",
        _ => $"{bitsPerSecond} bit/s",
    };
}
