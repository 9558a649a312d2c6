using Ippm.Sessions.Bench;

namespace Ippm.Tests.Bench;

/// <summary>The interleaved-round figures of <c>ippm bench reflector</c>, against values worked out by hand.</summary>
public sealed class InterleavedRoundsTests
{
    [Fact]
    public void Summarize_PairsEachReflectorRoundWithTheFloorsAroundIt()
    {
        // F 100 | R 90 | F 200 | R 150 | F 100 | R 40 | F 100: the floor doubled during rounds 0–1.
        InterleavedRounds rounds = InterleavedRounds.Summarize([100, 200, 100, 100], [90, 150, 40]);

        // 90 / 150, 150 / 150, 40 / 100
        Assert.Equal([0.6, 1.0, 0.4], rounds.Ratios.Select(r => Math.Round(r, 12)));
        Assert.Equal(0.6, rounds.Ratio.Median, 12);
        Assert.Equal(0.4, rounds.Ratio.Min, 12);
        Assert.Equal(1.0, rounds.Ratio.Max, 12);
        Assert.Equal(0.5, rounds.Ratio.P25, 12); // halfway between 0.4 and 0.6
        Assert.Equal(0.8, rounds.Ratio.P75, 12);
        Assert.Equal(100, rounds.Floor.Median); // 100 100 100 200 → (100 + 100) / 2
        Assert.Equal(1.0, rounds.FloorRelativeSpread, 12); // (200 − 100) / 100
        Assert.False(rounds.FloorConsistent);
    }

    [Fact]
    public void Summarize_SteadyFloor_IsConsistent()
    {
        InterleavedRounds rounds = InterleavedRounds.Summarize([400, 440, 420], [300, 330]);

        Assert.True(rounds.FloorConsistent); // (440 − 400) / 420 ≈ 0.095
        Assert.Equal(300 / 420.0, rounds.Ratios[0], 12);
        Assert.Equal(330 / 430.0, rounds.Ratios[1], 12);
        Assert.Equal(((300 / 420.0) + (330 / 430.0)) / 2, rounds.Ratio.Median, 12);
    }

    [Fact]
    public void Summarize_WrongRoundCounts_Throws()
    {
        Assert.Throws<ArgumentException>(() => InterleavedRounds.Summarize([1, 2], [1, 2]));
        Assert.Throws<ArgumentException>(() => InterleavedRounds.Summarize([1], []));
    }
}
