using System.Globalization;

namespace Ippm.Cli;

/// <summary>
/// owping's and twping's <c>-D</c>: a DSCP as C's <c>strtoul(…, 0)</c> reads it (decimal, <c>0x</c> hex, leading-0
/// octal) or one of RFC 4594's names (<c>EF</c>, <c>AF11</c>–<c>AF43</c>, <c>CS0</c>–<c>CS7</c>, <c>DF</c>,
/// <c>default</c>, <c>none</c>), in any case.
/// </summary>
internal static class DscpParser
{
    public static bool TryParse(string text, out byte dscp)
    {
        dscp = 0;
        string t = text.Trim().ToUpperInvariant();
        uint value;
        if (t.Length > 2 && t.StartsWith("0X", StringComparison.Ordinal))
        {
            if (!uint.TryParse(t.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value))
            {
                return false;
            }
        }
        else if (t.Length > 1 && t[0] == '0')
        {
            if (!t.All(c => c is >= '0' and <= '7'))
            {
                return false;
            }
            value = t.Aggregate(0u, (v, c) => v > 63 ? v : (v * 8) + (uint)(c - '0'));
        }
        else if (t.Length > 0 && char.IsAsciiDigit(t[0]))
        {
            if (!uint.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out value))
            {
                return false;
            }
        }
        else if (Named(t) is byte named)
        {
            value = named;
        }
        else
        {
            return false;
        }
        if (value > 63)
        {
            return false;
        }
        dscp = (byte)value;
        return true;
    }

    /// <summary>RFC 4594 §3 (Figure 3): class selectors CSn = n·8, assured forwarding AFxy = x·8 + y·2, EF = 46.</summary>
    private static byte? Named(string name) => name switch
    {
        "NONE" or "DEFAULT" or "DF" => 0,
        "EF" => 46,
        ['C', 'S', >= '0' and <= '7' and var n] => (byte)((n - '0') * 8),
        ['A', 'F', >= '1' and <= '4' and var x, >= '1' and <= '3' and var y] => (byte)(((x - '0') * 8) + ((y - '0') * 2)),
        _ => null,
    };
}
