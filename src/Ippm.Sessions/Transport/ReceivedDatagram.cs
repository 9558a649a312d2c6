using Ippm.Wire;

namespace Ippm.Sessions.Transport;

/// <summary>What the transport knows about one received datagram.</summary>
/// <param name="Length">Octets written to the buffer.</param>
/// <param name="ReceiveTime">Kernel receive timestamp where available, else taken right after the call returned.</param>
/// <param name="Ttl">IP TTL / IPv6 Hop Limit of the arriving packet; null when the platform cannot tell.</param>
/// <param name="Truncated">The datagram was longer than the buffer.</param>
/// <param name="Tos">TOS / Traffic Class octet of the arriving packet (DSCP and ECN); null when the platform cannot tell.</param>
public readonly record struct ReceivedDatagram(int Length, NtpTimestamp ReceiveTime, byte? Ttl, bool Truncated, byte? Tos = null);
