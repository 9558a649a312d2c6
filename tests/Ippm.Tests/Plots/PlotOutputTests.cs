using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Ippm.Plots;
using SkiaSharp;

namespace Ippm.Tests.Plots;

/// <summary>The files <c>ippm plot</c> writes, checked as files: PNG header and pixels, SVG as XML, HTML tables.</summary>
public sealed partial class PlotOutputTests
{
    private const int PanelWidth = 1100;
    private const int PanelHeight = 380;

    [Fact]
    public void Png_OneTwampTest_ThreePanelsWithText()
    {
        using var dir = new TempDirectory();
        string archive = PlotArchives.Write(dir.Path, "a.jsonl", PlotArchives.Synthetic());
        string png = dir.File("twamp.png");

        PlotReport.Write(new PlotRequest([archive], ["synthetic-twamp"], null, null), png, TimeProvider.System);

        byte[] bytes = File.ReadAllBytes(png);
        AssertPng(bytes, PanelWidth, 3 * PanelHeight);
        Assert.True(bytes.Length > 30_000, $"a 1100×1140 chart with text should not be {bytes.Length} octets");
        // Each panel's title band (the top 45 pixels of the panel, where only the title is drawn) has dark
        // pixels: text was drawn. A renderer without a font draws the lines and nothing here.
        using SKBitmap bitmap = SKBitmap.Decode(bytes);
        for (int panel = 0; panel < 3; panel++)
        {
            Assert.True(DarkPixels(bitmap, 0, PanelWidth, (panel * PanelHeight) + 2, (panel * PanelHeight) + 45) > 500, $"panel {panel} has no title text");
        }
    }

    [Fact]
    public void Png_SeveralTests_OneColumnPerTest()
    {
        using var dir = new TempDirectory();
        string archive = PlotArchives.Write(dir.Path, "a.jsonl", PlotArchives.Synthetic());
        string png = dir.File("all.png");

        PlotResult result = PlotReport.Write(new PlotRequest([archive], [], null, null), png, TimeProvider.System);

        Assert.Equal(["synthetic-owamp", "synthetic-twamp"], result.Selection.Tests.Select(t => t.Test));
        // OWAMP has four panels (outbound and inbound delay), so the grid is four panels high.
        AssertPng(File.ReadAllBytes(png), 2 * PanelWidth, 4 * PanelHeight);
    }

    [Fact]
    public void Svg_IsXml_WithTitlesAxisLabelsAndTestNames()
    {
        using var dir = new TempDirectory();
        string archive = PlotArchives.Write(dir.Path, "a.jsonl", PlotArchives.Synthetic());
        string svg = dir.File("all.svg");

        PlotReport.Write(new PlotRequest([archive], [], null, null), svg, TimeProvider.System);

        XDocument document = XDocument.Load(svg);
        XNamespace ns = "http://www.w3.org/2000/svg";
        Assert.Equal(ns + "svg", document.Root!.Name);
        Assert.Equal((2 * PanelWidth).ToString(CultureInfo.InvariantCulture), (string?)document.Root.Attribute("width"));
        string[] texts = document.Descendants(ns + "text").Select(t => t.Value.Trim()).ToArray();
        string[] expected =
        [
            "synthetic-twamp: 192.0.2.7:862 · TWAMP encrypted",
            "synthetic-owamp: [2001:db8::5]:861 · OWAMP open",
            "round-trip delay (RTT) per session: min, median, p95",
            "one-way delay outbound (client → server) per session: min, median, p95",
            "one-way delay inbound (server → client) per session: min, median, p95",
            "CDF of session medians and p95s of RTT (from 3 session summaries)",
            "packet loss and reordering per session",
            "RTT (ms)",
            "one-way delay (ms)",
            "% of packets sent",
            "time (UTC), 2026-11-30",
            "loss (%)",
            "failed: timeout (1 session)",
            "failed: refused (1 session)",
            "median",
            "p95",
        ];
        foreach (string text in expected)
        {
            Assert.Contains(text, texts);
        }
        Assert.All(document.Descendants(ns + "text"), t => Assert.StartsWith("DejaVu Sans", (string?)t.Attribute("font-family"), StringComparison.Ordinal));
    }

