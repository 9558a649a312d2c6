using System.Net;
using System.Net.Sockets;
using Ippm.Sessions.Twamp;
using Microsoft.Extensions.Logging;

namespace Ippm.Sessions.Server;

/// <summary>
/// The O/TWAMP server process: control listeners, a connection limit, and one task per connection.
/// A connection that misbehaves only ever loses itself.
/// </summary>
public sealed partial class IppmServer : IAsyncDisposable
{
    private readonly ServerOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _acceptLoops = [];
    private readonly HashSet<Task> _connections = [];
    private readonly TestPortAllocator _ports;
    private TcpListener? _twampListener;
    private TcpListener? _owampListener;
    private long _served;
    private bool _disposed;
    private readonly Fairness.ServerShares _shares;
    private readonly Ippm.Ikev2.Fairness.AttackLog _attackLog;

    public IppmServer(ServerOptions options, ILoggerFactory loggerFactory)
    {
        _options = options;
        _logger = loggerFactory.CreateLogger("Ippm.Server");
        Engine.SessionEngine.SharedLogger ??= loggerFactory.CreateLogger("Ippm.Engine");
        Transport.NativeAbi.LogIfOff(_logger);
        _ports = new TestPortAllocator(options.TestPorts);
        _shares = options.Shares;
        _attackLog = _shares.AttackLog(_logger);
    }

    public IPEndPoint? TwampEndPoint => (IPEndPoint?)_twampListener?.LocalEndpoint;

    public IPEndPoint? OwampEndPoint => (IPEndPoint?)_owampListener?.LocalEndpoint;

    public void Start()
    {
        if (_options.TwampListen is { } twamp)
        {
            _twampListener = Listen(twamp, "TWAMP-Control (--twamp-listen)");
            Log.Listening(_logger, "TWAMP", TwampEndPoint!.ToString());
            _acceptLoops.Add(AcceptLoopAsync(_twampListener, HandleTwampAsync));
        }
        if (_options.OwampListen is { } owamp)
        {
            _owampListener = Listen(owamp, "OWAMP-Control (--owamp-listen)");
            Log.Listening(_logger, "OWAMP", OwampEndPoint!.ToString());
            _acceptLoops.Add(AcceptLoopAsync(_owampListener, HandleOwampAsync));
        }
        if (_acceptLoops.Count == 0)
        {
            throw new InvalidOperationException("No listener configured.");
        }
    }

    /// <summary>
    /// Runs until cancelled (SIGTERM, SIGINT), then stops accepting, ends the open connections (those with running
    /// TWAMP or OWAMP sessions get Stop-Sessions first), and logs a one-line summary.
    /// </summary>
    /// <exception cref="ServerListenException">A listener could not be opened; the message names it.</exception>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        Start();
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        await StopAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Stops accepting, ends the open connections (those with running TWAMP or OWAMP sessions get Stop-Sessions first), and logs
    /// a one-line summary.
    /// </summary>
    public async Task StopAsync()
    {
        int open = _shares.ConnectionCount;
        await DisposeAsync().ConfigureAwait(false);
        Log.StoppedSummary(_logger, open, Interlocked.Read(ref _served));
    }

    private static TcpListener Listen(IPEndPoint endPoint, string name)
    {
        var listener = new TcpListener(endPoint);
        if (endPoint.AddressFamily == AddressFamily.InterNetworkV6 && endPoint.Address.Equals(IPAddress.IPv6Any))
        {
            listener.Server.DualMode = true;
        }
        try
        {
            listener.Start(backlog: 128);
        }
        catch (SocketException e)
        {
            listener.Dispose();
            throw new ServerListenException($"cannot listen for {name} on {endPoint}: {e.Message}", e);
        }
        return listener;
    }

