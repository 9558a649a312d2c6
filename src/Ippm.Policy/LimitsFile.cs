using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Ippm.Policy;

/// <summary>
/// A perfSONAR limits file (owampd.limits(5), twampd.limits(5)) read unchanged: <c>limit NAME with ATTR=VAL, …</c>,
/// <c>assign net CIDR NAME</c>, <c>assign user ID NAME</c>, <c>assign default NAME</c>. The first limit line is the
/// root and has no parent; every later one must name an already defined parent. Class assignment follows owampd:
/// open mode by the closest <c>assign net</c> match of the peer address; authenticated, encrypted and mixed modes by the
/// identity's <c>assign user</c> (an RFC 7717 peer is the user <c>ike:NAME</c>), falling back to the address; then
/// <c>assign default</c>; then the root.
/// </summary>
public sealed class LimitsFile
{
    private readonly Dictionary<string, LimitClass> _classes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, LimitClass> _users = new(StringComparer.Ordinal);
    private readonly List<(byte[] Prefix, int Bits, LimitClass Class)> _nets = [];

    private LimitsFile(string source) => Source = source;

    /// <summary>The file the policy came from (for log lines).</summary>
    public string Source { get; }

    public LimitClass Root { get; private set; } = null!;

    public LimitClass? Default { get; private set; }

    public IReadOnlyDictionary<string, LimitClass> Classes => _classes;

    /// <summary>The policy of a server without a limits file: one unlimited class that allows open mode.</summary>
    public static LimitsFile Unlimited { get; } = Parse("limit root with allow_open_mode=on", "(built-in)");

    public static LimitsFile Load(string path, Func<string, bool>? isKnownUser = null) =>
        Parse(File.ReadAllText(path), path, isKnownUser);

    /// <param name="isKnownUser">When given, <c>assign user</c> must name an identity of the .pfs file (as owampd checks);
    /// <c>ike:</c> identities are exempt because they come from IKE, not the .pfs file.</param>
    public static LimitsFile Parse(string text, string file, Func<string, bool>? isKnownUser = null)
    {
        var policy = new LimitsFile(file);
        foreach (ConfLines.Line line in ConfLines.Read(text, file))
        {
            List<string> words = ConfLines.Words(line.Text, file, line.Number);
            switch (words[0].ToLowerInvariant())
            {
                case "limit":
                    policy.ParseLimit(line, file);
                    break;
                case "assign":
                    policy.ParseAssign(words, line.Number, file, isKnownUser);
                    break;
                default:
                    throw new PolicyFormatException(file, line.Number, $"expected 'limit' or 'assign', found '{words[0]}'");
            }
        }
        if (policy.Root is null)
        {
            throw new PolicyFormatException(file, 1, "expected at least one 'limit NAME with …' line (the root class)");
        }
        return policy;
    }

