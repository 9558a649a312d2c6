using System.Net;
using Ippm.Ikev2.Fairness;
using Ippm.Sessions.Server;
using Microsoft.Extensions.Logging;

namespace Ippm.Sessions.Fairness;

/// <summary>
/// The per-source (and, once authenticated, per-identity) shares of one server's limits: control connections,
/// test sessions, reflector buffer memory and scheduled OWAMP packets, plus the pressure signal that shortens
/// the idle time of open-mode connections when the server is nearly full.
/// </summary>
public sealed class ServerShares
{
    private readonly ServerOptions _options;
    private readonly object _pressureGate = new();
    private CancellationTokenSource _pressure = new();
    private int _connections;
    private AttackLog? _attackLog;

    public ServerShares(ServerOptions options)
    {
        _options = options;
        Connections = new ShareLedger<IPAddress>(options.EffectiveMaxConnectionsPerSource);
        Sessions = new ShareLedger<IPAddress>(options.MaxSessionsPerSource);
        Memory = new ShareLedger<IPAddress>(options.MaxMemoryPerSource);
        Packets = new ShareLedger<string>(options.EffectiveMaxScheduledPacketsPerSource);
    }

    public ShareLedger<IPAddress> Connections { get; }
    public ShareLedger<IPAddress> Sessions { get; }
    public ShareLedger<IPAddress> Memory { get; }

    /// <summary>Keyed by <see cref="PacketKey"/>: the identity for authenticated connections, else the source address.</summary>
    public ShareLedger<string> Packets { get; }

    public static string PacketKey(IPAddress source, string? identity) => identity is null ? "address " + source : "identity " + identity;

    /// <summary>Control connections open now (all sources).</summary>
    public int ConnectionCount => Volatile.Read(ref _connections);

    /// <summary>Cancelled when the server holds at least 3/4 of its connection limit (a new token is armed when it drops below).</summary>
    public CancellationToken Pressure
    {
        get
        {
            lock (_pressureGate)
            {
                return _pressure.Token;
            }
        }
    }

    public AttackLog AttackLog(ILogger logger) => LazyInitializer.EnsureInitialized(ref _attackLog, () => new AttackLog(logger));

    /// <summary>Takes a connection slot for <paramref name="source"/>; false when the server or the source is full.</summary>
    /// <param name="limit">On refusal, which limit (a <see cref="ShareRefusal"/> label).</param>
    public bool TryOpenConnection(IPAddress source, out string refusal, out string limit)
    {
        if (Interlocked.Increment(ref _connections) > _options.MaxConnections)
        {
            Interlocked.Decrement(ref _connections);
            refusal = $"already {_options.MaxConnections} control connections";
            limit = ShareRefusal.Connections;
            return false;
        }
        if (!Connections.TryTake(source, 1))
        {
            Interlocked.Decrement(ref _connections);
            refusal = $"its address already holds {Connections.PerKeyLimit} control connections";
            limit = ShareRefusal.ConnectionsPerSource;
            return false;
        }
        refusal = "";
        limit = "";
        UpdatePressure();
        return true;
    }

    public void CloseConnection(IPAddress source)
    {
        Connections.Release(source, 1);
        Interlocked.Decrement(ref _connections);
        UpdatePressure();
    }

    private void UpdatePressure()
    {
        bool high = ConnectionCount * 4 >= _options.MaxConnections * 3;
        lock (_pressureGate)
        {
            if (high && !_pressure.IsCancellationRequested)
            {
                _pressure.Cancel();
            }
            else if (!high && _pressure.IsCancellationRequested)
            {
                // The old source is left to the collector: readers may still hold its token.
                _pressure = new CancellationTokenSource();
            }
        }
    }
}
