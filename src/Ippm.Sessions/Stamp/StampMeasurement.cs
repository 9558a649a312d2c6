using System.Net;
using Ippm.Security.TwampLight;
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
    public static Task<TwampSessionResult> RunTwampLightAsync(
        IPEndPoint reflector, int count, SendSchedule schedule, int paddingLength, byte dscp, TimeSpan timeout, CancellationToken cancellationToken) =>
        RunTwampLightAsync(reflector, null, count, schedule, paddingLength, dscp, timeout, cancellationToken);

    /// <summary>
    /// TWAMP-Light in the mode of <paramref name="keys"/> (A or E, RFC 5357 §4.1.2 protected layout, SID and keys
    /// from the configured key as <see cref="TwampLightKeys"/> says), or open mode when it is null.
    /// </summary>
    public static async Task<TwampSessionResult> RunTwampLightAsync(
        IPEndPoint reflector, TwampLightKeys? keys, int count, SendSchedule schedule, int paddingLength, byte dscp, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using UdpTestSocket socket = Connect(reflector);
        if (dscp != 0)
        {
            socket.SetDscp(dscp);
        }
        if (keys is null)
        {
            return await TwampSessionSender.RunAsync(socket, default, SecurityMode.Open, null, count, schedule, paddingLength, timeout, cancellationToken).ConfigureAwait(false);
        }
        return await TwampSessionSender.RunAsync(socket, keys.Sid, keys.Mode, keys.CreateCipher, count, schedule, paddingLength, timeout, cancellationToken).ConfigureAwait(false);
    }

    public const int TwampLightDefaultPadding = 30;

    /// <summary>Modes A and E: 48 + 64 = 112 octets, the protected reflector packet's size, so replies are the same size.</summary>
    public const int TwampLightProtectedDefaultPadding = 64;

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
