using System.Net;
using System.Net.Sockets;
using Ippm.Sessions.Server;
using Ippm.Wire;
using Ippm.Wire.Control;
using Microsoft.Extensions.Logging;

namespace Ippm.Sessions.Control;

/// <summary>
/// What every O/TWAMP-Control connection on the server shares: the handshake under a set-up timeout,
/// SERVWAIT while idle, block-wise command reading, and the rule that any protocol error ends only this
/// connection. The protocol-specific command loops derive from it.
/// </summary>
public abstract partial class ControlServerConnection
{
    private readonly ControlChannel _channel;
    private readonly byte[] _first = new byte[ControlChannelBlock];
    private const int ControlChannelBlock = 16;

    protected ControlServerConnection(Stream stream, IPEndPoint local, IPEndPoint remote, ServerOptions options, TestPortAllocator ports, ILogger logger)
    {
        _channel = new ControlChannel(stream);
        Options = options;
        Ports = ports;
        Logger = logger;
        // A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d; test sockets and SIDs want the IPv4 form.
        Local = Unmap(local);
        Remote = Unmap(remote);
        Peer = Remote.ToString();
    }

    protected abstract ControlProtocol Protocol { get; }
    protected ServerOptions Options { get; }
    protected TestPortAllocator Ports { get; }
    protected ILogger Logger { get; }
    protected IPEndPoint Local { get; }
    protected IPEndPoint Remote { get; }
    protected string Peer { get; }
    protected ControlChannel Channel => _channel;

