namespace Ippm.Statistics.Tests;

/// <summary>
/// RFC 4737 worked through by hand on short streams (arrival order, 0-based numbers as OWAMP/TWAMP use). The
/// expected figures follow the RFC's definitions: §3.3 reordered singleton (NextExp), §4.1 ratio, §4.2
/// extent e = i − j with j the earliest arrival carrying a larger number, §5 n-reordering (the n arrivals just
/// before carry larger numbers); duplicates are dropped first (§3.3).
/// </summary>
public sealed class ReorderingTests
{
    [Fact]
    public void InOrder_NothingReordered()
    {
        SequenceAnalysis a = SequenceAnalysis.Analyze(5, [0, 1, 2, 3, 4]);
        Assert.Equal((5L, 0L, 0L, 0L), (a.Received, a.Lost, a.Duplicates, a.Reordered));
        Assert.Equal(0, a.MaxReorderingExtent);
        Assert.Empty(a.NReordered);
        Assert.Equal(0, a.ReorderedRatio);
    }

    [Fact]
    public void OneLatePacket_AfterFourLargerOnes_ExtentFourAndFourReordered()
    {
        // 0 1 2 4 5 6 7 3 8 9: packet 3 arrives at index 7; the earliest larger one (4) arrived at index 3.
        SequenceAnalysis a = SequenceAnalysis.Analyze(10, [0, 1, 2, 4, 5, 6, 7, 3, 8, 9]);
        Assert.Equal(1, a.Reordered);
        Assert.Equal(4, a.MaxReorderingExtent);
        Assert.Equal([1L, 1L, 1L, 1L], a.NReordered); // 1-, 2-, 3- and 4-reordered, not 5-reordered
        Assert.Equal(0.1, a.ReorderedRatio, 12);
        Assert.Equal(0, a.Lost);
    }

    [Fact]
    public void EarlyPacket_MakesTheOthersReordered_NotItself()
    {
        // 4 arrives first: NextExp jumps to 5, so 0..3 are all reordered (§3.3's well-known property).
        SequenceAnalysis a = SequenceAnalysis.Analyze(5, [4, 0, 1, 2, 3]);
        Assert.Equal(4, a.Reordered);
        Assert.Equal(4, a.MaxReorderingExtent); // packet 3 at index 4, the 4 at index 0
        // §5 sees it differently: only 0 has a larger immediate predecessor; 1, 2 and 3 follow smaller ones,
        // so they are reordered (§3.3) yet not n-reordered for any n.
        Assert.Equal([1L], a.NReordered);
        Assert.Equal(0.8, a.ReorderedRatio, 12);
    }

    [Fact]
    public void Swaps_ExtentOneEach()
    {
        SequenceAnalysis a = SequenceAnalysis.Analyze(6, [1, 0, 3, 2, 5, 4]);
        Assert.Equal(3, a.Reordered);
        Assert.Equal(1, a.MaxReorderingExtent);
        Assert.Equal([3L], a.NReordered);
    }

    [Fact]
    public void ReversedStream_ExtentAndNGrowWithPosition()
    {
        // 3 2 1 0: packet 2 at index 1 (extent 1, 1-reordered), 1 at index 2 (extent 2, 2-reordered), 0 at 3.
        SequenceAnalysis a = SequenceAnalysis.Analyze(4, [3, 2, 1, 0]);
        Assert.Equal(3, a.Reordered);
        Assert.Equal(3, a.MaxReorderingExtent);
        Assert.Equal([3L, 2L, 1L], a.NReordered);
    }

    [Fact]
    public void NReordering_NeedsTheRunOfLargerPredecessorsUnbroken()
    {
        // 0 5 1 6 2: packet 2 is preceded by 6 (larger) then 1 (smaller): 1-reordered only, but its extent
        // reaches back to 5 at index 1 → e = 3.
        SequenceAnalysis a = SequenceAnalysis.Analyze(7, [0, 5, 1, 6, 2]);
        Assert.Equal(2, a.Reordered);          // 1 and 2
        Assert.Equal(3, a.MaxReorderingExtent);
        Assert.Equal([2L], a.NReordered);
        Assert.Equal((5L, 2L), (a.Received, a.Lost)); // 3 and 4 never came
    }

    [Fact]
    public void Duplicates_AreDroppedBeforeReorderingAndNeverReceivedTwice()
    {
        // RFC 4737 §3.3 / RFC 5560: only the first copy counts; the late second copy of 1 is not "reordered".
        SequenceAnalysis a = SequenceAnalysis.Analyze(4, [0, 1, 2, 1, 3, 3, 0]);
        Assert.Equal(3, a.Duplicates);
        Assert.Equal(4, a.Received);
        Assert.Equal(0, a.Lost);
        Assert.Equal(0, a.Reordered);
        Assert.Empty(a.NReordered);
        Assert.Equal(4, a.Arrived);
    }

    [Fact]
    public void NumbersBeyondSent_ArriveButAreNotReceivedOnesOfThisSession()
    {
        SequenceAnalysis a = SequenceAnalysis.Analyze(2, [0, 7, 1]);
        Assert.Equal((2L, 0L, 3L), (a.Received, a.Lost, a.Arrived));
        Assert.Equal(1, a.Reordered);
    }

    [Fact]
    public void Loss_IsSentLessDistinctReceived_AndRatioIsOverSent()
    {
        SequenceAnalysis a = SequenceAnalysis.Analyze(8, [0, 2, 3, 7]);
        Assert.Equal((4L, 4L), (a.Received, a.Lost));
        Assert.Equal(0.5, a.LossRatio, 12);
        Assert.Equal(0, SequenceAnalysis.Analyze(0, []).LossRatio);
        Assert.Equal(1.0, SequenceAnalysis.Analyze(3, []).LossRatio);
    }
}
