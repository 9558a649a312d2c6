using System.Buffers.Binary;
using System.Net;
using System.Security.Cryptography;
using Ippm.Sessions.Time;
using Ippm.Wire;

namespace Ippm.Sessions.Control;

/// <summary>
/// Makes SIDs as RFC 4656 §3.5 recommends and the reference does: an IPv4 address of the receiver
/// (the last 4 octets for IPv6), the NTP time of creation, and 4 random octets.
/// </summary>
public static class SessionIdGenerator
{
    public static SessionId Create(IPAddress receiver)
    {
        Span<byte> sid = stackalloc byte[SessionId.Size];
        Span<byte> address = stackalloc byte[16];
        receiver = receiver.IsIPv4MappedToIPv6 ? receiver.MapToIPv4() : receiver;
        receiver.TryWriteBytes(address, out int written);
        address.Slice(written - 4, 4).CopyTo(sid);
        BinaryPrimitives.WriteUInt64BigEndian(sid[4..], SystemClock.Instance.Now().Value);
        RandomNumberGenerator.Fill(sid[12..]);
        return SessionId.Read(sid);
    }
}
