using Ippm.Wire;

namespace Ippm.Tests.Wire;

public sealed class ErrorEstimateTests
{
    private const double Unit = 1.0 / 4_294_967_296.0; // 2^-32 s

    [Fact]
    public void ErrorEstimate_0x0001_IsScale0Multiplier1Unsynchronised()
    {
        // what the reference sends without an estimate (test §1.2), seen in every capture
        var e = new ErrorEstimate(0x0001);

        Assert.Equal(0, e.Scale);
        Assert.Equal(1, e.Multiplier);
        Assert.False(e.IsSynchronized);
        Assert.False(e.IsPtpFormat);
        Assert.True(e.IsValid);
        Assert.Equal(Unit, e.Seconds);
    }

    [Fact]
    public void ErrorEstimate_SBit_MeansSynchronised()
    {
        var e = new ErrorEstimate(0x8001);

        Assert.True(e.IsSynchronized);
        Assert.Equal(0, e.Scale);
        Assert.Equal(1, e.Multiplier);
    }

    [Fact]
    public void ErrorEstimate_ZBit_IsNotPartOfScale()
    {
        var e = new ErrorEstimate(0x4000 | 0x0500 | 0x20);

        Assert.True(e.IsPtpFormat);
        Assert.False(e.IsSynchronized);
        Assert.Equal(5, e.Scale);
        Assert.Equal(0x20, e.Multiplier);
        Assert.Equal(32 * Math.Pow(2, 5 - 32), e.Seconds);
    }

    [Fact]
    public void ErrorEstimate_MaximumScaleAndMultiplier_Decodes()
    {
        var e = new ErrorEstimate(0xBFFF); // S=1, Z=0, Scale=63, Multiplier=255

        Assert.True(e.IsSynchronized);
        Assert.False(e.IsPtpFormat);
        Assert.Equal(63, e.Scale);
        Assert.Equal(255, e.Multiplier);
        Assert.Equal(255 * Math.Pow(2, 31), e.Seconds);
    }

    [Fact]
    public void ErrorEstimate_ZeroMultiplier_IsInvalid()
    {
        var e = new ErrorEstimate(0x8100);

        Assert.False(e.IsValid);
        Assert.True(double.IsNaN(e.Seconds));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1e-10)]
    [InlineData(2.3283064365386963e-10)] // exactly 2^-32
    [InlineData(1e-9)]
    [InlineData(59.3e-9)] // 255 units is the largest value at scale 0
    [InlineData(1e-6)]
    [InlineData(1.5e-5)]
    [InlineData(0.001)]
    [InlineData(0.1)]
    [InlineData(0.5)]
    [InlineData(1.0)]
    [InlineData(3.7)]
    [InlineData(1000.0)]
    [InlineData(1e9)]
    public void ErrorEstimate_FromSeconds_NeverClaimsLessThanTheInput(double seconds)
    {
        foreach (bool synchronized in new[] { false, true })
        {
            ErrorEstimate e = ErrorEstimate.FromSeconds(seconds, synchronized);

            Assert.True(e.IsValid);
            Assert.Equal(synchronized, e.IsSynchronized);
            Assert.False(e.IsPtpFormat);
            Assert.True(e.Seconds >= seconds, $"{seconds} s encoded as {e} claims only {e.Seconds} s");
            // and it is not wildly pessimistic: within 1/127 plus one unit of rounding
            Assert.True(e.Seconds <= (seconds * (1 + (1.0 / 127))) + (2 * Unit), $"{seconds} s encoded as {e} claims {e.Seconds} s");
        }
    }

    [Fact]
    public void ErrorEstimate_FromSecondsTenthOfASecond_MatchesReferenceEncoder()
    {
        // reference (test §1.2): e = 0.1·2^32 = 429496729.6; shift right until < 0xFF (21 times → 204); multiplier = e + 1
        ErrorEstimate e = ErrorEstimate.FromSeconds(0.1, synchronized: true);

        Assert.Equal(21, e.Scale);
        Assert.Equal(205, e.Multiplier);
        Assert.Equal((ushort)0x95CD, e.Value);
        Assert.Equal(ErrorEstimate.FromSeconds(0, false), new ErrorEstimate(0x0001));
    }

    [Fact]
    public void ErrorEstimate_WriteRead_IsBigEndian()
    {
        var e = new ErrorEstimate(0x8001);
        byte[] bytes = new byte[ErrorEstimate.Size];

        e.Write(bytes);

        Assert.Equal("8001", Convert.ToHexStringLower(bytes));
        Assert.Equal(e, ErrorEstimate.Read(bytes));
    }

    [Fact]
    public void FromSeconds_NaN_ClaimsTheLargestErrorNotTheSmallest()
    {
        ErrorEstimate e = ErrorEstimate.FromSeconds(double.NaN, synchronized: false);

        Assert.True(e.IsValid);
        Assert.True(e.Seconds > 1e9, $"NaN encoded as {e}");
    }
}
