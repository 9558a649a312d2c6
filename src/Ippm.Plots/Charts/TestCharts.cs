using System.Globalization;
using Ippm.Plots.Archive;
using ScottPlot;
using ScottPlot.TickGenerators;

namespace Ippm.Plots.Charts;

/// <summary>
/// The panels drawn for one test, top to bottom: delay over time per direction (RTT for TWAMP/STAMP, one-way
/// delay outbound and inbound for OWAMP) as a min–p95 band with min, median and p95 lines and each lossy
/// session's loss % as a marker on the right axis; the delay distribution (per-packet histogram and CDF when a
/// per-packet file had the test's packets, otherwise the CDF of the sessions' medians and p95s, and the title
/// says which); loss and reordering per session. Failed sessions (outcome other than ok) are dashed red
/// vertical lines on every time axis.
/// </summary>
internal static class TestCharts
{
    public const int PanelWidth = 1100;
    public const int PanelHeight = 380;

    private static readonly Color s_median = Color.FromHex("#1f5fa8");
    private static readonly Color s_min = Color.FromHex("#2ca02c");
    private static readonly Color s_p95 = Color.FromHex("#ff7f0e");
    private static readonly Color s_band = Color.FromHex("#1f5fa8").WithAlpha(0.15);
    private static readonly Color s_loss = Color.FromHex("#d62728");
    private static readonly Color s_reordered = Color.FromHex("#9467bd");
    private static readonly Color[] s_failedColors =
        [Color.FromHex("#b00020").WithAlpha(0.7), Color.FromHex("#e377c2").WithAlpha(0.8), Color.FromHex("#8c564b").WithAlpha(0.8), Color.FromHex("#333333").WithAlpha(0.7)];
    private static readonly Color[] s_directionColors = [Color.FromHex("#1f5fa8"), Color.FromHex("#ff7f0e")];

    public static List<Plot> Build(TestData test)
    {
        PlotFonts.Install();
        (double from, double to) = TimeRange(test);
        var panels = new List<Plot>();
        foreach (Direction direction in test.Directions)
        {
            panels.Add(DelayOverTime(test, direction, from, to));
        }
        panels.Add(test.PacketDelays.Count > 0 ? PacketDistribution(test) : SessionDistribution(test));
        panels.Add(LossAndReordering(test, from, to));
        return panels;
    }

    private static Plot DelayOverTime(TestData test, Direction direction, double from, double to)
    {
        Plot plot = NewPlot();
        // The date-time axis replaces the bottom axis and forgets limits set before it: it comes first.
        TimeAxis(plot, from, to);
        string what = direction == Direction.RoundTrip ? "round-trip delay (RTT)" : $"one-way delay {direction.Label()}";
        plot.Title($"{test.Heading}\n{what} per session: min, median, p95");
        plot.YLabel(direction == Direction.RoundTrip ? "RTT (ms)" : "one-way delay (ms)");

        List<(ArchiveRecord Session, DirectionFigures Figures)> rows = Rows(test, direction);
        var withDelay = rows.Where(r => r.Figures.Delay is { Min: not null, Median: not null, P95: not null }).ToList();
        double[] xs = withDelay.Select(r => X(r.Session.Midpoint)).ToArray();
        double[] mins = withDelay.Select(r => r.Figures.Delay.Min!.Value).ToArray();
        double[] medians = withDelay.Select(r => r.Figures.Delay.Median!.Value).ToArray();
        double[] p95s = withDelay.Select(r => r.Figures.Delay.P95!.Value).ToArray();
        if (xs.Length > 1)
        {
            var band = plot.Add.FillY(xs, mins, p95s);
            band.FillColor = s_band;
            band.LineWidth = 0;
            band.LegendText = "min–p95 band";
        }
        AddSeries(plot, xs, p95s, s_p95, "p95", 1.5f, markerSize: xs.Length > 60 ? 0 : 4);
        AddSeries(plot, xs, medians, s_median, "median", 2.5f, markerSize: xs.Length > 60 ? 0 : 6);
        AddSeries(plot, xs, mins, s_min, "min", 1.5f, markerSize: xs.Length > 60 ? 0 : 4);
        if (xs.Length > 0)
        {
            double high = p95s.Max();
            plot.Axes.SetLimitsY(Math.Min(0, mins.Min()), high + (Math.Max(high, 0.001) * 0.15));
        }

        else
        {
            NoFigures(plot, test, (from + to) / 2);
        }

        // Loss on a secondary axis, only for the sessions that lost something, so a clean path shows no markers.
        var lossy = rows.Where(r => r.Figures.Lost > 0).ToList();
        if (lossy.Count > 0)
        {
            var markers = plot.Add.Markers(
                lossy.Select(r => X(r.Session.Midpoint)).ToArray(),
                lossy.Select(r => LossPercent(r.Figures)).ToArray(),
                MarkerShape.FilledTriangleDown, 9, s_loss);
            markers.LegendText = "session loss % (right axis)";
            markers.Axes.YAxis = plot.Axes.Right;
            plot.Axes.Right.Label.Text = "loss (%)";
            plot.Axes.Right.Label.ForeColor = s_loss;
        }
        MarkFailed(plot, test);
        if (lossy.Count > 0)
        {
            plot.Axes.SetLimitsY(0, Math.Max(1, lossy.Max(r => LossPercent(r.Figures))) * 1.15, plot.Axes.Right);
        }
        return plot;
    }

