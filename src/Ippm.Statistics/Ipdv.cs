namespace Ippm.Statistics;

/// <summary>
/// IP Packet Delay Variation (RFC 3393; the "IPDV" form of RFC 5481 §1.2): for each pair of consecutive
/// sequence numbers that both arrived, the difference of their delays.
/// </summary>
public static class Ipdv
{
    public static List<double> Compute(IReadOnlyDictionary<uint, double> delayBySequence)
    {
        var result = new List<double>();
        foreach ((uint seq, double delay) in delayBySequence.OrderBy(p => p.Key))
        {
            if (seq > 0 && delayBySequence.TryGetValue(seq - 1, out double previous))
            {
                result.Add(delay - previous);
            }
        }
        return result;
    }
}
