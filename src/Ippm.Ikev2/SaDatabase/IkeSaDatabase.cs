using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using Ippm.Ikev2.Crypto;
using Ippm.Ikev2.Messages;

namespace Ippm.Ikev2.SaDatabase;

public enum IkeSaRole
{
    Initiator,
    Responder,
}

public enum IkeSaState
{
    Established,
    /// <summary>Replaced by a rekeyed SA (<see cref="IkeSaEntry.ReplacedBy"/>); keys kept for O/TWAMP sessions still using them.</summary>
    Rekeyed,
    /// <summary>
    /// Deleted by either side; kept until <see cref="IkeSaDatabase.Remove"/> or, after a grace period,
    /// <see cref="IkeSaDatabase.RemoveRetired"/>.
    /// </summary>
    Deleted,
}

/// <summary>
/// What RFC 7717 needs from one IKE SA: its SPIs, negotiated PRF and a copy of SK_d, plus who the peer is.
/// The SK_d copy is zeroed on dispose.
/// </summary>
public sealed class IkeSaEntry : IDisposable
{
    private readonly byte[] _skD;

    public IkeSaEntry(ulong spiI, ulong spiR, IkeSuite suite, ReadOnlySpan<byte> skD, string peerIdentity, IPEndPoint peer, IkeSaRole role)
    {
        SpiI = spiI;
        SpiR = spiR;
        Suite = suite;
        _skD = skD.ToArray();
        PeerIdentity = peerIdentity;
        Peer = peer;
        Role = role;
        EstablishedAt = DateTimeOffset.UtcNow;
    }

    public ulong SpiI { get; }
    public ulong SpiR { get; }
    public IkeSuite Suite { get; }
    public PrfId Prf => Suite.Prf;
    public string PeerIdentity { get; }
    public IPEndPoint Peer { get; }
    public IkeSaRole Role { get; }
    public DateTimeOffset EstablishedAt { get; }
    public IkeSaState State { get; internal set; }

    /// <summary>When the SA left <see cref="IkeSaState.Established"/> (set by MarkDeleted/MarkRekeyed); null while established.</summary>
    public DateTimeOffset? StateChangedAt { get; internal set; }
    public (ulong SpiI, ulong SpiR)? ReplacedBy { get; internal set; }

    /// <summary>SK_d. Key material: never log it.</summary>
    public ReadOnlySpan<byte> SkD => _skD;

    /// <summary>RFC 7717 §5.1: S = prf(SK_d, "IPPM") with this SA's PRF.</summary>
    public byte[] DeriveIppmSecret() => Crypto.Prf.Compute(Prf, _skD, "IPPM"u8);

    public void Dispose() => CryptographicOperations.ZeroMemory(_skD);
}

/// <summary>
/// The IKE SAs this process set up, looked up by (SPIi, SPIr) as carried in an RFC 7717 KeyID. Rekeyed and
/// deleted SAs stay until removed (<see cref="Remove"/>, <see cref="RemoveRetired"/> or the sweep started by
/// <see cref="StartSweeping"/>). O/TWAMP connections derive their keys once at set-up and never look the SA
/// up again, and a retired SA keys no new connection, so dropping it after a short grace period loses nothing.
/// </summary>
public sealed class IkeSaDatabase : IDisposable
{
    private readonly ConcurrentDictionary<(ulong, ulong), IkeSaEntry> _entries = new();
    private readonly TimeProvider _time;
    private readonly Lock _sweepLock = new();
    private readonly List<Timer> _sweeps = [];
    private bool _disposed;

    /// <param name="timeProvider">The clock for <see cref="IkeSaEntry.StateChangedAt"/> and <see cref="RemoveRetired"/>; <see cref="TimeProvider.System"/> by default.</param>
    public IkeSaDatabase(TimeProvider? timeProvider = null)
    {
        _time = timeProvider ?? TimeProvider.System;
    }

    public event Action<IkeSaEntry>? Added;

    public int Count => _entries.Count;

