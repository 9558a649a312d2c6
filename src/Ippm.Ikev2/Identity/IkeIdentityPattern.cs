using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Ippm.Ikev2.Exchanges;
using Ippm.Ikev2.Messages;

namespace Ippm.Ikev2.Identity;

/// <summary>
/// An IKE identity, or a pattern of them, as a user writes it (<c>--ike-allow</c>, <c>--ike-remote-id</c>, the HOST
/// of twping): an IP address; a DN in strongSwan's order (<c>C=XX, O=Example, CN=*</c>, where a value <c>*</c>
/// matches any value of that attribute); <c>user@host</c>; else a DNS name. In names, <c>*</c> matches any run of
/// characters (strongSwan's glob: <c>*.example.net</c> matches <c>a.example.net</c> and <c>a.b.example.net</c>).
/// Names compare case-insensitively, without a trailing dot.
/// </summary>
public sealed class IkeIdentityPattern
{
    private readonly string _text;
    private readonly IdType _type;
    private readonly IPAddress? _address;
    private readonly string? _glob;
    private readonly (string Oid, string? Value, byte[] Raw)[]? _rdns;
    private readonly byte[]? _exact;
    private readonly bool _wildcards = true;

    private IkeIdentityPattern(string text, IdType type, IPAddress? address = null, string? glob = null, (string, string?, byte[])[]? rdns = null, byte[]? exact = null, bool wildcards = true)
    {
        _wildcards = wildcards;
        _text = text;
        _type = type;
        _address = address;
        _glob = glob;
        _rdns = rdns;
        _exact = exact;
    }

    /// <summary>Parses a pattern; throws <see cref="FormatException"/> with the reason.</summary>
    public static IkeIdentityPattern Parse(string text)
    {
        text = text.Trim();
        if (text.Length == 0)
        {
            throw new FormatException("an empty identity.");
        }
        if (IPAddress.TryParse(text, out IPAddress? address))
        {
            if (address.IsIPv4MappedToIPv6)
            {
                address = address.MapToIPv4();
            }
            return new IkeIdentityPattern(text, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? IdType.Ipv4Address : IdType.Ipv6Address, address);
        }
        if (text.Contains('=', StringComparison.Ordinal))
        {
            IdPayload dn;
            try
            {
                dn = IkeIdentity.Parse(text);
            }
            catch (CryptographicException e)
            {
                throw new FormatException($"'{text}' is not a distinguished name: {e.Message}", e);
            }
            (string Oid, string? Value, byte[] Raw)[] rdns = Rdns(dn.Data) ?? throw new FormatException($"'{text}' is not a distinguished name.");
            if (rdns.Length == 0 || rdns.Any(r => r.Value is { Length: 0 }))
            {
                throw new FormatException($"'{text}': every attribute of a distinguished name needs a value (or *).");
            }
            return new IkeIdentityPattern(text, IdType.DerAsn1Dn, rdns: rdns);
        }
        string name = Normalise(text);
        if (name.Any(c => c <= ' ' || c > '~'))
        {
            throw new FormatException($"'{text}' contains characters a DNS name or e-mail address cannot have.");
        }
        return new IkeIdentityPattern(text, text.Contains('@', StringComparison.Ordinal) ? IdType.Rfc822Address : IdType.Fqdn, glob: name);
    }

    /// <summary>Exactly this ID (no wildcards), e.g. the <c>--remote-id</c> the initiator sent as IDr.</summary>
    public static IkeIdentityPattern Exactly(IdPayload id) => id.Type switch
    {
        IdType.Ipv4Address or IdType.Ipv6Address when IkePeerIdentity.IsAddress(id, out IPAddress? a) => new IkeIdentityPattern(IkeIdentity.Format(id), id.Type, a),
        IdType.DerAsn1Dn when Rdns(id.Data) is { } rdns => new IkeIdentityPattern(IkeIdentity.Format(id), id.Type, rdns: rdns, wildcards: false),
        IdType.Fqdn or IdType.Rfc822Address => new IkeIdentityPattern(IkeIdentity.Format(id), id.Type, glob: Normalise(Encoding.ASCII.GetString(id.Data)), wildcards: false),
        _ => new IkeIdentityPattern(IkeIdentity.Format(id), id.Type, exact: id.Data),
    };

