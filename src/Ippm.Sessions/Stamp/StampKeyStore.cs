using System.Net;
using System.Net.Sockets;
using Ippm.Security;

namespace Ippm.Sessions.Stamp;

/// <summary>
/// Per-peer STAMP keys (RFC 8762 §4.4 leaves key management out of scope). ippm reads them from a perfSONAR
/// <c>.pfs</c> file, whose identities are read as peer selectors: an IP address, a prefix (<c>192.0.2.0/24</c>,
/// <c>2001:db8::/32</c>) or <c>*</c> for everyone else. The HMAC key is the hex-decoded octets of the line
/// itself, unchanged, so the same hex configures another implementation's STAMP key. The most specific
/// selector wins. A peer matching no line is served in unauthenticated mode.
/// </summary>
public sealed class StampKeyStore : IDisposable
{
    private readonly List<Entry> _entries = [];
    private readonly StampAuthenticator? _default;

    private sealed record Entry(byte[] Network, int PrefixBits, StampAuthenticator Authenticator);

    public StampKeyStore(KeyFile keys)
    {
        foreach (string identity in keys.Identities)
        {
            keys.TryGetSecret(identity, out ReadOnlySpan<byte> secret);
            if (identity == "*")
            {
                _default = new StampAuthenticator(secret);
                continue;
            }
            if (!TryParseSelector(identity, out byte[]? network, out int bits))
            {
                Dispose();
                throw new FormatException($"STAMP key file: '{identity}' is not an IP address, a prefix or '*'.");
            }
            _entries.Add(new Entry(network!, bits, new StampAuthenticator(secret)));
        }
        _entries.Sort((a, b) => b.PrefixBits.CompareTo(a.PrefixBits));
    }

    public bool IsEmpty => _default is null && _entries.Count == 0;

    private static bool TryParseSelector(string text, out byte[]? network, out int bits)
    {
        network = null;
        bits = 0;
        string[] parts = text.Split('/');
        if (parts.Length > 2 || !IPAddress.TryParse(parts[0], out IPAddress? address))
        {
            return false;
        }
        network = address.GetAddressBytes();
        int max = network.Length * 8;
        bits = max;
        return parts.Length == 1 || (int.TryParse(parts[1], System.Globalization.CultureInfo.InvariantCulture, out bits) && bits >= 0 && bits <= max);
    }

    /// <summary>The key for a peer given as a raw sockaddr (sockaddr_in or sockaddr_in6), null for unauthenticated.</summary>
    public StampAuthenticator? Find(ReadOnlySpan<byte> sockaddr)
    {
        ReadOnlySpan<byte> address = AddressOf(sockaddr);
        foreach (Entry e in _entries)
        {
            if (e.Network.Length == address.Length && PrefixMatches(e.Network, address, e.PrefixBits))
            {
                return e.Authenticator;
            }
        }
        return _default;
    }

    public StampAuthenticator? Find(IPEndPoint peer)
    {
        Span<byte> sockaddr = stackalloc byte[28];
        return Find(SockaddrOf(peer, sockaddr));
    }

    /// <summary>
    /// The address octets of a raw sockaddr: 4 for AF_INET, 16 for AF_INET6, empty otherwise. An IPv4-mapped IPv6
    /// address (an IPv4 peer of a dual-stack listener) gives its 4 IPv4 octets, so IPv4 selectors match it.
    /// </summary>
    public static ReadOnlySpan<byte> AddressOf(ReadOnlySpan<byte> sockaddr)
    {
        if (sockaddr.Length >= 8 && sockaddr[0] == 2)
        {
            return sockaddr.Slice(4, 4);
        }
        return sockaddr.Length >= 24 && sockaddr[0] == 10 ? Unmap(sockaddr.Slice(8, 16)) : [];
    }

    /// <summary>::ffff:a.b.c.d as a.b.c.d; any other address unchanged.</summary>
    public static ReadOnlySpan<byte> Unmap(ReadOnlySpan<byte> address) =>
        address.Length == 16 && address[..10].IndexOfAnyExcept((byte)0) < 0 && address[10] == 0xFF && address[11] == 0xFF ? address[12..] : address;

    /// <summary>The UDP port of a raw sockaddr (both families keep it big-endian at octets 2–3).</summary>
    public static ushort PortOf(ReadOnlySpan<byte> sockaddr) => sockaddr.Length >= 4 ? (ushort)((sockaddr[2] << 8) | sockaddr[3]) : (ushort)0;

    /// <summary>Linux sockaddr layout of an endpoint (family is host order on Linux; port big-endian).</summary>
    public static ReadOnlySpan<byte> SockaddrOf(IPEndPoint endPoint, Span<byte> destination)
    {
        destination.Clear();
        bool v6 = endPoint.AddressFamily == AddressFamily.InterNetworkV6;
        destination[0] = (byte)(v6 ? 10 : 2);
        destination[2] = (byte)(endPoint.Port >> 8);
        destination[3] = (byte)endPoint.Port;
        endPoint.Address.TryWriteBytes(destination[(v6 ? 8 : 4)..], out _);
        return destination[..(v6 ? 28 : 16)];
    }

    private static bool PrefixMatches(byte[] network, ReadOnlySpan<byte> address, int bits)
    {
        int full = bits / 8;
        if (!address[..full].SequenceEqual(network.AsSpan(0, full)))
        {
            return false;
        }
        int rest = bits % 8;
        if (rest == 0)
        {
            return true;
        }
        int mask = 0xFF << (8 - rest) & 0xFF;
        return (address[full] & mask) == (network[full] & mask);
    }

    public void Dispose()
    {
        foreach (Entry e in _entries)
        {
            e.Authenticator.Dispose();
        }
        _entries.Clear();
        _default?.Dispose();
    }
}
