using System.Runtime.InteropServices;

namespace Ippm.Sessions.Engine;

/// <summary>epoll(7) and eventfd(2) through P/Invoke (Linux only; callers check <see cref="OperatingSystem.IsLinux"/>).</summary>
internal static unsafe partial class EpollNative
{
    public const int EpollCtlAdd = 1;
    public const int EpollCtlDel = 2;
    public const uint EpollIn = 0x001;
    public const uint EpollErr = 0x008;
    public const uint EpollHup = 0x010;
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
    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public nint Seconds;
        public nint Nanoseconds;
    }

    /// <summary>Sleeps about <paramref name="nanoseconds"/> (clock_nanosleep on CLOCK_MONOTONIC; an interrupted sleep just ends early).</summary>
    public static void SleepNanoseconds(long nanoseconds)
    {
        var request = new Timespec { Seconds = (nint)(nanoseconds / 1_000_000_000), Nanoseconds = (nint)(nanoseconds % 1_000_000_000) };
        clock_nanosleep(ClockMonotonic, 0, &request, null);
    }

    [LibraryImport("libc")]
    private static partial int clock_nanosleep(int clock, int flags, void* request, void* remaining);
}