    /// <summary>True when the peer's ID or one of its certificate's names matches.</summary>
    public bool Matches(IkePeerIdentity peer) => Matches(peer.Id) || peer.Certified.Any(Matches);

    public bool Matches(IdPayload id)
    {
        if (_exact is not null)
        {
            return id.Type == _type && id.Data.AsSpan().SequenceEqual(_exact);
        }
        switch (_type)
        {
            case IdType.Ipv4Address or IdType.Ipv6Address:
                return IkePeerIdentity.IsAddress(id, out IPAddress? address) && address!.Equals(_address);
            case IdType.DerAsn1Dn:
                return id.Type == IdType.DerAsn1Dn && Rdns(id.Data) is { } rdns && rdns.Length == _rdns!.Length
                    && rdns.Zip(_rdns).All(p => p.First.Oid == p.Second.Oid && ValueMatches(p.Second, p.First, _wildcards));
            default:
                string name = Normalise(Encoding.ASCII.GetString(id.Data));
                return id.Type == _type && (_wildcards ? Glob(_glob!, name) : string.Equals(_glob, name, StringComparison.OrdinalIgnoreCase));
        }
    }

    public override string ToString() => _text;

    private static bool ValueMatches((string Oid, string? Value, byte[] Raw) pattern, (string Oid, string? Value, byte[] Raw) actual, bool wildcards)
    {
        if (pattern.Value is null || actual.Value is null)
        {
            return pattern.Raw.AsSpan().SequenceEqual(actual.Raw); // multi-valued RDNs: exact encoding only
        }
        return (wildcards && pattern.Value == "*") || string.Equals(pattern.Value, actual.Value, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>RDNs in encoding order (strongSwan's order), or null when the octets are no DN.</summary>
    private static (string Oid, string? Value, byte[] Raw)[]? Rdns(byte[] der)
    {
        try
        {
            return [.. new X500DistinguishedName(der).EnumerateRelativeDistinguishedNames(reversed: false)
                .Select(r => (r.HasMultipleElements ? "" : r.GetSingleElementType().Value ?? "", r.HasMultipleElements ? null : r.GetSingleElementValue(), r.RawData.ToArray()))];
        }
        catch (CryptographicException)
        {
            return null;
        }
    }

    private static string Normalise(string name) => name.EndsWith('.') ? name[..^1] : name;

    /// <summary>Case-insensitive match where '*' stands for any run of characters.</summary>
    private static bool Glob(string pattern, string text)
    {
        int p = 0, t = 0, star = -1, mark = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && pattern[p] != '*' && char.ToLowerInvariant(pattern[p]) == char.ToLowerInvariant(text[t]))
            {
                p++;
                t++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                mark = t;
            }
            else if (star >= 0)
            {
                p = star + 1;
                t = ++mark;
            }
            else
            {
                return false;
            }
        }
        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }
        return p == pattern.Length;
    }
}

/// <summary>Which authenticated IKE identities may set up SAs (<c>--ike-allow</c>); an empty list allows none.</summary>
public sealed class IkePeerPolicy
{
    public IkePeerPolicy(IEnumerable<IkeIdentityPattern> allowed)
    {
        Allowed = [.. allowed];
    }

    public IReadOnlyList<IkeIdentityPattern> Allowed { get; }

    /// <summary>Null when the peer may proceed, otherwise why not (naming the identity), for the log.</summary>
    public string? Refusal(IkePeerIdentity peer) =>
        Allowed.Any(p => p.Matches(peer))
            ? null
            : $"identity '{peer.Describe()}' matches none of the allowed identities ({string.Join("; ", Allowed)})";
}
