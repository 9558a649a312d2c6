using Ippm.Cli;

namespace Ippm.Tests.Cli;

/// <summary>-D as owping reads it: strtoul(…, 0) numbers and RFC 4594's names (Figure 3 gives their bits).</summary>
public sealed class DscpParserTests
{
    [Theory]
    [InlineData("46", 0b101110)]
    [InlineData("0x2e", 0b101110)]
    [InlineData("0X2E", 0b101110)]
    [InlineData("056", 0b101110)] // octal, as strtoul reads a leading 0
    [InlineData("010", 0b001000)]
    [InlineData("0", 0)]
    [InlineData("63", 63)]
    [InlineData("ef", 0b101110)]
    [InlineData(" EF ", 0b101110)]
    [InlineData("af11", 0b001010)]
    [InlineData("AF12", 0b001100)]
    [InlineData("af13", 0b001110)]
    [InlineData("af41", 0b100010)]
    [InlineData("af43", 0b100110)]
    [InlineData("cs1", 0b001000)]
    [InlineData("CS5", 0b101000)]
    [InlineData("cs7", 0b111000)]
    [InlineData("df", 0)]
    [InlineData("default", 0)]
    [InlineData("none", 0)]
    public void Parses(string text, int expected)
    {
        Assert.True(DscpParser.TryParse(text, out byte dscp));
        Assert.Equal(expected, dscp);
    }

    [Theory]
    [InlineData("64")]
    [InlineData("0x40")]
    [InlineData("0100")]
    [InlineData("08")]
    [InlineData("af51")]
    [InlineData("af14")]
    [InlineData("cs8")]
    [InlineData("ef1")]
    [InlineData("-1")]
    [InlineData("4 6")]
    [InlineData("")]
    [InlineData("0x")]
    public void Refuses(string text) => Assert.False(DscpParser.TryParse(text, out _));
}
