namespace Ippm.Sessions.Fairness;

/// <summary>
/// How much of one resource each key (a source address, or an identity) holds, against a per-key limit:
/// <see cref="TryTake"/> reserves atomically or refuses, <see cref="Release"/> gives back.
/// </summary>
public sealed class ShareLedger<TKey>(long perKeyLimit)
    where TKey : notnull
{
    private readonly Dictionary<TKey, long> _held = [];

    public long PerKeyLimit { get; } = perKeyLimit;

    public long Held(TKey key)
    {
        lock (_held)
        {
            return _held.GetValueOrDefault(key);
        }
    }

    public bool TryTake(TKey key, long amount)
    {
        lock (_held)
        {
            long held = _held.GetValueOrDefault(key);
            if (held + amount > PerKeyLimit)
            {
                return false;
            }
            _held[key] = held + amount;
            return true;
        }
    }

    public void Release(TKey key, long amount)
    {
        if (amount == 0)
        {
            return;
        }
        lock (_held)
        {
            long held = _held.GetValueOrDefault(key) - amount;
            if (held <= 0)
            {
                _held.Remove(key);
            }
            else
            {
                _held[key] = held;
            }
        }
    }
}