    private void ParseLimit(ConfLines.Line line, string file)
    {
        // limit NAME with k=v[, k=v]*
        string rest = line.Text["limit".Length..].TrimStart();
        int nameEnd = IndexOfWhiteSpace(rest);
        string name = nameEnd < 0 ? rest : rest[..nameEnd];
        if (name.Length == 0)
        {
            throw new PolicyFormatException(file, line.Number, "expected a class name after 'limit'");
        }
        if (name.Contains('/', StringComparison.Ordinal) || name.Contains('*', StringComparison.Ordinal) || name.Contains(',', StringComparison.Ordinal) || name.Contains('=', StringComparison.Ordinal))
        {
            throw new PolicyFormatException(file, line.Number, $"class name '{name}' may not contain '/', '*', ',' or '='");
        }
        if (_classes.ContainsKey(name))
        {
            throw new PolicyFormatException(file, line.Number, $"class '{name}' is already defined");
        }
        rest = nameEnd < 0 ? "" : rest[nameEnd..].TrimStart();
        int withEnd = IndexOfWhiteSpace(rest);
        string with = withEnd < 0 ? rest : rest[..withEnd];
        if (!with.Equals("with", StringComparison.OrdinalIgnoreCase))
        {
            throw new PolicyFormatException(file, line.Number, $"expected 'with' after 'limit {name}'");
        }
        rest = withEnd < 0 ? "" : rest[withEnd..];
        var pairs = new List<(string Key, string Value)>();
        if (rest.Trim().Length > 0)
        {
            foreach (string item in rest.Split(','))
            {
                int eq = item.IndexOf('=', StringComparison.Ordinal);
                string key = (eq < 0 ? item : item[..eq]).Trim();
                string value = eq < 0 ? "" : item[(eq + 1)..].Trim();
                if (key.Length == 0 || value.Length == 0 || value.Contains('=', StringComparison.Ordinal) || key.Any(char.IsWhiteSpace) || value.Any(char.IsWhiteSpace))
                {
                    throw new PolicyFormatException(file, line.Number, $"expected ATTRIBUTE=VALUE, found '{item.Trim()}'");
                }
                pairs.Add((key.ToLowerInvariant(), value));
            }
        }
        LimitClass? parent = null;
        foreach ((string key, string value) in pairs.Where(p => p.Key == "parent"))
        {
            if (parent is not null)
            {
                throw new PolicyFormatException(file, line.Number, "more than one 'parent'");
            }
            if (Root is null)
            {
                throw new PolicyFormatException(file, line.Number, "the first limit line defines the root class and cannot have a parent");
            }
            if (!_classes.TryGetValue(value, out parent))
            {
                throw new PolicyFormatException(file, line.Number, $"parent '{value}' is not defined above");
            }
        }
        if (parent is null && Root is not null)
        {
            throw new PolicyFormatException(file, line.Number, $"expected 'parent=CLASS': only the first limit line ('{Root.Name}') is a root");
        }
        var limit = new LimitClass(name, parent, line.Number);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach ((string key, string value) in pairs.Where(p => p.Key != "parent"))
        {
            if (!seen.Add(key))
            {
                throw new PolicyFormatException(file, line.Number, $"'{key}' given twice");
            }
            switch (key)
            {
                case "bandwidth":
                    limit.OwnBandwidth = Number(value, key, file, line.Number);
                    break;
                case "disk":
                    limit.OwnDisk = Number(value, key, file, line.Number);
                    break;
                case "test_sessions":
                    limit.OwnTestSessions = Number(value, key, file, line.Number);
                    break;
                case "delete_on_fetch":
                    limit.OwnDeleteOnFetch = OnOff(value, key, file, line.Number);
                    break;
                case "allow_open_mode":
                    limit.OwnAllowOpenMode = OnOff(value, key, file, line.Number);
                    break;
                default:
                    throw new PolicyFormatException(file, line.Number,
                        $"unknown limit '{key}': expected parent, bandwidth, disk, delete_on_fetch, allow_open_mode or test_sessions");
            }
        }
        _classes.Add(name, limit);
        Root ??= limit;
    }

    private void ParseAssign(List<string> words, int line, string file, Func<string, bool>? isKnownUser)
    {
        if (words.Count < 2)
        {
            throw new PolicyFormatException(file, line, "expected 'assign default|net|user …'");
        }
        string kind = words[1].ToLowerInvariant();
        int expected = kind == "default" ? 3 : 4;
        if (kind is not ("default" or "net" or "user"))
        {
            throw new PolicyFormatException(file, line, $"expected 'default', 'net' or 'user' after 'assign', found '{words[1]}'");
        }
        if (words.Count != expected)
        {
            throw new PolicyFormatException(file, line, kind == "default" ? "expected 'assign default CLASS'" : $"expected 'assign {kind} {(kind == "net" ? "ADDRESS/BITS" : "IDENTITY")} CLASS'");
        }
        string className = words[^1];
        if (!_classes.TryGetValue(className, out LimitClass? target))
        {
            throw new PolicyFormatException(file, line, $"class '{className}' is not defined above");
        }
        switch (kind)
        {
            case "default":
                if (Default is not null)
                {
                    throw new PolicyFormatException(file, line, "more than one 'assign default'");
                }
                Default = target;
                break;
            case "user":
                string user = words[2];
                if (!user.StartsWith("ike:", StringComparison.Ordinal) && isKnownUser is not null && !isKnownUser(user))
                {
                    throw new PolicyFormatException(file, line, $"user '{user}' is not in the .pfs file");
                }
                if (!_users.TryAdd(user, target))
                {
                    throw new PolicyFormatException(file, line, $"user '{user}' is assigned twice");
                }
                break;
            default:
                (byte[] prefix, int bits) = Subnet(words[2], file, line);
                if (_nets.Any(n => n.Bits == bits && n.Prefix.AsSpan().SequenceEqual(prefix)))
                {
                    throw new PolicyFormatException(file, line, $"net {words[2]} is assigned twice");
                }
                _nets.Add((prefix, bits, target));
                break;
        }
    }

