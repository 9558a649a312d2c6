using System.Net;
using System.Net.Sockets;
using Ippm.Security;
using Ippm.Security.TwampLight;
using Ippm.Wire;

namespace Ippm.Sessions.Stamp;

/// <summary>
/// Per-peer STAMP keys (RFC 8762 §4.4 leaves key management out of scope). ippm reads them from a perfSONAR
/// <c>.pfs</c> file, whose identities are read as peer selectors: an IP address, a prefix (<c>192.0.2.0/24</c>,
/// <c>2001:db8::/32</c>) or <c>*</c> for everyone else. The HMAC key is the hex-decoded octets of the line
/// itself, unchanged, so the same hex configures another implementation's STAMP key. The most specific
/// selector wins. A peer matching no line is served in unauthenticated mode. An identity <c>light-A@PEER</c> or
/// <c>light-E@PEER</c> makes the peer a TWAMP-Light sender in authenticated or encrypted mode instead (RFC 5357
/// Appendix I), keyed as <see cref="TwampLightKeys"/> says; STAMP and TWAMP-Light lines compete by specificity alike.
/// </summary>
public sealed class StampKeyStore : IDisposable
{
    private readonly List<Entry> _entries = [];
    private PeerKey? _defaultPeer;

    private sealed record Entry(byte[] Network, int PrefixBits, PeerKey Peer);

    /// <summary>
    /// What a peer's line configures: a STAMP key, or TWAMP-Light keys for mode A or E with the reflector's cipher
    /// (used by the reflector's thread only).
    /// </summary>
    public sealed class PeerKey : IDisposable
    {
        public StampAuthenticator? Stamp { get; init; }
        public TwampLightKeys? TwampLight { get; init; }
        public TestPacketCipher? TwampLightCipher { get; init; }

        public void Dispose()
        {
            Stamp?.Dispose();
            TwampLightCipher?.Dispose();
            TwampLight?.Dispose();
        }
    }

    public StampKeyStore(KeyFile keys)
    {
        foreach (string identity in keys.Identities)
        {
            keys.TryGetSecret(identity, out ReadOnlySpan<byte> secret);
            string selector = identity;
            PeerKey peer;
            if (TwampLightKeys.TryParseIdentity(identity, out SecurityMode lightMode, out string lightPeer))
            {
                selector = lightPeer;
                var lightKeys = new TwampLightKeys(lightMode, secret);
                peer = new PeerKey { TwampLight = lightKeys, TwampLightCipher = lightKeys.CreateCipher() };
            }
            else
            {
                peer = new PeerKey { Stamp = new StampAuthenticator(secret) };
            }
            if (selector == "*")
            {
                if (_defaultPeer is not null)
                {
                    peer.Dispose();
                    Dispose();
                    throw new FormatException("STAMP key file: more than one line for '*'.");
                }
                _defaultPeer = peer;
                continue;
            }
            if (!TryParseSelector(selector, out byte[]? network, out int bits))
            {
                peer.Dispose();
                Dispose();
                throw new FormatException($"STAMP key file: '{identity}' is not an IP address, a prefix or '*' (optionally after light-A@ or light-E@).");
            }
            _entries.Add(new Entry(network!, bits, peer));
        }
        _entries.Sort((a, b) => b.PrefixBits.CompareTo(a.PrefixBits));
    }

    public bool IsEmpty => _defaultPeer is null && _entries.Count == 0;

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

    /// <summary>The STAMP key for a peer given as a raw sockaddr (sockaddr_in or sockaddr_in6), null for unauthenticated (or a TWAMP-Light peer).</summary>
    public StampAuthenticator? Find(ReadOnlySpan<byte> sockaddr) => FindPeer(sockaddr)?.Stamp;

    /// <summary>The most specific line matching a peer given as a raw sockaddr; null when none does.</summary>
    public PeerKey? FindPeer(ReadOnlySpan<byte> sockaddr)
    {
        ReadOnlySpan<byte> address = AddressOf(sockaddr);
        foreach (Entry e in _entries)
        {
            if (e.Network.Length == address.Length && PrefixMatches(e.Network, address, e.PrefixBits))
            {
                return e.Peer;
            }
        }
        return _defaultPeer;
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
            e.Peer.Dispose();
        }
        _entries.Clear();
        _defaultPeer?.Dispose();
        _defaultPeer = null;
    }
}
