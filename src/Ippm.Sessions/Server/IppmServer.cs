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
    private int _connectionCount;
    private long _served;
    private bool _disposed;

    public IppmServer(ServerOptions options, ILoggerFactory loggerFactory)
    {
        _options = options;
        _logger = loggerFactory.CreateLogger("Ippm.Server");
        _ports = new TestPortAllocator(options.TestPorts);
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
    /// TWAMP sessions get Stop-Sessions first), and logs a one-line summary.
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
        int open = Volatile.Read(ref _connectionCount);
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
            if (Interlocked.Increment(ref _connectionCount) > _options.MaxConnections)
            {
                Interlocked.Decrement(ref _connectionCount);
                Log.TooManyConnections(_logger, client.Client.RemoteEndPoint?.ToString() ?? "?", _options.MaxConnections);
                client.Dispose();
                continue;
            }
            Interlocked.Increment(ref _served);
            Task connection = RunConnectionAsync(client, handler, token);
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

    private async Task RunConnectionAsync(TcpClient client, Func<TcpClient, CancellationToken, Task> handler, CancellationToken token)
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
            Interlocked.Decrement(ref _connectionCount);
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
        _stopping.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "{Protocol} control listening on {EndPoint}")]
        public static partial void Listening(ILogger logger, string protocol, string endPoint);

        [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "accept failed: {Reason}")]
        public static partial void AcceptFailed(ILogger logger, string reason);

        [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "{Peer}: refused, already {Limit} control connections")]
        public static partial void TooManyConnections(ILogger logger, string peer, int limit);

        [LoggerMessage(EventId = 5, Level = LogLevel.Information, Message = "server stopped: no longer accepting; {Open} open control connection(s) ended (running TWAMP sessions told by Stop-Sessions); {Served} served since start")]
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
