using System.Net;
using System.Net.Sockets;
using Ippm.Sessions.Engine;
using Ippm.Sessions.Transport;
using Ippm.Sessions.Twamp;
using Microsoft.Extensions.Logging;

namespace Ippm.Sessions.Server;

/// <summary>Binds test-session sockets: the requested port when allowed and free, else one from the range.</summary>
public sealed class TestPortAllocator
{
    private readonly PortRange? _range;
    private int _next;

    public TestPortAllocator(PortRange? range)
    {
        _range = range;
        _next = range is { } r ? Random.Shared.Next(r.Count) : 0;
    }

    /// <summary>
    /// The server's shared TWAMP reflector ports (<see cref="SharedReflectorPorts"/>), bound from this allocator's range;
    /// null where there is no session engine.
    /// Created on first use with <paramref name="logger"/>.
    /// </summary>
    public SharedReflectorPorts? TwampSharedPorts(ILogger logger)
    {
        if (_sharedChecked)
        {
            return _shared;
        }
        lock (this)
        {
            if (!_sharedChecked)
            {
                _shared = SessionEngine.Shared is SessionEngine engine
                    ? new SharedReflectorPorts(address => TryBind(address, 0, TimeSpan.FromMilliseconds(100)), engine, logger)
                    : null;
                _sharedChecked = true;
            }
            return _shared;
        }
    }

    private SharedReflectorPorts? _shared;
    private volatile bool _sharedChecked;

    /// <summary>A client's test socket (owping/twping -P): a port from <paramref name="range"/>, or the kernel's choice for null.</summary>
    /// <exception cref="IOException">Every port of the range is taken.</exception>
    public static UdpTestSocket BindClientSocket(IPAddress address, PortRange? range, TimeSpan pollInterval) =>
        range is null ? new UdpTestSocket(new IPEndPoint(address, 0), pollInterval)
            : new TestPortAllocator(range).TryBind(address, 0, pollInterval) ?? throw new IOException($"no free UDP port in {range} for a test session (-P)");

    public UdpTestSocket? TryBind(IPAddress address, int requestedPort, TimeSpan pollInterval)
    {
        if (requestedPort != 0 && (_range?.Contains(requestedPort) ?? requestedPort >= 1024))
        {
            UdpTestSocket? socket = TryBindPort(address, requestedPort, pollInterval);
            if (socket is not null)
            {
                return socket;
            }
        }
        if (_range is not { } range)
        {
            return TryBindPort(address, 0, pollInterval);
        }
        for (int i = 0; i < range.Count; i++)
        {
            int offset = Interlocked.Increment(ref _next) % range.Count;
            UdpTestSocket? socket = TryBindPort(address, range.Low + offset, pollInterval);
            if (socket is not null)
            {
                return socket;
            }
        }
        return null;
    }

    private static UdpTestSocket? TryBindPort(IPAddress address, int port, TimeSpan pollInterval)
    {
        try
        {
            return new UdpTestSocket(new IPEndPoint(address, port), pollInterval);
        }
        catch (SocketException)
        {
            return null;
        }
    }
}
