using System.Net;
using System.Net.Sockets;
using Ippm.Policy;
using Ippm.Sessions.Server;
using Ippm.Sessions.Telemetry;
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
    /// <summary>The peer address, and after an RFC 7717 handshake also its IKE identity, for every log line.</summary>
    protected string Peer { get; private set; }
    protected ControlChannel Channel => _channel;

    /// <summary>The per-source accounts this connection reserves sessions, memory and packets from.</summary>
    protected Fairness.ServerShares Shares => Options.Shares;

    private bool _openMode;

    protected abstract uint OfferedModes { get; }

    /// <summary>The limits policy this connection opened under; a reload does not change it.</summary>
    protected LimitsFile Policy { get; private set; } = LimitsFile.Unlimited;

    /// <summary>The connection's class: by identity in protected modes (else by address), by address in open mode.</summary>
    protected LimitClass PolicyClass { get; private set; } = LimitsFile.Unlimited.Root;

    /// <summary>Logs and counts a request the limits policy refused.</summary>
    protected void LogPolicyRefusal(PolicyRefusal refusal, byte accept)
    {
        PolicyLog.Refused(Logger, Peer, refusal.ClassName, refusal.Limit, accept, refusal.Detail);
        ServerMetrics.PolicyRefusal(refusal.Reason);
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        ControlHandshakeResult? handshake = null;
        bool twamp = Protocol == ControlProtocol.Twamp;
        try
        {
            Policy = Options.PolicyFor(Protocol);
            LimitClass addressClass = Policy.ClassifyAddress(Remote.Address);
            uint offered = OfferedModes;
            PolicyRefusal? openRefused = ClassDecisions.CheckOpenMode(addressClass);
            if (openRefused is not null && (offered & (uint)SecurityMode.Open) != 0)
            {
                // owampd.limits(5) allow_open_mode: this address may not test in open mode, so Server-Greeting does not
                // offer it (RFC 4656 §3.1 lets the server offer only the modes it will accept from this client).
                offered &= ~(uint)SecurityMode.Open;
                PolicyLog.OpenModeWithheld(Logger, Peer, addressClass.Name);
            }
            using (var setup = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                setup.CancelAfter(Options.SetupTimeout);
                handshake = await ControlHandshake.AcceptAsync(
                    _channel, Protocol, offered, Options.Pbkdf2Count, Options.Keys, Logger, Peer, setup.Token, Options.IkeSecrets).ConfigureAwait(false);
            }
            if (handshake is null)
            {
                if (openRefused is not null && (OfferedModes & (uint)SecurityMode.Open) != 0)
                {
                    // The client found no mode it accepts among those offered (or was refused in a protected one).
                    PolicyLog.OpenModeRefused(Logger, Peer, openRefused.ClassName);
                    ServerMetrics.PolicyRefusal(openRefused.Reason);
                }
                ServerMetrics.ControlConnection(twamp, "none", "refused");
                return;
            }
            PolicyClass = handshake.Mode == SecurityMode.Open ? addressClass : Policy.Classify(Remote.Address, handshake.Identity);
            ServerMetrics.ControlConnection(twamp, handshake.Mode.Name(), "0");
            PolicyLog.Classified(Logger, Peer, PolicyClass.Name, Policy.Source);
            if (handshake.KeySource == KeySource.Ikev2)
            {
                Peer = $"{Remote} [{ControlHandshake.LogSafe(handshake.Identity ?? "ike")}]";
            }
            Log.Connected(Logger, Peer, Protocol.ToString().ToUpperInvariant(), handshake.Mode.Name(), ControlHandshake.LogSafe(handshake.Identity ?? "-"), Reports.ReportHeader.KeySourceWord(handshake.KeySource));
            _openMode = handshake.Mode == SecurityMode.Open;
            using var lifetime = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            if (_openMode)
            {
                // An unauthenticated client cannot hold its slot (and its sessions) beyond a bounded horizon.
                lifetime.CancelAfter(Options.OpenModeLifetime);
            }
            try
            {
                await CommandLoopAsync(handshake, lifetime.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (lifetime.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                Log.OpenLifetimeReached(Logger, Peer, Options.OpenModeLifetime.TotalSeconds);
            }
        }
        catch (ControlProtocolException e) when (e.InnerException is EndOfStreamException)
        {
            // A peer that just hangs up (a port check, a client that gave up) broke nothing; before the handshake it
            // may also be a flood of them, so those lines are aggregated.
            if (handshake is null)
            {
                Shares.AttackLog(Logger).Event(
                    "control connections the peer closed before the handshake", LogLevel.Information,
                    $"{Peer}: the peer closed the control connection before the handshake completed");
            }
            else
            {
                Log.PeerClosed(Logger, Peer, "without Stop-Sessions");
            }
        }
        catch (ControlProtocolException e) when (handshake is null)
        {
            PreHandshake($"protocol error: {e.Message}");
        }
        catch (ControlProtocolException e)
        {
            Log.ProtocolError(Logger, Peer, e.Message);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && handshake is null)
        {
            PreHandshake($"no Set-Up-Response within {Options.SetupTimeout.TotalSeconds:0.#} s");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            Log.TimedOut(Logger, Peer);
        }
        catch (Exception e) when (e is IOException or SocketException && handshake is null)
        {
            PreHandshake($"connection lost: {e.Message}");
        }
        catch (OperationCanceledException)
        {
            // The server is stopping: tell a client whose sessions run (bounded; it may be gone).
            try
            {
                using var stopping = new CancellationTokenSource(ServerStoppingBound);
                await OnServerStoppingAsync(stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                Log.ConnectionLost(Logger, Peer, e.Message);
            }
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

    /// <summary>Failures before authentication are attack-driven: aggregated, not one line each.</summary>
    private void PreHandshake(string reason) =>
        Shares.AttackLog(Logger).Event("control connections closed before the handshake", LogLevel.Warning, $"{Peer}: closed before the handshake: {reason}");

    protected abstract Task CommandLoopAsync(ControlHandshakeResult handshake, CancellationToken cancellationToken);

    /// <summary>The server is shutting down while this connection is open: end running sessions (Stop-Sessions).</summary>
    protected virtual Task OnServerStoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>How long <see cref="OnServerStoppingAsync"/> may take before the connection closes regardless.</summary>
    protected virtual TimeSpan ServerStoppingBound => TimeSpan.FromSeconds(3);

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
        CancellationTokenRegistration pressure = default;
        if (!testing)
        {
            idle.CancelAfter(Options.ServWait);
            if (_openMode)
            {
                // Under pressure (3/4 of the connection limit held) an idle unauthenticated client yields its slot soon.
                TimeSpan shortIdle = Options.OpenModeIdleUnderPressure;
                pressure = Shares.Pressure.Register(() =>
                {
                    try
                    {
                        idle.CancelAfter(shortIdle);
                    }
                    catch (ObjectDisposedException)
                    {
                    }
                });
            }
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
        finally
        {
            await pressure.DisposeAsync().ConfigureAwait(false);
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

    private static partial class PolicyLog
    {
        [LoggerMessage(EventId = 230, Level = LogLevel.Warning, Message = "{Peer}: policy refused with Accept={Accept}: class '{Class}' limit {Limit}: {Detail}")]
        public static partial void Refused(ILogger logger, string peer, string @class, string limit, byte accept, string detail);

        [LoggerMessage(EventId = 231, Level = LogLevel.Information, Message = "{Peer}: class '{Class}' limit allow_open_mode=off: open mode not offered")]
        public static partial void OpenModeWithheld(ILogger logger, string peer, string @class);

        [LoggerMessage(EventId = 234, Level = LogLevel.Warning, Message = "{Peer}: policy refused: class '{Class}' limit allow_open_mode=off, and the client set up no protected mode")]
        public static partial void OpenModeRefused(ILogger logger, string peer, string @class);

        [LoggerMessage(EventId = 232, Level = LogLevel.Debug, Message = "{Peer}: limit class '{Class}' ({Source})")]
        public static partial void Classified(ILogger logger, string peer, string @class, string source);
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

        [LoggerMessage(EventId = 209, Level = LogLevel.Information, Message = "{Peer}: client closed the control connection")]
        public static partial void ClientClosed(ILogger logger, string peer);

        [LoggerMessage(EventId = 210, Level = LogLevel.Warning, Message = "{Peer}: Fetch-Session refused with Accept={Accept}: {Reason}")]
        public static partial void FetchRefused(ILogger logger, string peer, byte accept, string reason);

        [LoggerMessage(EventId = 212, Level = LogLevel.Information, Message = "{Peer}: the peer closed the control connection {When}")]
        public static partial void PeerClosed(ILogger logger, string peer, string when);

        [LoggerMessage(EventId = 213, Level = LogLevel.Information, Message = "{Peer}: server stopping: sent Stop-Sessions for {Count} running session(s)")]
        public static partial void StoppedByServer(ILogger logger, string peer, int count);

        [LoggerMessage(EventId = 214, Level = LogLevel.Information, Message = "{Peer}: open-mode connection closed after its {Seconds} s lifetime")]
        public static partial void OpenLifetimeReached(ILogger logger, string peer, double seconds);

        [LoggerMessage(EventId = 211, Level = LogLevel.Information, Message = "{Peer}: fetched {Records} record(s) of session {Sid}")]
        public static partial void Fetched(ILogger logger, string peer, int records, SessionId sid);
    }
}
