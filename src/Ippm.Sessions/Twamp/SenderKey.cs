using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Ippm.Sessions.Twamp;

/// <summary>
/// A test packet sender's address and port as a shared reflector port tells its sessions apart: IPv4 addresses in their
/// IPv4-mapped IPv6 form, so a sender seen through a dual-stack socket and one named in Request-TW-Session compare
/// equal. Built from a received sockaddr without allocating.
/// </summary>
public readonly record struct SenderKey(ulong High, ulong Low, ushort Port)
{
    private const ulong V4MappedPrefix = 0x0000FFFF_00000000;
    private const ushort AfInet = 2;
    private const ushort AfInet6 = 10;

    public static SenderKey From(IPEndPoint endPoint)
    {
        IPAddress address = endPoint.Address;
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            Span<byte> v4 = stackalloc byte[4];
            address.TryWriteBytes(v4, out _);
            return new SenderKey(0, V4MappedPrefix | BinaryPrimitives.ReadUInt32BigEndian(v4), (ushort)endPoint.Port);
        }
        Span<byte> v6 = stackalloc byte[16];
        address.TryWriteBytes(v6, out _);
        return new SenderKey(BinaryPrimitives.ReadUInt64BigEndian(v6), BinaryPrimitives.ReadUInt64BigEndian(v6[8..]), (ushort)endPoint.Port);
    }

    /// <summary>From a Linux sockaddr_in or sockaddr_in6 as recvmmsg fills it; false for anything else.</summary>
    public static bool TryFrom(ReadOnlySpan<byte> sockaddr, out SenderKey key)
    {
        key = default;
        if (sockaddr.Length < 8)
        {
            return false;
        }
        // sa_family is in host order (little-endian on the architectures NativeAbi allows), the port in network order.
        ushort family = BinaryPrimitives.ReadUInt16LittleEndian(sockaddr);
        ushort port = BinaryPrimitives.ReadUInt16BigEndian(sockaddr[2..]);
        if (family == AfInet)
        {
            key = new SenderKey(0, V4MappedPrefix | BinaryPrimitives.ReadUInt32BigEndian(sockaddr[4..]), port);
            return true;
        }
        if (family == AfInet6 && sockaddr.Length >= 24)
        {
            key = new SenderKey(BinaryPrimitives.ReadUInt64BigEndian(sockaddr[8..]), BinaryPrimitives.ReadUInt64BigEndian(sockaddr[16..]), port);
            return true;
        }
        return false;
    }
}
