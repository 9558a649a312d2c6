using System.Net;
using System.Net.Sockets;
using Ippm.Security;
using Ippm.Wire;
using Ippm.Wire.Control;

namespace Ippm.Sessions.Control;

/// <summary>
/// What the OWAMP and TWAMP Control-Clients share: the TCP connection, the handshake, Start-Sessions and
/// teardown. The protocol-specific clients add their session requests and Stop-Sessions.
/// </summary>
public abstract class ControlClient : IAsyncDisposable
{
    private readonly TcpClient _tcp;

    protected ControlClient(TcpClient tcp, ControlChannel channel, ControlHandshakeResult handshake)
    {
        _tcp = tcp;
        Channel = channel;
        Handshake = handshake;
    }

    public ControlHandshakeResult Handshake { get; }
    public SecurityMode Mode => Handshake.Mode;
    public IPEndPoint LocalEndPoint => (IPEndPoint)_tcp.Client.LocalEndPoint!;
    public IPEndPoint RemoteEndPoint => (IPEndPoint)_tcp.Client.RemoteEndPoint!;
    protected ControlChannel Channel { get; }

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
        uint wantedFeatures = 0)
    {
        var tcp = new TcpClient(server.AddressFamily) { NoDelay = true };
        try
        {
            await tcp.ConnectAsync(server, cancellationToken).ConfigureAwait(false);
            Stream stream = tcp.GetStream();
            var channel = new ControlChannel(wrapStream?.Invoke(stream) ?? stream);
            ControlHandshakeResult handshake = await ControlHandshake.ConnectAsync(
                channel, protocol, acceptableModes, identity, secret, maxCount, cancellationToken, ike, wantedFeatures).ConfigureAwait(false);
            return create(tcp, channel, handshake);
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
        if (ack!.Accept != AcceptCode.Ok)
        {
            throw new ControlProtocolException($"Start-Sessions refused with Accept={(byte)ack.Accept}.", ack.Accept);
        }
    }

    /// <summary>Sends a session request (already written, HMAC slot last) and its optional slot section; returns Accept-Session.</summary>
    protected async Task<AcceptSession> RequestAsync(byte[] request, byte[]? slotSection, CancellationToken cancellationToken)
    {
        await Channel.SendMessageAsync(request, cancellationToken).ConfigureAwait(false);
        if (slotSection is not null)
        {
            await Channel.SendMessageAsync(slotSection, cancellationToken).ConfigureAwait(false);
        }
        byte[] answer = new byte[AcceptSession.Length];
        await Channel.ReadMessageAsync(answer, 0, cancellationToken).ConfigureAwait(false);
        AcceptSession.TryRead(answer, out AcceptSession? accept);
        return accept!;
    }

    public async ValueTask DisposeAsync()
    {
        Handshake.Dispose();
        await Channel.DisposeAsync().ConfigureAwait(false);
        _tcp.Dispose();
        GC.SuppressFinalize(this);
    }
}
