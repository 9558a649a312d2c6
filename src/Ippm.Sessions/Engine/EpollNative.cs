using System.Runtime.InteropServices;

namespace Ippm.Sessions.Engine;

/// <summary>epoll(7) and eventfd(2) through P/Invoke (Linux only; callers check <see cref="OperatingSystem.IsLinux"/>).</summary>
internal static unsafe partial class EpollNative
{
    public const int EpollCtlAdd = 1;
    public const int EpollCtlDel = 2;
    public const uint EpollIn = 0x001;
    public const int EpollCloexec = 0x80000;
    public const int EfdNonblock = 0x800;
    public const int EfdCloexec = 0x80000;
    public const int EIntr = 4;
    public const int EAgain = 11;

    /// <summary>struct epoll_event: packed on x86-64 (12 octets), naturally aligned elsewhere (16 octets).</summary>
    [StructLayout(LayoutKind.Sequential, Pack = 4)]
    public struct EpollEventPacked
    {
        public uint Events;
        public ulong Data;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct EpollEventAligned
    {
        public uint Events;
        public ulong Data;
    }

    /// <summary>x86-64 is the one Linux ABI whose epoll_event is packed.</summary>
    public static bool Packed => RuntimeInformation.ProcessArchitecture == Architecture.X64;

    public static int EventSize => Packed ? sizeof(EpollEventPacked) : sizeof(EpollEventAligned);

    public static int Control(int epoll, int operation, int fd, uint events, ulong data)
    {
        if (Packed)
        {
            var e = new EpollEventPacked { Events = events, Data = data };
            return epoll_ctl(epoll, operation, fd, &e);
        }
        var a = new EpollEventAligned { Events = events, Data = data };
        return epoll_ctl(epoll, operation, fd, &a);
    }

    public static (uint Events, ulong Data) Event(byte* events, int index)
    {
        if (Packed)
        {
            EpollEventPacked* e = (EpollEventPacked*)events + index;
            return (e->Events, e->Data);
        }
        EpollEventAligned* a = (EpollEventAligned*)events + index;
        return (a->Events, a->Data);
    }

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_create1(int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_ctl(int epoll, int operation, int fd, void* @event);

    /// <summary>
    /// epoll_wait for at most <paramref name="timeoutTicks"/> (100 ns; -1: no limit): through epoll_pwait2's timespec
    /// (Linux 5.11+, glibc 2.35+) so a deadline between two milliseconds is kept; where that is missing, epoll_wait
    /// with the timeout rounded up to whole milliseconds (never early).
    /// </summary>
    public static int Wait(int epoll, byte* events, int maxEvents, long timeoutTicks)
    {
        if (s_pwait2)
        {
            try
            {
                Timespec spec = new() { Seconds = timeoutTicks / TimeSpan.TicksPerSecond, Nanoseconds = timeoutTicks % TimeSpan.TicksPerSecond * 100 };
                int ready = epoll_pwait2(epoll, events, maxEvents, timeoutTicks < 0 ? null : &spec, null);
                if (ready >= 0 || Marshal.GetLastSystemError() != ENoSys)
                {
                    return ready;
                }
            }
            catch (EntryPointNotFoundException)
            {
            }
            s_pwait2 = false;
        }
        int ms = timeoutTicks < 0 ? -1 : (int)Math.Min((timeoutTicks + TimeSpan.TicksPerMillisecond - 1) / TimeSpan.TicksPerMillisecond, int.MaxValue);
        return epoll_wait(epoll, events, maxEvents, ms);
    }

    /// <summary>
    /// Asks for timer slack of 1 ns on the calling thread (PR_SET_TIMERSLACK): the default 50 µs would let the kernel
    /// wake a loop up to 50 µs after a sender's packet was due. Every wait still gets 0.1 % of its length
    /// (select_estimate_accuracy): 100 ns on a 100 µs wait, a limit the loop accepts.
    /// </summary>
    public static void PreciseTimers()
    {
        try
        {
            prctl(PrSetTimerSlack, 1, 0, 0, 0);
        }
        catch (EntryPointNotFoundException)
        {
        }
    }

    private const int ENoSys = 38;
    private const int PrSetTimerSlack = 29;
    private static bool s_pwait2 = true;

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_pwait2(int epoll, void* events, int maxEvents, Timespec* timeout, void* sigmask);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_wait(int epoll, void* events, int maxEvents, int timeout);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int eventfd(uint initial, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint read(int fd, void* buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint write(int fd, void* buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    private const int ClockMonotonic = 1;

    /// <summary>struct timespec (64-bit Linux: two longs).</summary>
    /// <summary>Sleeps about <paramref name="nanoseconds"/> (clock_nanosleep on CLOCK_MONOTONIC; an interrupted sleep just ends early).</summary>
    public static void SleepNanoseconds(long nanoseconds)
    {
        var request = new Timespec { Seconds = nanoseconds / 1_000_000_000, Nanoseconds = nanoseconds % 1_000_000_000 };
        clock_nanosleep(ClockMonotonic, 0, &request, null);
    }

    [LibraryImport("libc")]
    private static partial int clock_nanosleep(int clock, int flags, void* request, void* remaining);
}
