using System.Globalization;
using System.Net;
using System.Text;
using Ippm.Plots.Archive;

namespace Ippm.Plots.Reports;

/// <summary>
/// One self-contained HTML page: no scripts, no external files; each test's figure is an embedded PNG (data
/// URI). A section per test: the path and mode in the heading, the figures table per direction, the figure,
/// the failed sessions, and every session's figures in a collapsed table.
/// </summary>
internal static class HtmlReport
{
    public static string Write(PlotSelection selection, IReadOnlyList<byte[]> pngPerTest, DateTimeOffset generated)
    {
        var html = new StringBuilder();
        DateTimeOffset first = selection.Tests.Min(t => t.Sessions.Min(s => s.Start));
        DateTimeOffset last = selection.Tests.Max(t => t.Sessions.Max(s => s.End));
        html.Append("""
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>ippm plot report</title>
            <style>
            body { font-family: "DejaVu Sans", Verdana, Arial, sans-serif; margin: 2em; color: #222; }
            h1 { font-size: 1.5em; } h2 { font-size: 1.25em; border-top: 2px solid #1f5fa8; padding-top: .6em; margin-top: 2em; }
            table { border-collapse: collapse; margin: .6em 0 1em; font-size: .92em; }
            th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
            th { background: #eef3fa; } td.text, th.text { text-align: left; }
            tr.failed td { background: #fdecee; }
            img { max-width: 100%; height: auto; border: 1px solid #ddd; }
            .note { color: #555; font-size: .9em; }
            </style>
            </head>
            <body>

            """);
        html.Append(CultureInfo.InvariantCulture, $"<h1>ippm plot report</h1>\n");
        html.Append(CultureInfo.InvariantCulture,
            $"<p class=\"note\">Archive: {E(string.Join(", ", selection.Files))}. Sessions from {E(PlotTime.Format(first))} to {E(PlotTime.Format(last))} (UTC). Generated {E(PlotTime.Format(generated))}.");
        if (selection.Skipped.Count > 0)
        {
            html.Append(CultureInfo.InvariantCulture, $" {selection.Skipped.Count} bad lines skipped (--skip-bad), the first: {E(selection.Skipped[0].Message)}.");
        }
        html.Append("</p>\n<ul>\n");
        foreach (TestData test in selection.Tests)
        {
            html.Append(CultureInfo.InvariantCulture, $"<li><a href=\"#{Anchor(test)}\">{E(test.Heading)}</a></li>\n");
        }
        html.Append("</ul>\n");

        for (int i = 0; i < selection.Tests.Count; i++)
        {
            Section(html, selection.Tests[i], pngPerTest[i]);
        }
        html.Append("</body>\n</html>\n");
        return html.ToString();
    }

