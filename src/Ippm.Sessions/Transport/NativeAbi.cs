using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Ippm.Sessions.Transport;

/// <summary>
/// Whether the Linux structures and constants ippm declares for P/Invoke (msghdr, mmsghdr, iovec and cmsg for
/// recvmmsg/sendmmsg/recvmsg, epoll_event, SOL_SOCKET and SO_* option numbers) can be trusted in this process. They
/// are written for LP64 Linux and checked against the system headers by <c>NativeLayoutTests</c> (gcc's sizeof and
/// offsetof) on x86-64 and arm64 only. Elsewhere (32-bit ARM and x86, where pointers, msghdr and the SO_TIMESTAMPNS
/// timespec differ; other 64-bit architectures nobody has checked) the native path is not used: sockets take the
/// portable path (<see cref="System.Net.Sockets.Socket"/>, user-space timestamps) and sessions keep a thread each, rather
/// than risk corrupting memory.
/// </summary>
public static class NativeAbi
{
    private static int s_logged;

    /// <summary>The architecture the decision is made for; tests pretend another one.</summary>
    internal static Architecture Architecture { get; set; } = RuntimeInformation.ProcessArchitecture;

    /// <summary>Whether the native Linux path (batched UDP, kernel timestamps, the epoll session engine) may be used.</summary>
    public static bool Usable => IsUsable(OperatingSystem.IsLinux(), Architecture, out _);

    /// <summary>The decision for an operating system and architecture; <paramref name="whyNot"/> says why not on Linux.</summary>
    public static bool IsUsable(bool linux, Architecture architecture, out string? whyNot)
    {
        whyNot = null;
        if (!linux)
        {
            return false;
        }
        if (architecture is Architecture.X64 or Architecture.Arm64)
        {
            return true;
        }
        whyNot = $"ippm's Linux structure layouts and socket constants were checked for x86-64 and arm64, not for {architecture.ToString().ToLowerInvariant()}: " +
            "test packets use the portable socket path (no recvmmsg/sendmmsg, receive times taken in user space, no received TTL or TOS) and sessions keep a thread each";
        return false;
    }

    /// <summary>Logs, once per process, why the native path is off on this Linux host; nothing where it is on or not Linux.</summary>
    public static void LogIfOff(ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(logger);
        if (!IsUsable(OperatingSystem.IsLinux(), Architecture, out string? whyNot) && whyNot is not null && Interlocked.Exchange(ref s_logged, 1) == 0)
        {
            logger.LogWarning("{Reason}", whyNot);
        }
    }

    /// <summary>Lets a test see the once-per-process line again.</summary>
    internal static void ForgetLogged() => Interlocked.Exchange(ref s_logged, 0);
}
