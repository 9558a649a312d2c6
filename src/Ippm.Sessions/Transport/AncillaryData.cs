using System.Net.Sockets;
using Ippm.Wire;

namespace Ippm.Sessions.Transport;

/// <summary>What the kernel said about one received datagram in its ancillary data; null or empty where it said nothing.</summary>
internal ref struct ReceivedAncillaryData
{
    /// <summary>SO_TIMESTAMPNS: when the kernel received the datagram.</summary>
    public NtpTimestamp? KernelTime;

    /// <summary>IP_TTL / IPV6_HOPLIMIT as received.</summary>
    public byte? Ttl;

    /// <summary>IP_TOS / IPV6_TCLASS: the whole octet, DSCP &lt;&lt; 2 | ECN (RFC 7750).</summary>
    public byte? Tos;

    /// <summary>IP_PKTINFO / IPV6_PKTINFO: the local address the datagram was sent to (4 or 16 octets).</summary>
    public ReadOnlySpan<byte> LocalAddress;
}

/// <summary>
/// The Linux ancillary data (cmsg(3)) of ippm's test sockets: the options that ask for it per received datagram,
/// one walk that reads all of it, and the TOS / Traffic Class a sendmmsg slot carries. A cmsghdr is cmsg_len
/// (size_t), level (int), type (int), then the data; each is aligned to 8 octets (x86-64 and arm64, the
/// architectures <see cref="NativeAbi"/> admits and NativeLayoutTests checks).
/// </summary>
internal static unsafe class AncillaryData
{
    private const int HeaderLength = 16;
    private const int SolSocket = 1;
    private const int SoTimestampNs = 35;
    private const int IpProtoIp = 0;
    private const int IpTos = 1;
    private const int IpTtl = 2;
    private const int IpPktInfo = 8;
    private const int IpRecvTtl = 12;
    private const int IpRecvTos = 13;
    private const int IpProtoIpv6 = 41;
    private const int Ipv6RecvPktInfo = 49;
    private const int Ipv6PktInfo = 50;
    private const int Ipv6RecvHopLimit = 51;
    private const int Ipv6HopLimit = 52;
    private const int Ipv6RecvTclass = 66;
    private const int Ipv6Tclass = 67;
    private const int InPktInfoLength = 12; // struct in_pktinfo: ifindex, spec_dst, addr
    private const int InPktInfoAddrOffset = 8;
    private const int In6PktInfoLength = 20; // struct in6_pktinfo: addr, ifindex

    /// <summary>Octets one TOS / Traffic Class cmsg takes (header and an int).</summary>
    public const int TrafficClassLength = HeaderLength + 8;

    /// <summary>
    /// Asks for each datagram's kernel receive time, TTL / Hop Limit and TOS / Traffic Class (SO_TIMESTAMPNS,
    /// IP_RECVTTL, IP_RECVTOS; IPV6_RECVHOPLIMIT, IPV6_RECVTCLASS).
    /// </summary>
    public static bool TryEnableReceive(Socket socket) => TryTurnOn(socket,
        [(SolSocket, SoTimestampNs)], [(IpProtoIpv6, Ipv6RecvHopLimit), (IpProtoIpv6, Ipv6RecvTclass)], [(IpProtoIp, IpRecvTtl), (IpProtoIp, IpRecvTos)]);

    /// <summary>Also asks for the local address each datagram arrived at (IP_PKTINFO, IPV6_RECVPKTINFO), with its TOS / Traffic Class.</summary>
    public static bool TryEnableLocalAddress(Socket socket) => TryTurnOn(socket,
        [], [(IpProtoIpv6, Ipv6RecvTclass), (IpProtoIpv6, Ipv6RecvPktInfo)], [(IpProtoIp, IpRecvTos), (IpProtoIp, IpPktInfo)]);

