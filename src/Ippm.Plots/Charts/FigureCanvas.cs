using ScottPlot;
using SkiaSharp;

namespace Ippm.Plots.Charts;

/// <summary>
/// Lays out the panels of one or more tests on one canvas: each test is a column of its panels, at most
/// <see cref="MaxColumns"/> columns, further tests in further rows. The same layout renders to PNG (raster) or
/// SVG (SkiaSharp's SVG canvas: text stays text, so titles and labels are searchable).
/// </summary>
internal static class FigureCanvas
{
    public const int MaxColumns = 3;

    public static byte[] Png(IReadOnlyList<IReadOnlyList<Plot>> columns)
    {
        (int width, int height) = Size(columns);
        using var surface = SKSurface.Create(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul))
            ?? throw new InvalidOperationException($"SkiaSharp could not create a {width}×{height} surface");
        Draw(surface.Canvas, columns);
        using SKImage image = surface.Snapshot();
        using SKData data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    public static string Svg(IReadOnlyList<IReadOnlyList<Plot>> columns)
    {
        (int width, int height) = Size(columns);
        using var stream = new MemoryStream();
        using (var managed = new SKManagedWStream(stream))
        using (SKCanvas canvas = SKSvgCanvas.Create(SKRect.Create(width, height), managed))
        {
            Draw(canvas, columns);
        }
        string svg = System.Text.Encoding.UTF8.GetString(stream.ToArray());
        // A viewer draws SVG text with its own fonts: name fallbacks so hosts without DejaVu still get a sans face.
        return svg.Replace($"font-family=\"{PlotFonts.Family}\"", $"font-family=\"{PlotFonts.Family}, Verdana, Arial, sans-serif\"", StringComparison.Ordinal);
    }

    private static (int Width, int Height) Size(IReadOnlyList<IReadOnlyList<Plot>> columns)
    {
        int perRow = Math.Min(columns.Count, MaxColumns);
        int rows = (columns.Count + MaxColumns - 1) / MaxColumns;
        int tallest = columns.Max(c => c.Count);
        return (perRow * TestCharts.PanelWidth, rows * tallest * TestCharts.PanelHeight);
    }

    private static void Draw(SKCanvas canvas, IReadOnlyList<IReadOnlyList<Plot>> columns)
    {
        canvas.Clear(SKColors.White);
        int tallest = columns.Max(c => c.Count);
        for (int i = 0; i < columns.Count; i++)
        {
            float left = i % MaxColumns * TestCharts.PanelWidth;
            float top = i / MaxColumns * tallest * TestCharts.PanelHeight;
            for (int j = 0; j < columns[i].Count; j++)
            {
                float panelTop = top + (j * TestCharts.PanelHeight);
                var rect = new PixelRect(left, left + TestCharts.PanelWidth, panelTop + TestCharts.PanelHeight, panelTop);
                // ScottPlot clears the canvas before drawing a figure; the clip keeps that to the panel's own rectangle.
                canvas.Save();
                canvas.ClipRect(SKRect.Create(left, panelTop, TestCharts.PanelWidth, TestCharts.PanelHeight));
                columns[i][j].Render(canvas, rect);
                canvas.Restore();
            }
        }
    }
}
