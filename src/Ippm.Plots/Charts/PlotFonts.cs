using System.Reflection;
using ScottPlot;
using SkiaSharp;

namespace Ippm.Plots.Charts;

/// <summary>
/// The typeface every chart draws with: DejaVu Sans, embedded in this assembly, so labels render on a server
/// that has no fonts installed (SkiaSharp's fontconfig-free native build finds none there and would draw no
/// text at all). SVG output names the family with generic fallbacks, because an SVG viewer uses its own fonts.
/// </summary>
internal static class PlotFonts
{
    public const string Family = "DejaVu Sans";
    private static readonly Lock s_gate = new();
    private static bool s_installed;

    public static void Install()
    {
        lock (s_gate)
        {
            if (s_installed)
            {
                return;
            }
            var resolver = new EmbeddedFontResolver(Load("Ippm.Plots.DejaVuSans.ttf"), Load("Ippm.Plots.DejaVuSans-Bold.ttf"));
            Fonts.FontResolvers.Insert(0, resolver);
            Fonts.Default = Family;
            Fonts.Sans = Family;
            s_installed = true;
        }
    }

    private static SKTypeface Load(string resource)
    {
        using Stream stream = typeof(PlotFonts).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"embedded font {resource} is missing from {typeof(PlotFonts).Assembly.GetName().Name}");
        return SKTypeface.FromStream(stream) ?? throw new InvalidOperationException($"embedded font {resource} does not load");
    }

    private sealed class EmbeddedFontResolver(SKTypeface regular, SKTypeface bold) : IFontResolver
    {
        // Every family resolves to DejaVu Sans: ScottPlot asks for its default names too, and drawing a label in
        // a font that is not there draws nothing.
        public SKTypeface CreateTypeface(string fontName, bool bold1, bool italic) => bold1 ? bold : regular;

        public SKTypeface CreateTypeface(string fontName, FontWeight weight, FontSlant slant, FontSpacing spacing) =>
            weight >= FontWeight.SemiBold ? bold : regular;
    }
}