    protected abstract uint OfferedModes { get; }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        ControlHandshakeResult? handshake = null;
        try
        {
            using (var setup = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                setup.CancelAfter(Options.SetupTimeout);
                handshake = await ControlHandshake.AcceptAsync(
                    _channel, Protocol, OfferedModes, Options.Pbkdf2Count, Options.Keys, Logger, Peer, setup.Token, Options.IkeSecrets).ConfigureAwait(false);
            }
            if (handshake is null)
            {
                return;
            }
            Log.Connected(Logger, Peer, Protocol.ToString().ToUpperInvariant(), handshake.Mode.Name(), ControlHandshake.LogSafe(handshake.Identity ?? "-"), handshake.KeySource.ToString());
            await CommandLoopAsync(handshake, cancellationToken).ConfigureAwait(false);
        }
        catch (ControlProtocolException e)
        {
            Log.ProtocolError(Logger, Peer, e.Message);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            Log.TimedOut(Logger, Peer);
        }
        catch (OperationCanceledException)
        {
        }
        catch (IOException e)
        {
            Log.ConnectionLost(Logger, Peer, e.Message);
        }
        catch (SocketException e)
        {
            Log.ConnectionLost(Logger, Peer, e.Message);
        }
        finally
        {
            OnClosed();
            handshake?.Dispose();
            await _channel.DisposeAsync().ConfigureAwait(false);
        }
    }

    protected abstract Task CommandLoopAsync(ControlHandshakeResult handshake, CancellationToken cancellationToken);

    /// <summary>Releases sessions when the connection ends, however it ends.</summary>
    protected abstract void OnClosed();

    /// <summary>
    /// Reads and decrypts the first block of the next command. SERVWAIT applies while no session runs
    /// (RFC 5357 §3.1); during a test the client may be silent. Returns null when the client closed cleanly.
    /// </summary>
    /// <param name="sessionsEnded">While testing: completes when every session has ended on its own (REFWAIT); SERVWAIT
    /// then applies again, so a client that went silent does not hold its connection for ever.</param>
    protected async Task<byte[]?> ReadCommandBlockAsync(bool testing, CancellationToken cancellationToken, Task? sessionsEnded = null)
    {
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (!testing)
        {
            idle.CancelAfter(Options.ServWait);
        }
        else if (sessionsEnded is not null)
        {
            TimeSpan servWait = Options.ServWait;
            _ = sessionsEnded.ContinueWith(
                _ =>
                {
                    try
                    {
                        idle.CancelAfter(servWait);
                    }
                    catch (ObjectDisposedException)
                    {
                        // The read finished first.
                    }
                },
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }
        try
        {
            await _channel.ReadBlocksAsync(_first, idle.Token).ConfigureAwait(false);
        }
        catch (ControlProtocolException) when (!testing)
        {
            Log.ClientClosed(Logger, Peer);
            return null;
        }
        return _first;
    }

    /// <summary>
    /// A deadline for the rest of a command once its first block has arrived (and for the answer), so a client that
    /// trickles or stops mid-message cannot hold the connection: the set-up timeout applies.
    /// </summary>
    protected CancellationTokenSource MessageDeadline(CancellationToken cancellationToken)
    {
        var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(Options.SetupTimeout);
        return deadline;
    }

    /// <summary>Reads the rest of a fixed-size message whose first block is <paramref name="first"/>, HMAC checked.</summary>
    protected async Task<byte[]> ReadRestAsync(byte[] first, int length, CancellationToken cancellationToken)
    {
        byte[] message = new byte[length];
        first.CopyTo(message, 0);
        await _channel.ReadMessageAsync(message, first.Length, cancellationToken).ConfigureAwait(false);
        return message;
    }

    protected delegate void MessageWriter(Span<byte> destination);

    protected async Task SendAsync(MessageWriter write, int length, CancellationToken cancellationToken)
    {
        byte[] message = new byte[length];
        write(message);
        await _channel.SendMessageAsync(message, cancellationToken).ConfigureAwait(false);
    }

    private static IPEndPoint Unmap(IPEndPoint endPoint) =>
        endPoint.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(endPoint.Address.MapToIPv4(), endPoint.Port) : endPoint;

    protected static bool IsUnspecified(IPAddress address) =>
        address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any);

    /// <summary>
    /// The checks Request-Session (OWAMP, RFC 4656 §3.5) and Request-TW-Session (TWAMP, RFC 5357 §3.5) share, in
    /// one place so both protocols refuse alike: Type-P must be a DSCP, padding and Timeout within the server's
    /// limits. Null when acceptable, else Accept=3 (not supported) and the reason to log. A Timeout beyond the
    /// limit is refused, not shortened: the client would otherwise count packets lost that the server dropped.
    /// </summary>
    protected (AcceptCode Accept, string Reason)? CheckSessionLimits(SessionRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Dscp is null)
        {
            return (AcceptCode.NotSupported, $"Type-P descriptor 0x{request.TypePDescriptor:x8} is not a DSCP");
        }
        if (request.PaddingLength > Options.MaxPaddingLength)
        {
            return (AcceptCode.NotSupported, $"padding {request.PaddingLength} exceeds the limit {Options.MaxPaddingLength}");
        }
        if (request.Timeout.TotalSeconds > Options.MaxSessionTimeout.TotalSeconds)
        {
            return (AcceptCode.NotSupported, $"timeout {request.Timeout.TotalSeconds:0.###} s exceeds the limit {Options.MaxSessionTimeout.TotalSeconds} s");
        }
        return null;
    }

    /// <summary>
    /// The peer's test address: the one in the request, or the control peer's when it is unspecified. Null when the
    /// request names another host and third-party sessions are not allowed: otherwise any client could make the
    /// server send test traffic (OWAMP Session-Sender) at a victim.
    /// </summary>
    protected IPAddress? PeerTestAddress(IPAddress requested)
    {
        IPAddress address = IsUnspecified(requested) ? Remote.Address : requested;
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        if (!address.Equals(Remote.Address) && !Options.AllowThirdPartyTestAddresses)
        {
            return null;
        }
        if (address.AddressFamily != Local.Address.AddressFamily)
        {
            address = Local.Address.AddressFamily == AddressFamily.InterNetworkV6 ? address.MapToIPv6() : address.MapToIPv4();
        }
        return address;
    }

    protected static partial class Log
    {
        [LoggerMessage(EventId = 200, Level = LogLevel.Information, Message = "{Peer}: {Protocol}-Control in {Mode} mode, identity {Identity}, key from {KeySource}")]
        public static partial void Connected(ILogger logger, string peer, string protocol, string mode, string identity, string keySource);

        [LoggerMessage(EventId = 201, Level = LogLevel.Warning, Message = "{Peer}: protocol error: {Reason}")]
        public static partial void ProtocolError(ILogger logger, string peer, string reason);

        [LoggerMessage(EventId = 202, Level = LogLevel.Warning, Message = "{Peer}: control connection timed out")]
        public static partial void TimedOut(ILogger logger, string peer);

        [LoggerMessage(EventId = 203, Level = LogLevel.Information, Message = "{Peer}: connection lost: {Reason}")]
        public static partial void ConnectionLost(ILogger logger, string peer, string reason);

        [LoggerMessage(EventId = 204, Level = LogLevel.Information, Message = "{Peer}: session {Sid} accepted on port {Port}, peer {PeerTest}, padding {Padding}")]
        public static partial void SessionAccepted(ILogger logger, string peer, SessionId sid, int port, string peerTest, uint padding);

        [LoggerMessage(EventId = 205, Level = LogLevel.Warning, Message = "{Peer}: session refused with Accept={Accept}: {Reason}")]
        public static partial void SessionRefused(ILogger logger, string peer, byte accept, string reason);

        [LoggerMessage(EventId = 206, Level = LogLevel.Information, Message = "{Peer}: {Count} session(s) started")]
        public static partial void Started(ILogger logger, string peer, int count);

        [LoggerMessage(EventId = 207, Level = LogLevel.Information, Message = "{Peer}: {Count} session(s) stopped (Accept={Accept})")]
        public static partial void Stopped(ILogger logger, string peer, int count, byte accept);

        [LoggerMessage(EventId = 208, Level = LogLevel.Warning, Message = "{Peer}: Stop-Sessions names {Claimed} sessions but {Actual} are running; stopping all")]
        public static partial void StopCountMismatch(ILogger logger, string peer, uint claimed, int actual);

        [LoggerMessage(EventId = 209, Level = LogLevel.Debug, Message = "{Peer}: client closed the control connection")]
        public static partial void ClientClosed(ILogger logger, string peer);

        [LoggerMessage(EventId = 210, Level = LogLevel.Warning, Message = "{Peer}: Fetch-Session refused with Accept={Accept}: {Reason}")]
        public static partial void FetchRefused(ILogger logger, string peer, byte accept, string reason);

        [LoggerMessage(EventId = 211, Level = LogLevel.Information, Message = "{Peer}: fetched {Records} record(s) of session {Sid}")]
        public static partial void Fetched(ILogger logger, string peer, int records, SessionId sid);
    }
}
