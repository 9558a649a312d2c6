using System.Net;
using System.Net.Sockets;
using Ippm.Sessions.Control;
using Ippm.Sessions.Time;
using Ippm.Wire;
using Ippm.Wire.Control;

namespace Ippm.Sessions.Twamp;

/// <summary>The Control-Client side of TWAMP-Control (RFC 5357 §3).</summary>
public sealed class TwampControlClient : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly ControlChannel _channel;
    private int _requested;

    private TwampControlClient(TcpClient tcp, ControlChannel channel, ControlHandshakeResult handshake)
    {
        _tcp = tcp;
        _channel = channel;
        Handshake = handshake;
    }

    public ControlHandshakeResult Handshake { get; }
    public SecurityMode Mode => Handshake.Mode;
    public IPEndPoint LocalEndPoint => (IPEndPoint)_tcp.Client.LocalEndPoint!;
    public IPEndPoint RemoteEndPoint => (IPEndPoint)_tcp.Client.RemoteEndPoint!;

    /// <summary>Connects and runs the handshake. Throws <see cref="ControlProtocolException"/> when refused.</summary>
    public static async Task<TwampControlClient> ConnectAsync(
        IPEndPoint server, uint acceptableModes, string? identity, byte[]? secret, uint maxCount, CancellationToken cancellationToken, Ippm.Security.Rfc7717Secret? ike = null)
        => await ConnectAsync(server, acceptableModes, identity, secret, maxCount, wrapStream: null, cancellationToken, ike).ConfigureAwait(false);

    /// <param name="wrapStream">Tests wrap the TCP stream (e.g. to split every read into single octets).</param>
    internal static async Task<TwampControlClient> ConnectAsync(
        IPEndPoint server, uint acceptableModes, string? identity, byte[]? secret, uint maxCount, Func<Stream, Stream>? wrapStream, CancellationToken cancellationToken, Ippm.Security.Rfc7717Secret? ike = null)
    {
        var tcp = new TcpClient(server.AddressFamily) { NoDelay = true };
        try
        {
            await tcp.ConnectAsync(server, cancellationToken).ConfigureAwait(false);
            Stream stream = tcp.GetStream();
            var channel = new ControlChannel(wrapStream?.Invoke(stream) ?? stream);
            ControlHandshakeResult handshake = await ControlHandshake.ConnectAsync(
                channel, ControlProtocol.Twamp, acceptableModes, identity, secret, maxCount, cancellationToken, ike).ConfigureAwait(false);
            return new TwampControlClient(tcp, channel, handshake);
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }

    /// <summary>Sends Request-TW-Session and returns the server's Accept-Session (Accept may be non-zero).</summary>
    public async Task<AcceptSession> RequestSessionAsync(
        IPEndPoint sender, int requestedReflectorPort, uint paddingLength, TimeSpan timeout, byte dscp, CancellationToken cancellationToken)
    {
        IPAddress local = LocalEndPoint.Address;
        IPAddress remote = RemoteEndPoint.Address;
        var request = new SessionRequest
        {
            Command = CommandNumber.RequestTwSession,
            IpVersion = SessionRequest.IpVersionOf(remote),
            SenderPort = (ushort)sender.Port,
            ReceiverPort = (ushort)requestedReflectorPort,
            SenderAddress = Normalize(local),
            ReceiverAddress = Normalize(remote),
            PaddingLength = paddingLength,
            StartTime = NtpTimestamp.FromUnixNanoseconds(SystemClock.Instance.Now().ToUnixNanoseconds() + 100_000_000),
            Timeout = NtpTimestamp.FromSeconds(timeout.TotalSeconds),
            TypePDescriptor = SessionRequest.TypePFromDscp(dscp),
        };
        byte[] message = new byte[SessionRequest.Length];
        request.Write(message);
        await _channel.SendMessageAsync(message, cancellationToken).ConfigureAwait(false);
        byte[] answer = new byte[AcceptSession.Length];
        await _channel.ReadMessageAsync(answer, 0, cancellationToken).ConfigureAwait(false);
        AcceptSession.TryRead(answer, out AcceptSession? accept);
        if (accept!.Accept == AcceptCode.Ok)
        {
            _requested++;
        }
        return accept;
    }

    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    public async Task StartSessionsAsync(CancellationToken cancellationToken)
    {
        byte[] message = new byte[StartSessions.Length];
        new StartSessions().Write(message);
        await _channel.SendMessageAsync(message, cancellationToken).ConfigureAwait(false);
        byte[] answer = new byte[StartAck.Length];
        await _channel.ReadMessageAsync(answer, 0, cancellationToken).ConfigureAwait(false);
        StartAck.TryRead(answer, out StartAck? ack);
        if (ack!.Accept != AcceptCode.Ok)
        {
            throw new ControlProtocolException($"Start-Sessions refused with Accept={(byte)ack.Accept}.", ack.Accept);
        }
    }

    /// <summary>Stop-Sessions with the exact number of accepted sessions (the reference fails the connection otherwise).</summary>
    public async Task StopSessionsAsync(AcceptCode accept, CancellationToken cancellationToken)
    {
        byte[] message = new byte[TwampStopSessions.Length];
        new TwampStopSessions(accept, (uint)_requested).Write(message);
        await _channel.SendMessageAsync(message, cancellationToken).ConfigureAwait(false);
        _requested = 0;
    }

    public async ValueTask DisposeAsync()
    {
        Handshake.Dispose();
        await _channel.DisposeAsync().ConfigureAwait(false);
        _tcp.Dispose();
    }
}
