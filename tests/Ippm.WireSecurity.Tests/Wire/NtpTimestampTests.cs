using Ippm.Wire;

namespace Ippm.Tests.Wire;

public sealed class NtpTimestampTests
{
    [Fact]
    public void NtpTimestamp_UnixEpoch_Is2208988800Seconds()
    {
        NtpTimestamp fromNanos = NtpTimestamp.FromUnixNanoseconds(0);
        NtpTimestamp fromDate = NtpTimestamp.FromDateTimeOffset(DateTimeOffset.UnixEpoch);

        Assert.Equal(2_208_988_800u, fromNanos.Seconds);
        Assert.Equal(0u, fromNanos.Fraction);
        Assert.Equal(0x83AA7E80_00000000UL, fromNanos.Value);
        Assert.Equal(fromNanos, fromDate);
        Assert.Equal(0L, fromNanos.ToUnixNanoseconds());
        Assert.Equal(DateTimeOffset.UnixEpoch, fromNanos.ToDateTimeOffset());
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(1L)]
    [InlineData(999_999_999L)]
    [InlineData(1_000_000_000L)]
    [InlineData(1_000_000_001L)]
    [InlineData(123_456_789L)]
    [InlineData(1_764_334_237_121_046_123L)]
    [InlineData(2_085_978_495_999_999_999L)] // last nanosecond of NTP era 0 (2036-02-07T06:28:15Z)
    [InlineData(-1L)]
    [InlineData(-1_000_000_001L)]
    [InlineData(-2_208_988_800_000_000_000L)] // 1900-01-01, NTP zero
    public void NtpTimestamp_UnixNanoseconds_RoundTripsWithin1Ns(long unixNanoseconds)
    {
        NtpTimestamp ts = NtpTimestamp.FromUnixNanoseconds(unixNanoseconds);
        long back = ts.ToUnixNanoseconds();

        Assert.InRange(back - unixNanoseconds, -1, 1);
    }

    [Fact]
    public void NtpTimestamp_FromUnixNanoseconds_FractionIsBinary()
    {
        // half a second is 0x80000000, a quarter 0x40000000
        Assert.Equal(0x80000000u, NtpTimestamp.FromUnixNanoseconds(500_000_000).Fraction);
        Assert.Equal(0x40000000u, NtpTimestamp.FromUnixNanoseconds(250_000_000).Fraction);
        NtpTimestamp beforeEpoch = NtpTimestamp.FromUnixNanoseconds(-500_000_000);
        Assert.Equal(2_208_988_799u, beforeEpoch.Seconds);
        Assert.Equal(0x80000000u, beforeEpoch.Fraction);
    }

    [Fact]
    public void NtpTimestamp_CaptureTimestamp_MatchesDecodedCalendarTime()
    {
        // twamp-auth.decoded.txt #14: ts=eeb54c9d.1efcdee3 (2026-11-28T12:50:37.121046+00:00)
        var wire = new NtpTimestamp(0xeeb54c9d_1efcdee3);
        var calendar = new DateTimeOffset(2026, 11, 28, 12, 50, 37, TimeSpan.Zero).AddTicks(1_210_460);

        Assert.InRange((wire.ToDateTimeOffset() - calendar).Duration(), TimeSpan.Zero, TimeSpan.FromMicroseconds(1));
        NtpTimestamp encoded = NtpTimestamp.FromDateTimeOffset(calendar);
        Assert.Equal(0xeeb54c9du, encoded.Seconds);
        Assert.InRange(Math.Abs(NtpTimestamp.DifferenceSeconds(encoded, wire)), 0, 1e-6);
    }

    [Fact]
    public void NtpTimestamp_TwoSecondDuration_IsWireValueFromSpec()
    {
        NtpTimestamp two = NtpTimestamp.FromSeconds(2.0);

        Assert.Equal(0x00000002_00000000UL, two.Value); // control §1: 2.0 s = 00000002 00000000
        Assert.Equal(2.0, two.TotalSeconds);
        Assert.Equal(0x00000000_80000000UL, NtpTimestamp.FromSeconds(0.5).Value);
        Assert.Equal(0UL, NtpTimestamp.FromSeconds(0).Value);
    }

    [Fact]
    public void NtpTimestamp_TenthOfASecond_IsWithinOneUnitOfSpecWireValue()
    {
        // control §1: 0.1 s = 00000000 19999999 on the wire; test §1.1: rounding is implementation-defined and an
        // error of one unit (233 ps) does not matter. FromSeconds rounds to nearest, which gives ...9a.
        var specWire = new NtpTimestamp(0x00000000_19999999);
        NtpTimestamp ours = NtpTimestamp.FromSeconds(0.1);

        Assert.InRange(ours.Value, specWire.Value, specWire.Value + 1);
        Assert.InRange(Math.Abs(specWire.TotalSeconds - 0.1), 0, 1.0 / 4_294_967_296.0);
        // the spec's wire value survives a decode/encode cycle exactly
        Assert.Equal(specWire, NtpTimestamp.FromSeconds(specWire.TotalSeconds));
    }

    [Theory]
    [InlineData(-0.001)]
    [InlineData(double.NaN)]
    [InlineData(4_294_967_296.0)]
    [InlineData(double.PositiveInfinity)]
    public void NtpTimestamp_FromSecondsOutOfRange_Throws(double seconds)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => NtpTimestamp.FromSeconds(seconds));
    }

    [Fact]
    public void NtpTimestamp_WriteRead_IsBigEndian()
    {
        var ts = new NtpTimestamp(0xeeb54d93_80000000);
        byte[] bytes = new byte[NtpTimestamp.Size];

        ts.Write(bytes);

        Assert.Equal("eeb54d9380000000", Convert.ToHexStringLower(bytes));
        Assert.Equal(ts, NtpTimestamp.Read(bytes));
        Assert.Equal("eeb54d93.80000000", ts.ToString());
    }

    [Fact]
    public void NtpTimestamp_DifferenceAndOrder_AreSigned()
    {
        // twamp-auth #15: recv=eeb54c9d.1f09203a, sender ts=eeb54c9d.1efcdee3 → about 187 µs later
        var sent = new NtpTimestamp(0xeeb54c9d_1efcdee3);
        var received = new NtpTimestamp(0xeeb54c9d_1f09203a);

        double d = NtpTimestamp.DifferenceSeconds(received, sent);

        Assert.InRange(d, 186e-6, 188e-6);
        Assert.Equal(-d, NtpTimestamp.DifferenceSeconds(sent, received));
        Assert.True(received.CompareTo(sent) > 0);
        Assert.True(sent.CompareTo(received) < 0);
        Assert.False(sent.IsZero);
        Assert.True(default(NtpTimestamp).IsZero);
    }
}