    private static void Section(StringBuilder html, TestData test, byte[] png)
    {
        html.Append(CultureInfo.InvariantCulture, $"<section class=\"test\" id=\"{Anchor(test)}\" data-test=\"{E(test.Test)}\">\n");
        html.Append(CultureInfo.InvariantCulture, $"<h2>{E(test.Heading)}</h2>\n");
        html.Append(CultureInfo.InvariantCulture,
            $"<p>Test <b>{E(test.Test)}</b> measures <b>{E(test.Target)}</b> with {E(test.ProtocolName)} in {E(test.Mode)} mode: {test.Sessions.Count} sessions, {test.Failed.Count()} failed, from {E(PlotTime.Format(test.Sessions[0].Start))} to {E(PlotTime.Format(test.Sessions.Max(s => s.End)))}.</p>\n");

        bool packets = test.PacketDelays.Count > 0;
        html.Append("<table class=\"figures\">\n<tr><th class=\"text\">direction</th><th>sessions</th><th>with figures</th><th>failed</th><th>sent</th><th>lost</th><th>loss %</th><th>reordered</th><th>duplicates</th>");
        html.Append(packets
            ? "<th>min (ms)</th><th>median (ms)</th><th>p95 (ms)</th><th>max (ms)</th></tr>\n"
            : "<th>min (ms)</th><th>median of session medians (ms)</th><th>p95 of session p95s (ms)</th><th>max (ms)</th></tr>\n");
        foreach (Direction direction in test.Directions)
        {
            TestFigures f = TestFigures.Of(test, direction);
            html.Append(CultureInfo.InvariantCulture,
                $"<tr data-direction=\"{direction.Short()}\"><td class=\"text\">{E(direction.Label())}</td><td>{f.Sessions}</td><td>{f.SessionsWithFigures}</td><td>{f.Failed}</td><td>{f.Sent}</td><td>{f.Lost}</td><td>{N(f.LossPercent, "0.###")}</td><td>{f.Reordered}</td><td>{f.Duplicates}</td><td>{N(f.Min)}</td><td>{N(f.Median)}</td><td>{N(f.P95)}</td><td>{N(f.Max)}</td></tr>\n");
        }
        html.Append("</table>\n");
        html.Append(packets
            ? $"<p class=\"note\">Delay figures from the {test.PacketDelays.Values.Sum(d => d.Length)} per-packet delays in {E(test.PacketFile ?? "")}; loss from the session summaries.</p>\n"
            : "<p class=\"note\">Delay figures from the session summaries (the archive holds one summary per session): the smallest session minimum, the median of the session medians, the 95th percentile of the session p95s (nearest rank), the largest maximum.</p>\n");

        html.Append(CultureInfo.InvariantCulture,
            $"<p><img alt=\"{E(test.Heading)}: delay over time, delay distribution, loss and reordering\" src=\"data:image/png;base64,{Convert.ToBase64String(png)}\"></p>\n");

        List<ArchiveRecord> failed = test.Failed.ToList();
        if (failed.Count > 0)
        {
            html.Append("<h3>Failed sessions</h3>\n<table class=\"failed\">\n<tr><th class=\"text\">start (UTC)</th><th class=\"text\">outcome</th><th class=\"text\">error</th></tr>\n");
            foreach (ArchiveRecord session in failed)
            {
                html.Append(CultureInfo.InvariantCulture,
                    $"<tr><td class=\"text\">{E(PlotTime.Format(session.Start))}</td><td class=\"text\">{E(session.Outcome)}</td><td class=\"text\">{E(session.Error ?? "")}</td></tr>\n");
            }
            html.Append("</table>\n");
        }

        html.Append(CultureInfo.InvariantCulture, $"<details><summary>All {test.Sessions.Count} sessions</summary>\n<table class=\"sessions\">\n");
        html.Append("<tr><th class=\"text\">start (UTC)</th><th class=\"text\">end (UTC)</th><th class=\"text\">outcome</th><th class=\"text\">direction</th><th>sent</th><th>lost</th><th>loss %</th><th>reordered</th><th>min (ms)</th><th>median (ms)</th><th>p95 (ms)</th><th>max (ms)</th></tr>\n");
        foreach (ArchiveRecord session in test.Sessions)
        {
            string rowClass = session.IsOk ? "" : " class=\"failed\"";
            string times = $"<td class=\"text\">{E(PlotTime.Format(session.Start))}</td><td class=\"text\">{E(PlotTime.Format(session.End))}</td><td class=\"text\">{E(session.Outcome)}</td>";
            if (session.Directions.Count == 0)
            {
                html.Append(CultureInfo.InvariantCulture, $"<tr{rowClass}>{times}<td class=\"text\" colspan=\"9\">{E(session.Error ?? "")}</td></tr>\n");
            }
            foreach (DirectionFigures d in session.Directions)
            {
                html.Append(CultureInfo.InvariantCulture,
                    $"<tr{rowClass}>{times}<td class=\"text\">{d.Direction.Short()}</td><td>{d.Sent}</td><td>{d.Lost}</td><td>{N(d.LossPercent, "0.###")}</td><td>{d.Reordered}</td><td>{N(d.Delay.Min)}</td><td>{N(d.Delay.Median)}</td><td>{N(d.Delay.P95)}</td><td>{N(d.Delay.Max)}</td></tr>\n");
            }
        }
        html.Append("</table>\n</details>\n</section>\n");
    }

    /// <summary>Delays with three decimals (µs), as the tools' text reports print them; an absent figure is a dash.</summary>
    internal static string N(double? value, string format = "0.000") =>
        value is { } v ? v.ToString(format, CultureInfo.InvariantCulture) : "–";

    private static string Anchor(TestData test) =>
        "test-" + new string(test.Test.Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray());

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
