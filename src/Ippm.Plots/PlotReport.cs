using Ippm.Plots.Charts;
using Ippm.Plots.Reports;
using ScottPlot;

namespace Ippm.Plots;

/// <summary>The output kinds, chosen by the file name's extension.</summary>
public enum PlotFormat
{
    Png,
    Svg,
    Html,
}

/// <summary>What was written: the selection drawn and the file.</summary>
public sealed record PlotResult(string Output, PlotFormat Format, PlotSelection Selection);

/// <summary>
/// <c>ippm plot</c> without the command line: read and select (<see cref="PlotSelection"/>), draw each test's
/// panels (<see cref="TestCharts"/>), write PNG or SVG (one test's column of panels, or a grid with a column per
/// test) or the HTML report (a section per test).
/// </summary>
public static class PlotReport
{
    public static PlotFormat FormatOf(string output) => Path.GetExtension(output).ToLowerInvariant() switch
    {
        ".png" => PlotFormat.Png,
        ".svg" => PlotFormat.Svg,
        ".html" or ".htm" => PlotFormat.Html,
        _ => throw new ArgumentException($"-o {output}: the file name must end in .png, .svg or .html"),
    };

    public static PlotResult Write(PlotRequest request, string output, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        PlotFormat format = FormatOf(output);
        PlotSelection selection = PlotSelection.Load(request);
        List<IReadOnlyList<Plot>> columns = selection.Tests.Select(t => (IReadOnlyList<Plot>)TestCharts.Build(t)).ToList();
        switch (format)
        {
            case PlotFormat.Png:
                WriteAtomically(output, FigureCanvas.Png(columns));
                break;
            case PlotFormat.Svg:
                WriteAtomically(output, System.Text.Encoding.UTF8.GetBytes(FigureCanvas.Svg(columns)));
                break;
            default:
                List<byte[]> images = columns.Select(c => FigureCanvas.Png([c])).ToList();
                string html = HtmlReport.Write(selection, images, time.GetUtcNow());
                WriteAtomically(output, System.Text.Encoding.UTF8.GetBytes(html));
                break;
        }
        return new PlotResult(output, format, selection);
    }

    // A half-written report never replaces a good one: write beside it, then rename.
    private static void WriteAtomically(string output, byte[] content)
    {
        string full = Path.GetFullPath(output);
        string temporary = Path.Combine(Path.GetDirectoryName(full) ?? ".", $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        File.WriteAllBytes(temporary, content);
        File.Move(temporary, full, overwrite: true);
    }
}
