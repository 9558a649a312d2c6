using System.Globalization;

namespace Ippm.Sessions.PerfsonarOutput;

/// <summary>
/// C's <c>printf</c> number conversions as glibc prints them, for outputs that must read like perfSONAR's
/// (owstats, twping -M/-R print with <c>%g</c>, <c>%.3g</c>, <c>%.3f</c>).
/// </summary>
public static class CFormat
{
    /// <summary><c>%.Pg</c>: P significant digits, trailing zeros dropped, exponent form when the exponent is below −4 or at least P.</summary>
    public static string G(double value, int precision = 6)
    {
        if (double.IsNaN(value))
        {
            return double.IsNegative(value) ? "-nan" : "nan";
        }
        if (double.IsInfinity(value))
        {
            return value < 0 ? "-inf" : "inf";
        }
        int p = precision == 0 ? 1 : precision;
        if (value == 0)
        {
            return double.IsNegative(value) ? "-0" : "0";
        }
        // The exponent %e would print at this precision (after rounding), which decides the style.
        string e = value.ToString("E" + (p - 1).ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        int exponent = int.Parse(e.AsSpan(e.IndexOf('E') + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        if (exponent < -4 || exponent >= p)
        {
            string mantissa = StripZeros(e[..e.IndexOf('E')]);
            return $"{mantissa}e{(exponent < 0 ? '-' : '+')}{Math.Abs(exponent).ToString("00", CultureInfo.InvariantCulture)}";
        }
        return StripZeros(value.ToString("F" + (p - 1 - exponent).ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture));
    }

    /// <summary><c>%.Nf</c>.</summary>
    public static string F(double value, int decimals) =>
        double.IsNaN(value) ? "nan" : value.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    private static string StripZeros(string fixedPoint)
    {
        if (!fixedPoint.Contains('.', StringComparison.Ordinal))
        {
            return fixedPoint;
        }
        return fixedPoint.TrimEnd('0').TrimEnd('.');
    }
}
