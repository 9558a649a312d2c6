using System.Net;
using Ippm.Security;
using Ippm.Sessions.Control;
using Ippm.Sessions.Time;
using Ippm.Wire;
using Ippm.Wire.Control;

namespace Ippm.Sessions.Twamp;

/// <summary>The Control-Client side of TWAMP-Control (RFC 5357 §3).</summary>
public sealed class TwampControlClient : ControlClient
{
    private int _requested;

    private TwampControlClient(System.Net.Sockets.TcpClient tcp, ControlChannel channel, ControlHandshakeResult handshake)
        : base(tcp, channel, handshake)
    {
    }

    /// <summary>Connects and runs the handshake. Throws <see cref="ControlProtocolException"/> when refused.</summary>
    public static Task<TwampControlClient> ConnectAsync(
        IPEndPoint server, uint acceptableModes, string? identity, byte[]? secret, uint maxCount, CancellationToken cancellationToken, Rfc7717Secret? ike = null,
        IPAddress? localAddress = null, Microsoft.Extensions.Logging.ILogger? trace = null)
        => ConnectAsync(ControlProtocol.Twamp, server, acceptableModes, identity, secret, maxCount, ike, wrapStream: null,
            (tcp, channel, handshake) => new TwampControlClient(tcp, channel, handshake), cancellationToken, localAddress, trace);

    /// <param name="wrapStream">Tests wrap the TCP stream (e.g. to split every read into single octets).</param>
    internal static Task<TwampControlClient> ConnectAsync(
        IPEndPoint server, uint acceptableModes, string? identity, byte[]? secret, uint maxCount, Func<Stream, Stream>? wrapStream, CancellationToken cancellationToken, Rfc7717Secret? ike = null)
        => ConnectAsync(ControlProtocol.Twamp, server, acceptableModes, identity, secret, maxCount, ike, wrapStream,
            (tcp, channel, handshake) => new TwampControlClient(tcp, channel, handshake), cancellationToken);

    /// <summary>Sends Request-TW-Session and returns the server's Accept-Session (Accept may be non-zero).</summary>
    public async Task<AcceptSession> RequestSessionAsync(
        IPEndPoint sender, int requestedReflectorPort, uint paddingLength, TimeSpan timeout, byte dscp, CancellationToken cancellationToken)
    {
        IPAddress remote = Normalize(RemoteEndPoint.Address);
        var request = new SessionRequest
        {
            Command = CommandNumber.RequestTwSession,
            IpVersion = SessionRequest.IpVersionOf(remote),
            SenderPort = (ushort)sender.Port,
            ReceiverPort = (ushort)requestedReflectorPort,
            SenderAddress = Normalize(LocalEndPoint.Address),
            ReceiverAddress = remote,
            PaddingLength = paddingLength,
            StartTime = NtpTimestamp.FromUnixNanoseconds(SystemClock.Instance.Now().ToUnixNanoseconds() + 100_000_000),
            Timeout = NtpTimestamp.FromSeconds(timeout.TotalSeconds),
            TypePDescriptor = SessionRequest.TypePFromDscp(dscp),
        };
        byte[] message = new byte[SessionRequest.Length];
        request.Write(message);
        AcceptSession accept = await RequestAsync(message, null, cancellationToken).ConfigureAwait(false);
        if (accept.Accept == AcceptCode.Ok)
        {
            _requested++;
        }
        return accept;
    }

    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    /// <summary>
    /// Completes when the server ends the test on its own: with Stop-Sessions (its Accept value; ippm's server sends one
    /// when it shuts down) or by closing the connection (null). Cancel it once the test is over.
    /// </summary>
    public async Task<AcceptCode?> WaitForServerStopAsync(CancellationToken cancellationToken)
    {
        byte[] first = new byte[16];
        try
        {
            await Channel.ReadBlocksAsync(first, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ControlProtocolException or IOException)
        {
            return null;
        }
        if (first[0] != (byte)CommandNumber.StopSessions)
        {
            throw new ControlProtocolException($"the server sent command {first[0]} during the test; only Stop-Sessions may come");
        }
        byte[] message = new byte[TwampStopSessions.Length];
        first.CopyTo(message, 0);
        await Channel.ReadMessageAsync(message, first.Length, cancellationToken).ConfigureAwait(false);
        TwampStopSessions.TryRead(message, out TwampStopSessions? stop);
        ControlTrace.StopReceived(Trace, (byte)stop!.Accept, (int)stop.SessionCount);
        return stop.Accept;
    }

    /// <summary>Stop-Sessions with the exact number of accepted sessions (the reference fails the connection otherwise).</summary>
    public async Task StopSessionsAsync(AcceptCode accept, CancellationToken cancellationToken)
    {
        byte[] message = new byte[TwampStopSessions.Length];
        new TwampStopSessions(accept, (uint)_requested).Write(message);
        await Channel.SendMessageAsync(message, cancellationToken).ConfigureAwait(false);
        ControlTrace.StopSent(Trace, (byte)accept, (uint)_requested);
        _requested = 0;
    }
}
