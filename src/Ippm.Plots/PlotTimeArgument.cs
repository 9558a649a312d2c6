using System.Globalization;

namespace Ippm.Plots;

/// <summary>
/// <c>--since</c> / <c>--until</c>: an ISO 8601 time (UTC when no offset is given, e.g. <c>2026-12-01T12:00Z</c>
/// or <c>2026-12-01</c>), or a duration before now: a number with <c>s</c>, <c>m</c>, <c>h</c>, <c>d</c> or
/// <c>w</c> (<c>90m</c>, <c>24h</c>, <c>7d</c>).
/// </summary>
public static class PlotTimeArgument
{
    public static bool TryParse(string text, DateTimeOffset now, out DateTimeOffset time)
    {
        time = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }
        char unit = text[^1];
        if (char.IsAsciiLetterLower(unit) && text.Length > 1
            && double.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double amount)
            && amount >= 0)
        {
            double seconds = unit switch
            {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86400,
                'w' => 7 * 86400,
                _ => double.NaN,
            };
            if (double.IsNaN(seconds) || amount * seconds > TimeSpan.MaxValue.TotalSeconds / 2)
            {
                return false;
            }
            time = now - TimeSpan.FromSeconds(amount * seconds);
            return true;
        }
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out DateTimeOffset parsed))
        {
            time = parsed.ToUniversalTime();
            return true;
        }
        return false;
    }
}