    /// <summary>The class owampd uses before authentication (and always in open mode): closest net, else default, else root.</summary>
    public LimitClass ClassifyAddress(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        byte[] bytes = address.GetAddressBytes();
        LimitClass? best = null;
        int bestBits = -1;
        foreach ((byte[] prefix, int bits, LimitClass limit) in _nets)
        {
            if (prefix.Length == bytes.Length && bits > bestBits && Matches(bytes, prefix, bits))
            {
                best = limit;
                bestBits = bits;
            }
        }
        return best ?? Default ?? Root;
    }

    /// <summary>The class of a connection: the identity's <c>assign user</c> when it has one, else by address.</summary>
    public LimitClass Classify(IPAddress address, string? identity) =>
        identity is not null && _users.TryGetValue(identity, out LimitClass? user) ? user : ClassifyAddress(address);

    private static bool Matches(byte[] address, byte[] prefix, int bits)
    {
        int whole = bits / 8;
        if (!address.AsSpan(0, whole).SequenceEqual(prefix.AsSpan(0, whole)))
        {
            return false;
        }
        int rest = bits % 8;
        if (rest == 0)
        {
            return true;
        }
        int mask = 0xFF << (8 - rest) & 0xFF;
        return (address[whole] & mask) == prefix[whole];
    }

    private static (byte[] Prefix, int Bits) Subnet(string text, string file, int line)
    {
        int slash = text.IndexOf('/', StringComparison.Ordinal);
        string addressText = slash < 0 ? text : text[..slash];
        if (!IPAddress.TryParse(addressText, out IPAddress? address) || address.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
        {
            throw new PolicyFormatException(file, line, $"expected an IPv4 or IPv6 address, found '{addressText}'");
        }
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        byte[] bytes = address.GetAddressBytes();
        int bits = bytes.Length * 8;
        if (slash >= 0 && (!int.TryParse(text[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out bits) || bits < 1 || bits > bytes.Length * 8))
        {
            throw new PolicyFormatException(file, line, $"expected a prefix length 1-{bytes.Length * 8} after '/', found '{text[(slash + 1)..]}'");
        }
        for (int bit = bits; bit < bytes.Length * 8; bit++)
        {
            if ((bytes[bit / 8] & (0x80 >> (bit % 8))) != 0)
            {
                throw new PolicyFormatException(file, line, $"'{text}' has address bits set beyond the /{bits} mask");
            }
        }
        return (bytes, bits);
    }

    /// <summary>An integer with an optional SI suffix k, m, g, t, p, e (powers of 1000), as owampd's str2num reads it.</summary>
    internal static ulong Number(string value, string key, string file, int line)
    {
        ulong multiplier = 1;
        string digits = value;
        char last = char.ToLowerInvariant(value[^1]);
        if (!char.IsAsciiDigit(last))
        {
            multiplier = last switch
            {
                'k' => 1_000UL,
                'm' => 1_000_000UL,
                'g' => 1_000_000_000UL,
                't' => 1_000_000_000_000UL,
                'p' => 1_000_000_000_000_000UL,
                'e' => 1_000_000_000_000_000_000UL,
                _ => 0,
            };
            digits = value[..^1];
        }
        if (multiplier == 0 || digits.Length == 0 || !ulong.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out ulong number))
        {
            throw new PolicyFormatException(file, line, $"{key}: expected an integer with an optional k/m/g/t/p/e suffix, found '{value}'");
        }
        try
        {
            return checked(number * multiplier);
        }
        catch (OverflowException)
        {
            throw new PolicyFormatException(file, line, $"{key}: '{value}' is too large");
        }
    }

    internal static bool OnOff(string value, string key, string file, int line) => value.ToLowerInvariant() switch
    {
        "on" => true,
        "off" => false,
        _ => throw new PolicyFormatException(file, line, $"{key}: expected on or off, found '{value}'"),
    };

    private static int IndexOfWhiteSpace(string text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            if (char.IsWhiteSpace(text[i]))
            {
                return i;
            }
        }
        return -1;
    }
}
