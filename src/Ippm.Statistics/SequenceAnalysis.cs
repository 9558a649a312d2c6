namespace Ippm.Statistics;

/// <summary>
/// Loss, duplicates and reordering of a stream of sequence numbers in arrival order.
/// Reordering follows RFC 4737 §3.3: a packet is reordered when its number is below the next expected
/// number (one more than the highest seen so far). Duplicates are not counted as reordered.
/// </summary>
public sealed record SequenceAnalysis(long Sent, long Received, long Lost, long Duplicates, long Reordered)
{
    public double LossRatio => Sent == 0 ? 0 : (double)Lost / Sent;

    public static SequenceAnalysis Analyze(long sent, IEnumerable<uint> arrivalOrder)
    {
        var seen = new HashSet<uint>();
        long duplicates = 0;
        long reordered = 0;
        long nextExpected = 0;
        foreach (uint seq in arrivalOrder)
        {
            if (!seen.Add(seq))
            {
                duplicates++;
                continue;
            }
            if (seq < nextExpected)
            {
                reordered++;
            }
            else
            {
                nextExpected = (long)seq + 1;
            }
        }
        long received = seen.Count(s => s < sent);
        return new SequenceAnalysis(sent, received, sent - received, duplicates, reordered);
    }
}