    public IReadOnlyCollection<IkeSaEntry> Entries => [.. _entries.Values];

    public void Add(IkeSaEntry entry)
    {
        if (_entries.TryAdd((entry.SpiI, entry.SpiR), entry))
        {
            Added?.Invoke(entry);
        }
        else
        {
            entry.Dispose();
        }
    }

    public bool TryGet(ulong spiI, ulong spiR, out IkeSaEntry? entry) => _entries.TryGetValue((spiI, spiR), out entry);

    /// <summary>Looks up by the 16 KeyID octets: SPIi (8) | SPIr (8), wire order.</summary>
    public bool TryGet(ReadOnlySpan<byte> spiISpiR, out IkeSaEntry? entry)
    {
        entry = null;
        return spiISpiR.Length >= 16 && TryGet(
            System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(spiISpiR),
            System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(spiISpiR[8..]), out entry);
    }

    /// <summary>RFC 7717: prf(SK_d, "IPPM") of the SA with these SPIs, or null if unknown.</summary>
    public byte[]? DeriveIppmSecret(ulong spiI, ulong spiR) => TryGet(spiI, spiR, out IkeSaEntry? e) ? e!.DeriveIppmSecret() : null;

    public void MarkDeleted(ulong spiI, ulong spiR)
    {
        if (TryGet(spiI, spiR, out IkeSaEntry? e) && e!.State == IkeSaState.Established)
        {
            e.State = IkeSaState.Deleted;
            e.StateChangedAt = _time.GetUtcNow();
        }
    }

    public void MarkRekeyed(ulong oldSpiI, ulong oldSpiR, ulong newSpiI, ulong newSpiR)
    {
        if (TryGet(oldSpiI, oldSpiR, out IkeSaEntry? e))
        {
            e!.State = IkeSaState.Rekeyed;
            e.ReplacedBy = (newSpiI, newSpiR);
            e.StateChangedAt = _time.GetUtcNow();
        }
    }

    /// <summary>Forgets an SA and zeroes its SK_d copy (when no session holds it any more).</summary>
    public bool Remove(ulong spiI, ulong spiR)
    {
        if (_entries.TryRemove((spiI, spiR), out IkeSaEntry? e))
        {
            e.Dispose();
            return true;
        }
        return false;
    }

    /// <summary>
    /// Removes (and zeroes, via <see cref="Remove"/>) every SA that has been <see cref="IkeSaState.Deleted"/> or
    /// <see cref="IkeSaState.Rekeyed"/> for longer than <paramref name="grace"/>. Established SAs are never removed.
    /// </summary>
    /// <returns>How many SAs were removed.</returns>
    public int RemoveRetired(TimeSpan grace)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(grace, TimeSpan.Zero);
        DateTimeOffset now = _time.GetUtcNow();
        int removed = 0;
        foreach (IkeSaEntry e in _entries.Values)
        {
            if (e.State != IkeSaState.Established && e.StateChangedAt is DateTimeOffset changed && now - changed > grace && Remove(e.SpiI, e.SpiR))
            {
                removed++;
            }
        }
        return removed;
    }

    /// <summary>
    /// Calls <see cref="RemoveRetired"/> with <paramref name="grace"/> every <paramref name="interval"/> on a
    /// <see cref="Timer"/> until the returned handle or this database is disposed.
    /// </summary>
    public IDisposable StartSweeping(TimeSpan grace, TimeSpan interval)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(grace, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        lock (_sweepLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var timer = new Timer(_ => RemoveRetired(grace), null, interval, interval);
            _sweeps.Add(timer);
            return timer;
        }
    }

    public void Dispose()
    {
        lock (_sweepLock)
        {
            _disposed = true;
            foreach (Timer t in _sweeps)
            {
                t.Dispose();
            }
            _sweeps.Clear();
        }
        foreach (IkeSaEntry e in _entries.Values)
        {
            e.Dispose();
        }
        _entries.Clear();
    }
}
