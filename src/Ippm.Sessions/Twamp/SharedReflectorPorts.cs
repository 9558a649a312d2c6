using System.Net;
using Ippm.Sessions.Engine;
using Ippm.Sessions.Transport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ippm.Sessions.Twamp;

/// <summary>
/// The server's <see cref="SharedReflectorPort"/>s, per local address: a new session gets a place on the port with the
/// fewest sessions that does not already serve its sender's address and port, so two sessions with one sender pair
/// never share a port. About one port per engine loop and local address (a port opens when each existing one serves
/// at least one session, up to the loop count; beyond that only for a sender pair every port already serves), so a
/// loop reads the packets of all its sessions with one recvmmsg. A port closes when its last session ends.
/// </summary>
public sealed class SharedReflectorPorts
{
    /// <summary>
    /// Environment variable with the engine session count from which sessions share ports (see
    /// <see cref="Server.ServerOptions.SharedTestPortsFrom"/>), or <c>never</c>.
    /// </summary>
    public const string FromVariable = "IPPM_SHARED_TEST_PORTS";

    /// <summary>
    /// Sessions the engine carries before new ones share ports, unless configured: a mesh server's many slow sessions
    /// share (fewer sockets and wake-ups), a few fast ones keep connected sockets (measured faster for one session).
    /// </summary>
    public const int DefaultFrom = 32;

    /// <summary><see cref="FromVariable"/> when it holds a number (or <c>never</c>: -1), else <see cref="DefaultFrom"/>.</summary>
    public static int ConfiguredFrom =>
        Environment.GetEnvironmentVariable(FromVariable) is string value
            ? value.Trim().Equals("never", StringComparison.OrdinalIgnoreCase) ? -1
            : int.TryParse(value, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out int from) ? from : DefaultFrom
            : DefaultFrom;

    private readonly Func<IPAddress, UdpTestSocket?> _bind;
    private readonly SessionEngine _engine;
    private readonly ILogger _logger;
    private readonly object _lock = new();
    private readonly Dictionary<IPAddress, List<SharedReflectorPort>> _ports = [];

    /// <param name="bind">Binds an unconnected test socket on the address (a port from the server's range), null when none is free.</param>
    public SharedReflectorPorts(Func<IPAddress, UdpTestSocket?> bind, SessionEngine engine, ILogger? logger = null)
    {
        _bind = bind;
        _engine = engine;
        _logger = logger ?? NullLogger.Instance;
    }


    /// <summary>Ports open now (all addresses).</summary>
    public int PortCount
    {
        get
        {
            lock (_lock)
            {
                return _ports.Values.Sum(l => l.Count);
            }
        }
    }

    /// <summary>
    /// A place for <paramref name="sender"/>'s session on a shared port of <paramref name="local"/>; null while the engine
    /// carries fewer than <paramref name="from"/> sessions (negative: always), or when no port can be bound (the caller
    /// then gives the session a socket of its own).
    /// </summary>
    public SharedPortLease? TryLease(IPAddress local, IPEndPoint sender, int from)
    {
        if (from < 0 || _engine.SessionCount < from)
        {
            return null;
        }
        SenderKey key = SenderKey.From(sender);
        lock (_lock)
        {
            if (!_ports.TryGetValue(local, out List<SharedReflectorPort>? ports))
            {
                ports = [];
                _ports[local] = ports;
            }
            SharedReflectorPort? chosen = null;
            foreach (SharedReflectorPort port in ports)
            {
                if (!port.Reserved.Contains(key) && (chosen is null || port.Reserved.Count < chosen.Reserved.Count))
                {
                    chosen = port;
                }
            }
            if (chosen is null || (chosen.Reserved.Count > 0 && ports.Count < _engine.Loops.Count))
            {
                chosen = Open(local) is SharedReflectorPort opened ? Added(ports, opened) : chosen;
            }
            if (chosen is null)
            {
                return null;
            }
            chosen.Reserved.Add(key);
            return new SharedPortLease(this, chosen, key);
        }
    }

    private static SharedReflectorPort Added(List<SharedReflectorPort> ports, SharedReflectorPort port)
    {
        ports.Add(port);
        return port;
    }

    private SharedReflectorPort? Open(IPAddress local)
    {
        UdpTestSocket? socket = _bind(local);
        if (socket is null)
        {
            return null;
        }
        if (!socket.IsNative)
        {
            socket.Dispose();
            return null;
        }
        var port = new SharedReflectorPort(socket, _logger);
        _engine.Add(port);
        return port;
    }

    internal void Release(SharedPortLease lease)
    {
        lock (_lock)
        {
            SharedReflectorPort port = lease.Port;
            port.Reserved.Remove(lease.Sender);
            if (port.Reserved.Count > 0)
            {
                return;
            }
            foreach (List<SharedReflectorPort> ports in _ports.Values)
            {
                ports.Remove(port);
            }
            port.Close();
        }
    }
}

/// <summary>One session's place on a <see cref="SharedReflectorPort"/>; disposing it gives the place back (once).</summary>
public sealed class SharedPortLease : IDisposable
{
    private readonly SharedReflectorPorts _pool;
    private int _released;

    internal SharedPortLease(SharedReflectorPorts pool, SharedReflectorPort port, SenderKey sender)
    {
        _pool = pool;
        Port = port;
        Sender = sender;
    }

    public SharedReflectorPort Port { get; }

    public SenderKey Sender { get; }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            _pool.Release(this);
        }
    }
}
