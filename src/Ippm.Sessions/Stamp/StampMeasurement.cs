using System.Net;
using Ippm.Sessions.Transport;
using Ippm.Sessions.Twamp;
using Ippm.Wire;

namespace Ippm.Sessions.Stamp;

/// <summary>
/// Runs one STAMP or TWAMP-Light session against a reflector: no control protocol (RFC 8762 §4, RFC 5357
/// Appendix I), just a UDP socket connected to the reflector and the Session-Sender.
/// </summary>
public static class StampMeasurement
{
    public static async Task<StampSessionResult> RunAsync(IPEndPoint reflector, StampSenderOptions options, CancellationToken cancellationToken)
    {
        using UdpTestSocket socket = Connect(reflector);
        return await StampSessionSender.RunAsync(socket, options, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// TWAMP-Light in open mode: TWAMP-Test packets (RFC 5357 §4.1.2) with <paramref name="paddingLength"/> octets of
    /// padding. The default of 30 makes 44-octet packets, the STAMP base size, so STAMP reflectors answer them at
    /// the same size (RFC 8762 §4.6) and the first 41 octets of the answer are TWAMP's reflector packet.
    /// </summary>
    public static async Task<TwampSessionResult> RunTwampLightAsync(
        IPEndPoint reflector, int count, SendSchedule schedule, int paddingLength, byte dscp, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using UdpTestSocket socket = Connect(reflector);
        if (dscp != 0)
        {
            socket.SetDscp(dscp);
        }
        return await TwampSessionSender.RunAsync(socket, default, SecurityMode.Open, null, count, schedule, paddingLength, timeout, cancellationToken).ConfigureAwait(false);
    }

    public const int TwampLightDefaultPadding = 30;

    private static UdpTestSocket Connect(IPEndPoint reflector)
    {
        IPAddress any = reflector.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any;
        var socket = new UdpTestSocket(new IPEndPoint(any, 0), TimeSpan.FromMilliseconds(50));
        try
        {
            socket.Connect(reflector);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
