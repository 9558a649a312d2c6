using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Ippm.Sessions.Reports;

namespace Ippm.Tests.Cli;

/// <summary>How reports read: one heading style for both tools, no "-0", the key source said once.</summary>
public sealed partial class ReportFormatTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData(-0.0000001, "0")]
    [InlineData(-0.0000004999, "0")]
    [InlineData(-0.0000006, "-0.001")]
    [InlineData(0.0012346, "1.235")]
    [InlineData(double.NaN, "n/a")]
    public void Milliseconds_NeverMinusZero(double seconds, string expected) => Assert.Equal(expected, ReportHeader.Ms(seconds));

    [Theory]
    [InlineData(-0.0000001, "0")]
    [InlineData(-0.0, "0")]
    [InlineData(-1.25, "-1.25")]
    public void JsonNumbers_NeverMinusZero(double value, string expected)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            ReportHeader.WriteNumberOrNull(w, "x", value);
            w.WriteEndObject();
        }
        Assert.Equal($"{{\"x\":{expected}}}", Encoding.UTF8.GetString(stream.ToArray()));
    }

    [GeneratedRegex(@"(?<![\d.])-0(?![.\d])")]
    private static partial Regex MinusZero();

    [Fact]
    public async Task BothTools_SameHeading_KeySourceOnce_NoMinusZero()
    {
        var twping = await IppmProcess.RunAsync(Timeout, "twping", "-c", "20", "-i", "0.005f");
        var owping = await IppmProcess.RunAsync(Timeout, "owping", "-c", "20", "-i", "0.005f", "-L", "1");
        Assert.True(twping.ExitCode == 0, twping.Stderr);
        Assert.True(owping.ExitCode == 0, owping.Stderr);

        foreach ((string tool, string report, int sections) in new[] { ("twping", twping.Stdout, 1), ("owping", owping.Stdout, 2) })
        {
            string[] lines = report.Split('\n');
            int[] headings = Enumerable.Range(0, lines.Length).Where(i => lines[i].StartsWith("---", StringComparison.Ordinal)).ToArray();
            Assert.Equal(sections, headings.Length);
            foreach (int h in headings)
            {
                Assert.Matches($@"^--- {tool} statistics (to|from) 127\.0\.0\.1:\d+ ---$", lines[h]);
                Assert.Equal("mode:\topen, no key", lines[h + 1]);
                Assert.Matches(@"^SID:\t[0-9a-f]{32}$", lines[h + 2]);
                Assert.Matches(@"^first:\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", lines[h + 3]);
                Assert.Matches(@"^last:\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", lines[h + 4]);
            }
            Assert.DoesNotContain("(open mode", report, StringComparison.Ordinal);
            Assert.DoesNotMatch(MinusZero(), report);
        }
    }
}