    [Fact]
    public void Html_OneSectionPerTest_FiguresTableMatchesTheRecordedArchive()
    {
        using var dir = new TempDirectory();
        string html = dir.File("report.html");

        PlotReport.Write(new PlotRequest([PlotArchives.Recorded], [], null, null), html, TimeProvider.System);

        string page = File.ReadAllText(html);
        JsonNode[] lines = File.ReadAllLines(PlotArchives.Recorded).Select(l => JsonNode.Parse(l)!).ToArray();
        string[] tests = lines.Select(l => (string)l["test"]!).Distinct().Order(StringComparer.Ordinal).ToArray();
        MatchCollection sections = Section().Matches(page);
        Assert.Equal(tests, sections.Select(m => WebUtility.HtmlDecode(m.Groups["test"].Value)));
        Assert.DoesNotContain("<script", page, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("src=\"http", page, StringComparison.OrdinalIgnoreCase);

        foreach (Match section in sections)
        {
            string test = WebUtility.HtmlDecode(section.Groups["test"].Value);
            string body = section.Groups["body"].Value;
            JsonNode[] mine = lines.Where(l => (string)l["test"]! == test).ToArray();
            string protocol = (string)mine[0]["protocol"]!;
            Assert.Contains($"<h2>{WebUtility.HtmlEncode($"{test}: {(string)mine[0]["target"]!} · {protocol.ToUpperInvariant()} {(string)mine[0]["mode"]!}")}</h2>", body, StringComparison.Ordinal);
            Assert.Matches("<img alt=\"[^\"]+\" src=\"data:image/png;base64,iVBORw0KGgo", body);

            // The oracle: sums and order statistics over the report members, computed here from the raw JSON.
            (string Row, Func<JsonNode, JsonNode?> Figures, string Delay)[] directions = protocol == "twamp"
                ? [("RTT", l => l, "round_trip_ms")]
                : [("outbound", l => l["outbound"], "delay_ms"), ("inbound", l => l["inbound"], "delay_ms")];
            foreach ((string row, Func<JsonNode, JsonNode?> figures, string delay) in directions)
            {
                JsonNode[] d = mine.Select(figures).OfType<JsonNode>().ToArray();
                long sent = d.Sum(x => (long)x["sent"]!);
                long lost = d.Sum(x => (long)x["lost"]!);
                double[] medians = d.Select(x => (double)x[delay]!["median"]!).Order().ToArray();
                double[] p95s = d.Select(x => (double)x[delay]!["p95"]!).Order().ToArray();
                string[] expected =
                [
                    mine.Length.ToString(CultureInfo.InvariantCulture), d.Length.ToString(CultureInfo.InvariantCulture), "0",
                    sent.ToString(CultureInfo.InvariantCulture), lost.ToString(CultureInfo.InvariantCulture),
                    (lost * 100.0 / sent).ToString("0.###", CultureInfo.InvariantCulture),
                    d.Sum(x => (long)x["reordered"]!).ToString(CultureInfo.InvariantCulture),
                    d.Sum(x => (long)x["duplicates"]!).ToString(CultureInfo.InvariantCulture),
                    Ms(d.Min(x => (double)x[delay]!["min"]!)),
                    Ms(medians[(int)Math.Ceiling(medians.Length * 0.5) - 1]),
                    Ms(p95s[(int)Math.Ceiling(p95s.Length * 0.95) - 1]),
                    Ms(d.Max(x => (double)x[delay]!["max"]!)),
                ];
                Assert.Equal(expected, FiguresRow(body, row));
            }
        }
    }

    [Fact]
    public void Html_SyntheticArchive_KnownFiguresFailedSessionsAndEscaping()
    {
        using var dir = new TempDirectory();
        List<JsonObject> lines = PlotArchives.Synthetic();
        lines.Add(PlotArchives.Twamp(PlotArchives.T0, 10, 0, 0, 1, 1, 1, 1, test: "<script>alert(1)</script>"));
        string archive = PlotArchives.Write(dir.Path, "a.jsonl", lines);
        string html = dir.File("report.html");

        PlotReport.Write(new PlotRequest([archive], [], null, null), html, TimeProvider.System);

        string page = File.ReadAllText(html);
        Assert.DoesNotContain("<script>", page, StringComparison.Ordinal);
        Assert.Contains("&lt;script&gt;alert(1)&lt;/script&gt;", page, StringComparison.Ordinal);
        Assert.Equal(3, Section().Matches(page).Count);
        string twamp = Section().Matches(page).Single(m => m.Groups["test"].Value == "synthetic-twamp").Groups["body"].Value;
        Assert.Equal(["4", "3", "1", "300", "10", "3.333", "2", "0", "0.900", "2.500", "6.000", "7.000"], FiguresRow(twamp, "RTT"));
        Assert.Contains("<td class=\"text\">2026-11-30 10:10:00Z</td><td class=\"text\">timeout</td><td class=\"text\">no answer from 192.0.2.7:862 within 10 s</td>", twamp, StringComparison.Ordinal);
        string owamp = Section().Matches(page).Single(m => m.Groups["test"].Value == "synthetic-owamp").Groups["body"].Value;
        Assert.Equal(["3", "2", "1", "200", "4", "2", "0", "0", "10.000", "12.000", "20.000", "25.000"], FiguresRow(owamp, "outbound"));
        Assert.Equal(["3", "2", "1", "200", "0", "0", "0", "0", "20.000", "22.000", "26.000", "31.000"], FiguresRow(owamp, "inbound"));
    }

    [Fact]
    public void PerPacketFile_HistogramTitleAndPacketFigures()
    {
        using var dir = new TempDirectory();
        string archive = PlotArchives.Write(dir.Path, "lab.jsonl", PlotArchives.Synthetic());
        File.WriteAllLines(dir.File("lab.packets.jsonl"), Enumerable.Range(1, 100).Select(i => $"{{\"test\":\"synthetic-twamp\",\"round_trip_ms\":{i}}}"));

        PlotReport.Write(new PlotRequest([archive], ["synthetic-twamp"], null, null), dir.File("t.svg"), TimeProvider.System);
        PlotReport.Write(new PlotRequest([archive], ["synthetic-twamp"], null, null), dir.File("t.html"), TimeProvider.System);

        XNamespace ns = "http://www.w3.org/2000/svg";
        string[] texts = XDocument.Load(dir.File("t.svg")).Descendants(ns + "text").Select(t => t.Value.Trim()).ToArray();
        Assert.Contains("per-packet RTT: histogram and CDF (100 packets, lab.packets.jsonl)", texts);
        Assert.Contains("packets at or below (%)", texts);
        string page = File.ReadAllText(dir.File("t.html"));
        Assert.Equal(["4", "3", "1", "300", "10", "3.333", "2", "0", "1.000", "50.000", "95.000", "100.000"], FiguresRow(page, "RTT"));
    }

    [Fact]
    public void PerPacketHistogram_StopsAtTheP99_WhenAFewSlowPacketsWouldSqueezeTheRest()
    {
        using var dir = new TempDirectory();
        string archive = PlotArchives.Write(dir.Path, "lab.jsonl", PlotArchives.Synthetic());
        // 200 packets of 1.00–1.99 ms and two of 500 ms: the bars end at the p99 (nearest rank: 1.99 ms).
        IEnumerable<string> lines = Enumerable.Range(0, 200).Select(i => $"{{\"test\":\"synthetic-twamp\",\"round_trip_ms\":{1 + (i * 0.005):0.000}}}")
            .Concat(["{\"test\":\"synthetic-twamp\",\"round_trip_ms\":500}", "{\"test\":\"synthetic-twamp\",\"round_trip_ms\":500}"]);
        File.WriteAllLines(dir.File("lab.packets.jsonl"), lines);

        PlotReport.Write(new PlotRequest([archive], ["synthetic-twamp"], null, null), dir.File("t.svg"), TimeProvider.System);

        XNamespace ns = "http://www.w3.org/2000/svg";
        string[] texts = XDocument.Load(dir.File("t.svg")).Descendants(ns + "text").Select(t => t.Value.Trim()).ToArray();
        Assert.Contains(texts, t => t.StartsWith("RTT (ms), bins of ", StringComparison.Ordinal) && t.EndsWith("; 2 packets above 1.995 ms (p99) not shown", StringComparison.Ordinal));
    }

    private static void AssertPng(byte[] bytes, int width, int height)
    {
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A], bytes[..8]);
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(bytes, 12, 4));
        Assert.Equal(width, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)));
        Assert.Equal(height, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
    }

    internal static int DarkPixels(SKBitmap bitmap, int left, int right, int top, int bottom)
    {
        int dark = 0;
        for (int y = top; y < bottom; y++)
        {
            for (int x = left; x < right; x++)
            {
                SKColor c = bitmap.GetPixel(x, y);
                if (c.Red + c.Green + c.Blue < 200)
                {
                    dark++;
                }
            }
        }
        return dark;
    }

    private static string[] FiguresRow(string html, string direction)
    {
        Match row = Regex.Match(html, $"<tr data-direction=\"{Regex.Escape(direction)}\">(.*?)</tr>");
        Assert.True(row.Success, $"no figures row for {direction}");
        // Skip the first cell (the direction's name).
        return Regex.Matches(row.Groups[1].Value, "<td[^>]*>(.*?)</td>").Skip(1).Select(m => WebUtility.HtmlDecode(m.Groups[1].Value)).ToArray();
    }

    private static string Ms(double value) => value.ToString("0.000", CultureInfo.InvariantCulture);

    [GeneratedRegex("<section class=\"test\" id=\"[^\"]*\" data-test=\"(?<test>[^\"]*)\">(?<body>.*?)</section>", RegexOptions.Singleline)]
    private static partial Regex Section();
}
