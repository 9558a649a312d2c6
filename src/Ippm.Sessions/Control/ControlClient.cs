using System.Net;
using System.Net.Sockets;
using Ippm.Security;
using Ippm.Wire;
using Ippm.Wire.Control;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ippm.Sessions.Control;

/// <summary>
/// What the OWAMP and TWAMP Control-Clients share: the TCP connection, the handshake, Start-Sessions and
/// teardown. The protocol-specific clients add their session requests and Stop-Sessions.
/// </summary>
public abstract class ControlClient : IAsyncDisposable
{
    private readonly TcpClient _tcp;

    /// <summary>How long a client waits for any answer of the server after the handshake.</summary>
    public static readonly TimeSpan DefaultReplyTimeout = TimeSpan.FromSeconds(30);

    protected ControlClient(TcpClient tcp, ControlChannel channel, ControlHandshakeResult handshake)
    {
        _tcp = tcp;
        Channel = channel;
        Handshake = handshake;
        channel.ReadTimeout ??= DefaultReplyTimeout;
    }

    /// <summary>The deadline on every read from the server after the handshake (Accept-Session, Start-Ack, Stop-Sessions, Fetch).</summary>
    public TimeSpan ReplyTimeout
    {
        get => Channel.ReadTimeout ?? DefaultReplyTimeout;
        set => Channel.ReadTimeout = value;
    }

    public ControlHandshakeResult Handshake { get; }
    public SecurityMode Mode => Handshake.Mode;
    public IPEndPoint LocalEndPoint => (IPEndPoint)_tcp.Client.LocalEndPoint!;
    public IPEndPoint RemoteEndPoint => (IPEndPoint)_tcp.Client.RemoteEndPoint!;

    protected ControlChannel Channel { get; }

    /// <summary>The -v trace of the exchange (<see cref="ControlTrace"/>); a null logger when not tracing.</summary>
    protected ILogger Trace { get; private set; } = NullLogger.Instance;

    /// <summary>Connects and runs the handshake; <paramref name="create"/> wraps the result in the protocol's client.</summary>
    protected static async Task<T> ConnectAsync<T>(
        ControlProtocol protocol,
        IPEndPoint server,
        uint acceptableModes,
        string? identity,
        byte[]? secret,
        uint maxCount,
        Rfc7717Secret? ike,
        Func<Stream, Stream>? wrapStream,
        Func<TcpClient, ControlChannel, ControlHandshakeResult, T> create,
        CancellationToken cancellationToken,
        uint wantedFeatures = 0,
        IPAddress? localAddress = null,
        ILogger? trace = null)
        where T : ControlClient
    {
        trace ??= NullLogger.Instance;
        var tcp = new TcpClient(server.AddressFamily) { NoDelay = true };
        try
        {
            if (localAddress is not null)
            {
                // -S: the control connection, and with it every test socket (bound to its local address), leaves from here.
                tcp.Client.Bind(new IPEndPoint(localAddress, 0));
            }
            await tcp.ConnectAsync(server, cancellationToken).ConfigureAwait(false);
            ControlTrace.Connected(trace, server.ToString(), tcp.Client.LocalEndPoint?.ToString() ?? "?");
            Stream stream = tcp.GetStream();
            var channel = new ControlChannel(wrapStream?.Invoke(stream) ?? stream);
            ControlHandshakeResult handshake = await ControlHandshake.ConnectAsync(
                channel, protocol, acceptableModes, identity, secret, maxCount, cancellationToken, ike, wantedFeatures, trace).ConfigureAwait(false);
            T client = create(tcp, channel, handshake);
            client.Trace = trace;
            return client;
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }

    /// <summary>Start-Sessions / Start-Ack (RFC 4656 §3.7): starts every session accepted on this connection.</summary>
    public async Task StartSessionsAsync(CancellationToken cancellationToken)
    {
        byte[] message = new byte[StartSessions.Length];
        new StartSessions().Write(message);
        await Channel.SendMessageAsync(message, cancellationToken).ConfigureAwait(false);
        byte[] answer = new byte[StartAck.Length];
        await Channel.ReadMessageAsync(answer, 0, cancellationToken).ConfigureAwait(false);
        StartAck.TryRead(answer, out StartAck? ack);
        ControlTrace.StartAck(Trace, (byte)ack!.Accept, ControlTrace.Meaning(ack.Accept));
        if (ack!.Accept != AcceptCode.Ok)
        {
            throw new ControlProtocolException($"Start-Sessions refused with Accept={(byte)ack.Accept}.", ack.Accept);
        }
    }

    /// <summary>Sends a session request (already written, HMAC slot last) and its optional slot section; returns Accept-Session.</summary>
    protected async Task<AcceptSession> RequestAsync(byte[] request, byte[]? slotSection, CancellationToken cancellationToken)
    {
        // Read before sending: sealing encrypts the message in place.
        string name = request[0] == (byte)CommandNumber.RequestTwSession ? "Request-TW-Session" : "Request-Session";
        await Channel.SendMessageAsync(request, cancellationToken).ConfigureAwait(false);
        if (slotSection is not null)
        {
            await Channel.SendMessageAsync(slotSection, cancellationToken).ConfigureAwait(false);
        }
        byte[] answer = new byte[AcceptSession.Length];
        await Channel.ReadMessageAsync(answer, 0, cancellationToken).ConfigureAwait(false);
        AcceptSession.TryRead(answer, out AcceptSession? accept);
        ControlTrace.AcceptSession(Trace, name, (byte)accept!.Accept, ControlTrace.Meaning(accept.Accept), accept.Sid, accept.Port);
        if (accept!.Accept == AcceptCode.Ok && accept.Port == 0)
        {
            // Accepted, but with nowhere to send test packets (or to expect them from): a broken or hostile server.
            throw new ControlProtocolException("The server accepted the session (Accept=0) but gave test port 0; refusing it.", AcceptCode.Failure);
        }
        return accept;
    }

    public async ValueTask DisposeAsync()
    {
        Handshake.Dispose();
        await Channel.DisposeAsync().ConfigureAwait(false);
        _tcp.Dispose();
        GC.SuppressFinalize(this);
    }
}