    private static Plot SessionDistribution(TestData test)
    {
        Plot plot = NewPlot();
        if (!test.Sessions.Any(s => s.Directions.Count > 0))
        {
            plot.Title($"{test.Heading}\ndelay distribution");
            plot.XLabel("delay (ms)");
            plot.YLabel("sessions at or below (%)");
            NoFigures(plot, test, 0.5);
            plot.Axes.SetLimitsX(0, 1);
            return plot;
        }
        string what = test.Directions.Contains(Direction.RoundTrip) ? "RTT" : "one-way delay";
        int sessions = test.Sessions.Count(s => s.Directions.Count > 0);
        plot.Title($"{test.Heading}\nCDF of session medians and p95s of {what} (from {sessions} session summaries)");
        plot.XLabel($"{what} (ms)");
        plot.YLabel("sessions at or below (%)");
        int colour = 0;
        foreach (Direction direction in test.Directions)
        {
            List<(ArchiveRecord Session, DirectionFigures Figures)> rows = Rows(test, direction);
            string prefix = test.Directions.Count > 1 ? direction.Short() + " " : "";
            Color color = s_directionColors[colour++ % s_directionColors.Length];
            Color p95Color = test.Directions.Count > 1 ? color.WithAlpha(0.5) : s_p95;
            AddCdf(plot, rows.Select(r => r.Figures.Delay.Median), color, $"{prefix}session medians", MarkerShape.FilledCircle);
            AddCdf(plot, rows.Select(r => r.Figures.Delay.P95), p95Color, $"{prefix}session p95s", MarkerShape.FilledSquare);
        }
        plot.Axes.SetLimitsY(0, 102);
        plot.Axes.Bottom.TickGenerator = new NumericAutomatic { LabelFormatter = Milliseconds };
        return plot;
    }

