namespace Ippm.Sessions.Server;

/// <summary>A server-wide allowance of scheduled test packets, reserved per session and released with the connection.</summary>
internal sealed class PacketBudget(long limit)
{
    private long _used;

    public long Used => Interlocked.Read(ref _used);

    public bool TryReserve(long packets)
    {
        while (true)
        {
            long used = Interlocked.Read(ref _used);
            if (used + packets > limit)
            {
                return false;
            }
            if (Interlocked.CompareExchange(ref _used, used + packets, used) == used)
            {
                return true;
            }
        }
    }

    public void Release(long packets) => Interlocked.Add(ref _used, -packets);
}