    /// <summary>
    /// Sets each option to 1: <paramref name="any"/> always, <paramref name="ipv6"/> on an IPv6 socket,
    /// <paramref name="ipv4"/> on an IPv4 one and on a dual-mode one (its v4-mapped peers' datagrams take the IPv4
    /// path). False when the platform refuses one.
    /// </summary>
    private static bool TryTurnOn(Socket socket, ReadOnlySpan<(int Level, int Name)> any, ReadOnlySpan<(int Level, int Name)> ipv6, ReadOnlySpan<(int Level, int Name)> ipv4)
    {
        bool v6 = socket.AddressFamily == AddressFamily.InterNetworkV6;
        try
        {
            TurnOn(socket, any);
            if (v6)
            {
                TurnOn(socket, ipv6);
            }
            if (!v6 || socket.DualMode)
            {
                TurnOn(socket, ipv4);
            }
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static void TurnOn(Socket socket, ReadOnlySpan<(int Level, int Name)> options)
    {
        foreach ((int level, int name) in options)
        {
            socket.SetRawSocketOption(level, name, BitConverter.GetBytes(1));
        }
    }

    /// <summary>
    /// Reads every cmsg of <paramref name="length"/> octets at <paramref name="control"/>; a malformed one (shorter
    /// than its header, or running past the end) ends the walk with what was read so far.
    /// <paramref name="local"/> (16 octets) receives the local address, which <see cref="ReceivedAncillaryData.LocalAddress"/> then views.
    /// </summary>
    public static ReceivedAncillaryData Read(byte* control, int length, Span<byte> local)
    {
        var data = default(ReceivedAncillaryData);
        int offset = 0;
        while (offset + HeaderLength <= length)
        {
            nuint cmsgLength = *(nuint*)(control + offset);
            int level = *(int*)(control + offset + 8);
            int type = *(int*)(control + offset + 12);
            byte* payload = control + offset + HeaderLength;
            if (cmsgLength < HeaderLength || offset + (long)cmsgLength > length)
            {
                break;
            }
            switch (level, type)
            {
                case (SolSocket, SoTimestampNs) when cmsgLength >= HeaderLength + 16:
                    long seconds = *(long*)payload;
                    long nanos = *(long*)(payload + 8);
                    data.KernelTime = NtpTimestamp.FromUnixNanoseconds(seconds * 1_000_000_000L + nanos);
                    break;
                case (IpProtoIp, IpTtl) or (IpProtoIpv6, Ipv6HopLimit) when cmsgLength >= HeaderLength + 4:
                    data.Ttl = (byte)*(int*)payload;
                    break;
                case (IpProtoIp, IpTos) when cmsgLength >= HeaderLength + 1:
                    data.Tos = *payload; // IP_TOS carries one octet
                    break;
                case (IpProtoIpv6, Ipv6Tclass) when cmsgLength >= HeaderLength + 4:
                    data.Tos = (byte)*(int*)payload;
                    break;
                case (IpProtoIp, IpPktInfo) when cmsgLength >= HeaderLength + InPktInfoLength:
                    // ipi_addr: the header's destination address (spec_dst is the route's local address).
                    new ReadOnlySpan<byte>(payload + InPktInfoAddrOffset, 4).CopyTo(local);
                    data.LocalAddress = local[..4];
                    break;
                case (IpProtoIpv6, Ipv6PktInfo) when cmsgLength >= HeaderLength + In6PktInfoLength:
                    new ReadOnlySpan<byte>(payload, 16).CopyTo(local); // ipi6_addr comes first
                    data.LocalAddress = local[..16];
                    break;
            }
            offset += (int)((cmsgLength + 7) & ~(nuint)7);
        }
        return data;
    }

    /// <summary>Writes the cmsg that sends one datagram with <paramref name="trafficClass"/> (IP_TOS or IPV6_TCLASS, as an int); returns its length.</summary>
    public static int WriteTrafficClass(byte* control, bool ipv6, int trafficClass)
    {
        *(nuint*)control = HeaderLength + 4;
        *(int*)(control + 8) = ipv6 ? IpProtoIpv6 : IpProtoIp;
        *(int*)(control + 12) = ipv6 ? Ipv6Tclass : IpTos;
        *(int*)(control + HeaderLength) = trafficClass;
        return TrafficClassLength;
    }
}