    private static Plot PacketDistribution(TestData test)
    {
        Plot plot = NewPlot();
        string what = test.Directions.Contains(Direction.RoundTrip) ? "RTT" : "one-way delay";
        int packets = test.PacketDelays.Values.Sum(d => d.Length);
        plot.Title($"{test.Heading}\nper-packet {what}: histogram and CDF ({packets} packets, {test.PacketFile})");
        plot.YLabel("packets per bin");
        plot.Axes.Right.Label.Text = "packets at or below (%)";
        int colour = 0;
        double low = test.PacketDelays.Values.Min(d => d.Min());
        double high = test.PacketDelays.Values.Max(d => d.Max());
        // A few slow packets would squeeze every other packet into one bar: the bars then stop at the 99th
        // percentile (nearest rank) and the label says how many packets lie beyond; the CDF keeps them all.
        double[] all = test.PacketDelays.Values.SelectMany(d => d).Order().ToArray();
        double p99 = all[Math.Max(0, (int)Math.Ceiling(0.99 * all.Length) - 1)];
        int beyond = 0;
        if (p99 > low && high - low > 3 * (p99 - low))
        {
            high = p99;
            beyond = all.Count(d => d > high);
        }
        const int Bins = 40;
        double width = high > low ? (high - low) / Bins : Math.Max(Math.Abs(low) * 0.01, 0.001);
        string tail = beyond == 0 ? "" : $"; {beyond} packets above {high.ToString("0.###", CultureInfo.InvariantCulture)} ms (p99) not shown";
        plot.XLabel($"{what} (ms), bins of {width.ToString("0.####", CultureInfo.InvariantCulture)} ms{tail}");
        foreach ((Direction direction, double[] delays) in test.PacketDelays.OrderBy(p => p.Key))
        {
            string prefix = test.PacketDelays.Count > 1 ? direction.Short() + " " : "";
            Color color = s_directionColors[colour++ % s_directionColors.Length];
            var counts = new double[Bins];
            foreach (double delay in delays)
            {
                if (delay <= high)
                {
                    counts[Math.Clamp((int)((delay - low) / width), 0, Bins - 1)]++;
                }
            }
            double[] centres = Enumerable.Range(0, Bins).Select(i => low + ((i + 0.5) * width)).ToArray();
            var bars = plot.Add.Bars(centres, counts);
            bars.Color = color.WithAlpha(test.PacketDelays.Count > 1 ? 0.55 : 0.8);
            bars.LegendText = $"{prefix}packets per bin";
            foreach (var bar in bars.Bars)
            {
                bar.Size = width * 0.95;
                bar.LineWidth = 0;
            }
            var cdf = AddCdf(plot, delays.Select(d => (double?)d), color, $"{prefix}CDF (right axis)", MarkerShape.None);
            if (cdf is not null)
            {
                cdf.Axes.YAxis = plot.Axes.Right;
            }
        }
        plot.Axes.SetLimitsY(0, 102, plot.Axes.Right);
        plot.Axes.Margins(bottom: 0);
        if (beyond > 0)
        {
            plot.Axes.SetLimitsX(low - width, high + width);
        }
        plot.Axes.Bottom.TickGenerator = new NumericAutomatic { LabelFormatter = Milliseconds };
        return plot;
    }

    private static Plot LossAndReordering(TestData test, double from, double to)
    {
        Plot plot = NewPlot();
        TimeAxis(plot, from, to);
        plot.Title($"{test.Heading}\npacket loss and reordering per session");
        plot.YLabel("% of packets sent");
        double highest = 0;
        int colour = 0;
        foreach (Direction direction in test.Directions)
        {
            List<(ArchiveRecord Session, DirectionFigures Figures)> rows = Rows(test, direction).Where(r => r.Figures.Sent > 0).ToList();
            string suffix = test.Directions.Count > 1 ? $" {direction.Short()}" : "";
            double[] xs = rows.Select(r => X(r.Session.Midpoint)).ToArray();
            double[] loss = rows.Select(r => LossPercent(r.Figures)).ToArray();
            double[] reordered = rows.Select(r => r.Figures.Reordered * 100.0 / r.Figures.Sent).ToArray();
            bool second = colour++ > 0;
            // The second direction in lighter colours and square markers: SVG output cannot draw dashed lines.
            AddSeries(plot, xs, loss, second ? s_loss.WithAlpha(0.5) : s_loss, "loss %" + suffix, 2, xs.Length > 60 ? 0 : 6, second ? MarkerShape.FilledSquare : MarkerShape.FilledCircle);
            AddSeries(plot, xs, reordered, second ? s_reordered.WithAlpha(0.5) : s_reordered, "reordered %" + suffix, 2, xs.Length > 60 ? 0 : 6, second ? MarkerShape.FilledSquare : MarkerShape.FilledCircle);
            highest = Math.Max(highest, loss.Concat(reordered).DefaultIfEmpty(0).Max());
        }
        double top = Math.Max(1, highest) * 1.15;
        // A little below zero, so a clean path's lines are seen on the zero line rather than hidden by the axis.
        plot.Axes.SetLimitsY(-top * 0.04, top);
        if (highest == 0 && test.Sessions.Any(s => s.Directions.Count > 0))
        {
            var text = plot.Add.Text("no packet lost or reordered", (from + to) / 2, top / 2);
            text.LabelFontSize = 15;
            text.LabelFontColor = Color.FromHex("#2ca02c");
            text.LabelAlignment = Alignment.MiddleCenter;
        }
        MarkFailed(plot, test);
        return plot;
    }

    private static Plot NewPlot()
    {
        var plot = new Plot();
        plot.Axes.Title.Label.FontSize = 15;
        plot.Axes.Title.Label.Bold = true;
        plot.Axes.Bottom.Label.FontSize = 14;
        plot.Axes.Left.Label.FontSize = 14;
        plot.Axes.Right.Label.FontSize = 14;
        plot.Axes.Bottom.TickLabelStyle.FontSize = 12;
        plot.Axes.Left.TickLabelStyle.FontSize = 12;
        plot.Axes.Right.TickLabelStyle.FontSize = 12;
        plot.Legend.FontSize = 12;
        plot.Legend.BackgroundColor = Colors.White.WithAlpha(0.85);
        // Legends beside the data, never over it; fixed padding keeps every panel's time axis at the same x.
        plot.ShowLegend(Edge.Right);
        plot.Layout.Fixed(new PixelPadding(85, 330, 62, 58));
        return plot;
    }

    private static void AddSeries(Plot plot, double[] xs, double[] ys, Color color, string legend, float width, int markerSize, MarkerShape shape = MarkerShape.FilledCircle)
    {
        if (xs.Length == 0)
        {
            return;
        }
        var scatter = plot.Add.Scatter(xs, ys, color);
        scatter.LineWidth = width;
        scatter.MarkerSize = markerSize;
        scatter.LegendText = legend;
        scatter.MarkerShape = shape;
    }

    private static ScottPlot.Plottables.Scatter? AddCdf(Plot plot, IEnumerable<double?> values, Color color, string legend, MarkerShape shape)
    {
        double[] sorted = values.Where(v => v.HasValue).Select(v => v!.Value).Order().ToArray();
        if (sorted.Length == 0)
        {
            return null;
        }
        // Empirical CDF as a step line: at each value the share of samples at or below it.
        double[] ys = Enumerable.Range(1, sorted.Length).Select(i => i * 100.0 / sorted.Length).ToArray();
        var scatter = plot.Add.Scatter(sorted, ys, color);
        scatter.ConnectStyle = ConnectStyle.StepHorizontal;
        scatter.LineWidth = 2;
        scatter.MarkerSize = sorted.Length > 60 || shape == MarkerShape.None ? 0 : 5;
        scatter.MarkerShape = shape;
        scatter.LegendText = legend;
        return scatter;
    }

    /// <summary>A panel with nothing to draw says why, in the middle of its data area.</summary>
    private static void NoFigures(Plot plot, TestData test, double x)
    {
        string outcomes = string.Join(", ", test.Failed.GroupBy(s => s.Outcome).Select(g => $"{g.Key} × {g.Count()}"));
        var text = plot.Add.Text($"no session with figures ({outcomes})", x, 0.5);
        text.LabelFontSize = 16;
        text.LabelBold = true;
        text.LabelFontColor = Color.FromHex("#b00020");
        text.LabelBackgroundColor = Colors.White.WithAlpha(0.9);
        text.LabelAlignment = Alignment.MiddleCenter;
        plot.Axes.SetLimitsY(0, 1);
    }

    private static void MarkFailed(Plot plot, TestData test)
    {
        // One colour and one legend entry per outcome, with its count: labels on the lines themselves collide
        // when failures are close together, as they are when a target is down.
        int colour = 0;
        foreach (IGrouping<string, ArchiveRecord> outcome in test.Failed.GroupBy(s => s.Outcome).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            Color color = s_failedColors[colour++ % s_failedColors.Length];
            bool first = true;
            foreach (ArchiveRecord failed in outcome)
            {
                // Solid, not dashed: SkiaSharp's SVG canvas cannot draw dashes (it warns on standard error).
                var line = plot.Add.VerticalLine(X(failed.Midpoint), 2, color);
                if (first)
                {
                    line.LegendText = $"failed: {outcome.Key} ({outcome.Count()} {(outcome.Count() == 1 ? "session" : "sessions")})";
                    first = false;
                }
            }
        }
    }

    private static void TimeAxis(Plot plot, double from, double to)
    {
        var axis = plot.Axes.DateTimeTicksBottom();
        TimeSpan span = DateTime.FromOADate(to) - DateTime.FromOADate(from);
        DateTime first = DateTime.FromOADate(from);
        bool oneDay = DateTime.FromOADate(to).Date == first.Date;
        string format = span <= TimeSpan.FromMinutes(10) ? "HH:mm:ss" : oneDay ? "HH:mm" : "yyyy-MM-dd\nHH:mm";
        if (axis.TickGenerator is DateTimeAutomatic automatic)
        {
            automatic.LabelFormatter = t => t.ToString(format, CultureInfo.InvariantCulture);
        }
        plot.XLabel(oneDay ? $"time (UTC), {first.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}" : "time (UTC)");
        plot.Axes.SetLimitsX(from, to);
    }

    /// <summary>The time axis of all of a test's panels: its first start to its last end, with a margin.</summary>
    private static (double From, double To) TimeRange(TestData test)
    {
        DateTimeOffset first = test.Sessions.Min(s => s.Start);
        DateTimeOffset last = test.Sessions.Max(s => s.End);
        TimeSpan margin = TimeSpan.FromTicks(Math.Max((last - first).Ticks / 40, TimeSpan.FromSeconds(1).Ticks));
        return (X(first - margin), X(last + margin));
    }

    private static List<(ArchiveRecord Session, DirectionFigures Figures)> Rows(TestData test, Direction direction) =>
        test.Sessions
            .SelectMany(s => s.Directions.Where(d => d.Direction == direction).Select(d => (s, d)))
            .ToList();

    private static double LossPercent(DirectionFigures figures) =>
        figures.LossPercent ?? (figures.Sent > 0 ? figures.Lost * 100.0 / figures.Sent : 0);

    private static double X(DateTimeOffset time) => time.UtcDateTime.ToOADate();

    private static string Milliseconds(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);
}