    private async Task AcceptLoopAsync(TcpListener listener, Func<TcpClient, CancellationToken, Task> handler)
    {
        CancellationToken token = _stopping.Token;
        while (!token.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await listener.AcceptTcpClientAsync(token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                Log.AcceptFailed(_logger, e.Message);
                // A persistent accept error must not spin the CPU.
                await Task.Delay(TimeSpan.FromMilliseconds(200), CancellationToken.None).ConfigureAwait(false);
                continue;
            }
            IPAddress source = SourceOf(client);
            if (!_shares.TryOpenConnection(source, out string refusal, out string limit))
            {
                Telemetry.ServerMetrics.PolicyRefusal(limit);
                // RFC 4656 §3.1: a server that will not serve a client says so with a Server-Greeting whose Modes is 0.
                _attackLog.Event("control connections refused", LogLevel.Warning, $"{client.Client.RemoteEndPoint}: refused (Server-Greeting Modes = 0): {refusal}");
                _ = RefuseAsync(client);
                continue;
            }
            Interlocked.Increment(ref _served);
            Task connection = RunConnectionAsync(client, source, handler, token);
            lock (_connections)
            {
                _connections.Add(connection);
            }
            _ = connection.ContinueWith(
                t =>
                {
                    lock (_connections)
                    {
                        _connections.Remove(t);
                    }
                },
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }
    }

    private static IPAddress SourceOf(TcpClient client)
    {
        IPAddress address = (client.Client.RemoteEndPoint as IPEndPoint)?.Address ?? IPAddress.None;
        return address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
    }

    /// <summary>Sends a Server-Greeting with Modes = 0 (no challenge to answer) and closes, within a second.</summary>
    private static async Task RefuseAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                byte[] greeting = new byte[Ippm.Wire.Control.ServerGreeting.Length];
                new Ippm.Wire.Control.ServerGreeting(0, new byte[16], new byte[16], 1024).Write(greeting);
                using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                await client.GetStream().WriteAsync(greeting, deadline.Token).ConfigureAwait(false);
                client.Client.Shutdown(SocketShutdown.Send);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // The refusal is a courtesy; a client that does not read it is closed all the same.
            }
        }
    }

    private async Task RunConnectionAsync(TcpClient client, IPAddress source, Func<TcpClient, CancellationToken, Task> handler, CancellationToken token)
    {
        await Task.Yield();
        try
        {
            client.NoDelay = true;
            client.Client.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
            await handler(client, token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // Last line of defence: nothing a client sends may take the server down.
            Log.ConnectionFailed(_logger, e, client.Client.RemoteEndPoint?.ToString() ?? "?");
        }
        finally
        {
            client.Dispose();
            _shares.CloseConnection(source);
        }
    }

    private Task HandleTwampAsync(TcpClient client, CancellationToken token)
    {
        var connection = new TwampServerConnection(
            client.GetStream(), (IPEndPoint)client.Client.LocalEndPoint!, (IPEndPoint)client.Client.RemoteEndPoint!, _options, _ports, _logger);
        return connection.RunAsync(token);
    }

    private Task HandleOwampAsync(TcpClient client, CancellationToken token)
    {
        var connection = new Owamp.OwampServerConnection(
            client.GetStream(), (IPEndPoint)client.Client.LocalEndPoint!, (IPEndPoint)client.Client.RemoteEndPoint!, _options, _ports, _logger);
        return connection.RunAsync(token);
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        await _stopping.CancelAsync().ConfigureAwait(false);
        _twampListener?.Stop();
        _owampListener?.Stop();
        await Task.WhenAll(_acceptLoops).ConfigureAwait(false);
        Task[] running;
        lock (_connections)
        {
            running = [.. _connections];
        }
        await Task.WhenAll(running).ConfigureAwait(false);
        _attackLog.Flush();
        _stopping.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "{Protocol} control listening on {EndPoint}")]
        public static partial void Listening(ILogger logger, string protocol, string endPoint);

        [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "accept failed: {Reason}")]
        public static partial void AcceptFailed(ILogger logger, string reason);

        [LoggerMessage(EventId = 5, Level = LogLevel.Information, Message = "server stopped: no longer accepting; {Open} open control connection(s) ended (running TWAMP and OWAMP sessions told by Stop-Sessions); {Served} served since start")]
        public static partial void StoppedSummary(ILogger logger, int open, long served);

        [LoggerMessage(EventId = 4, Level = LogLevel.Error, Message = "{Peer}: connection handler failed")]
        public static partial void ConnectionFailed(ILogger logger, Exception exception, string peer);
    }
}

/// <summary>A control listener could not be opened (address in use, no such address, no permission); the message names it.</summary>
public sealed class ServerListenException : Exception
{
    public ServerListenException(string message, Exception inner)
        : base(message, inner)
    {
    }

    public ServerListenException()
    {
    }

    public ServerListenException(string message)
        : base(message)
    {
    }
}
