using System.Runtime.InteropServices;
using Ippm.Wire;

namespace Ippm.Sessions.Time;

/// <summary>
/// The host clock as O/TWAMP needs it: NTP-format timestamps and an honest Error Estimate.
/// On Linux the kernel's NTP state (adjtimex) says whether the clock is synchronised and how far off
/// it may be; the S bit is set only then. Without that knowledge the estimate is large, never the
/// reference's misleading 233 ps.
/// </summary>
public sealed partial class SystemClock
{
    /// <summary>Claimed when nothing better is known: the clock is free-running, say within 1 s.</summary>
    public static readonly ErrorEstimate UnknownError = ErrorEstimate.FromSeconds(1.0, synchronized: false);

    public static SystemClock Instance { get; } = new();

    private ErrorEstimate _errorEstimate = UnknownError;
    private long _refreshedAtTicks = long.MinValue;

    public NtpTimestamp Now() => NtpTimestamp.FromDateTimeOffset(DateTimeOffset.UtcNow);

    /// <summary>The current Error Estimate, refreshed from the kernel at most once a second.</summary>
    public ErrorEstimate ErrorEstimate
    {
        get
        {
            long now = Environment.TickCount64;
            if (now - Volatile.Read(ref _refreshedAtTicks) > 1000)
            {
                _errorEstimate = ReadKernelEstimate() ?? UnknownError;
                Volatile.Write(ref _refreshedAtTicks, now);
            }
            return _errorEstimate;
        }
    }

    public bool IsSynchronized => ErrorEstimate.IsSynchronized;

    private const int StaUnsync = 0x0040;

    // struct timex (x86-64/arm64 glibc): modes@0 (int), offset@8, freq@16, maxerror@24, esterror@32 (long, µs), status@40 (int).
    private static unsafe ErrorEstimate? ReadKernelEstimate()
    {
        if (!OperatingSystem.IsLinux() || IntPtr.Size != 8)
        {
            return null;
        }
        byte* timex = stackalloc byte[512];
        new Span<byte>(timex, 512).Clear();
        try
        {
            int state = adjtimex(timex);
            if (state < 0)
            {
                return null;
            }
            long maxError = *(long*)(timex + 24);
            long estError = *(long*)(timex + 32);
            int status = *(int*)(timex + 40);
            // TIME_ERROR (5) or STA_UNSYNC: not synchronised; the kernel's maxerror still bounds the error.
            bool synced = state != 5 && (status & StaUnsync) == 0;
            double seconds = synced ? Math.Max(estError, 1) / 1e6 : Math.Max(maxError, 1_000_000) / 1e6;
            return ErrorEstimate.FromSeconds(seconds, synced);
        }
        catch (DllNotFoundException)
        {
            return null;
        }
        catch (EntryPointNotFoundException)
        {
            return null;
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int adjtimex(byte* buf);
}
