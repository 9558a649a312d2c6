namespace Ippm.Statistics;

/// <summary>
/// Loss, duplicates and reordering of a stream of sequence numbers in arrival order (RFC 4737).
/// <para>
/// Duplicates are noted and dropped before anything else (RFC 4737 §3.3: only the first copy of a packet is
/// analysed), so a duplicate is never received twice, never reordered and never lost. A packet is
/// <em>reordered</em> when its number is below the next expected number, one more than the highest seen so
/// far (§3.3, Type-P-Reordered). <see cref="ReorderedRatio"/> is §4.1's ratio of reordered to received
/// packets; <see cref="MaxReorderingExtent"/> is §4.2's extent e = i − j, the distance in arrivals back to the
/// earliest packet with a larger number; <see cref="NReordered"/>[n − 1] counts the n-reordered packets of §5,
/// those whose n immediate predecessors in arrival order all carry larger numbers.
/// </para>
/// </summary>
public sealed record SequenceAnalysis(long Sent, long Received, long Lost, long Duplicates, long Reordered)
{
    /// <summary>Distinct packets that arrived (the L of RFC 4737 §4.1), including any numbered at or beyond <see cref="Sent"/>.</summary>
    public long Arrived { get; init; }

    /// <summary>RFC 4737 §4.2: the largest reordering extent of any reordered packet, 0 when none was reordered.</summary>
    public long MaxReorderingExtent { get; init; }

    /// <summary>RFC 4737 §5: element n − 1 is the number of n-reordered packets; empty when nothing was reordered.</summary>
    public IReadOnlyList<long> NReordered { get; init; } = [];

    public double LossRatio => Sent == 0 ? 0 : (double)Lost / Sent;

    /// <summary>RFC 4737 §4.1: reordered packets over distinct packets received; 0 when none arrived.</summary>
    public double ReorderedRatio => Arrived == 0 ? 0 : (double)Reordered / Arrived;

    public static SequenceAnalysis Analyze(long sent, IEnumerable<uint> arrivalOrder)
    {
        ArgumentNullException.ThrowIfNull(arrivalOrder);
        var seen = new HashSet<uint>();
        var unique = new List<uint>();
        long duplicates = 0;
        foreach (uint seq in arrivalOrder)
        {
            if (seen.Add(seq))
            {
                unique.Add(seq);
            }
            else
            {
                duplicates++;
            }
        }

        long reordered = 0;
        long maxExtent = 0;
        long nextExpected = 0;
        // prefixMax[i] is the largest number among the first i + 1 arrivals: non-decreasing, so the earliest
        // arrival larger than a given number is found by binary search (§4.2's j).
        var prefixMax = new uint[unique.Count];
        // Arrival indices with increasing numbers: on top, after popping the larger ones, is the latest
        // earlier arrival with a smaller number, so everything between is the run of larger predecessors (§5).
        var smallerBefore = new Stack<int>();
        var longestRun = new long[unique.Count + 1];
        for (int i = 0; i < unique.Count; i++)
        {
            uint seq = unique[i];
            prefixMax[i] = i == 0 ? seq : Math.Max(prefixMax[i - 1], seq);
            if (seq < nextExpected)
            {
                reordered++;
                int j = FirstAbove(prefixMax, i, seq);
                maxExtent = Math.Max(maxExtent, i - j);
            }
            else
            {
                nextExpected = (long)seq + 1;
            }

            while (smallerBefore.Count > 0 && unique[smallerBefore.Peek()] > seq)
            {
                smallerBefore.Pop();
            }
            int run = smallerBefore.Count == 0 ? i : i - smallerBefore.Peek() - 1;
            longestRun[run]++;
            smallerBefore.Push(i);
        }

        // A packet with a run of r larger predecessors is n-reordered for every n from 1 to r.
        int maxN = Array.FindLastIndex(longestRun, c => c > 0);
        var nReordered = new long[Math.Max(maxN, 0)];
        long atLeast = 0;
        for (int n = maxN; n >= 1; n--)
        {
            atLeast += longestRun[n];
            nReordered[n - 1] = atLeast;
        }

        long received = unique.Count(s => s < sent);
        return new SequenceAnalysis(sent, received, sent - received, duplicates, reordered)
        {
            Arrived = unique.Count,
            MaxReorderingExtent = maxExtent,
            NReordered = nReordered,
        };
    }

    /// <summary>The smallest index j &lt; <paramref name="before"/> with prefixMax[j] &gt; <paramref name="value"/>.</summary>
    private static int FirstAbove(uint[] prefixMax, int before, uint value)
    {
        int low = 0;
        int high = before;
        while (low < high)
        {
            int mid = (low + high) / 2;
            if (prefixMax[mid] > value)
            {
                high = mid;
            }
            else
            {
                low = mid + 1;
            }
        }
        return low;
    }
}
