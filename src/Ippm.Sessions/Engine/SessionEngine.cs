using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ippm.Sessions.Engine;

/// <summary>
/// A few <see cref="EngineLoop"/>s (one per core by default) that serve every test session of the process: the
/// number of threads depends on the cores, not on the sessions. Linux only (epoll); elsewhere, or with
/// <c>IPPM_SESSION_ENGINE=0</c>, <see cref="Shared"/> is null and sessions keep a thread each.
/// </summary>
public sealed class SessionEngine : IDisposable
{
    /// <summary>Environment variable that turns the engine off (value <c>0</c>): sessions then run on threads of their own.</summary>
    public const string DisableVariable = "IPPM_SESSION_ENGINE";

    private static readonly Lazy<SessionEngine?> SharedEngine = new(
        () => IsSupported ? new SessionEngine(DefaultLoopCount, TimeProvider.System, SharedLogger ?? NullLogger.Instance) : null,
        LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly EngineLoop[] _loops;

    public SessionEngine(int loopCount, TimeProvider time, ILogger? logger = null)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("the session engine needs epoll (Linux)");
        }
        if (!Transport.NativeAbi.Usable)
        {
            throw new PlatformNotSupportedException($"the session engine's epoll_event layout is checked for x86-64 and arm64, not {Transport.NativeAbi.Architecture}");
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(loopCount, 1);
        ArgumentNullException.ThrowIfNull(time);
        _loops = new EngineLoop[loopCount];
        for (int i = 0; i < loopCount; i++)
        {
            _loops[i] = new EngineLoop(i, time, logger ?? NullLogger.Instance);
        }
    }

    /// <summary>Whether this platform has the engine and it is not turned off.</summary>
    public static bool IsSupported => Transport.NativeAbi.Usable && Environment.GetEnvironmentVariable(DisableVariable) != "0";

    /// <summary>One loop per core, at most 8: more loops than cores only adds context switches.</summary>
    public static int DefaultLoopCount => Math.Clamp(Environment.ProcessorCount, 1, 8);

    /// <summary>The process's engine, created on first use; null where <see cref="IsSupported"/> is false.</summary>
    public static SessionEngine? Shared => SharedEngine.Value;

    /// <summary>Where the shared engine's loops log their own failures; set before the first session (the server does).</summary>
    public static ILogger? SharedLogger { get; set; }

    public IReadOnlyList<EngineLoop> Loops => _loops;

    public int SessionCount => _loops.Sum(l => l.SessionCount);

    /// <summary>Places <paramref name="session"/> on the loop with the fewest sessions; it is registered there shortly.</summary>
    public EngineLoop Add(EngineSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        if (session.Loop is not null)
        {
            throw new InvalidOperationException("the session is already on a loop");
        }
        EngineLoop chosen = _loops[0];
        foreach (EngineLoop loop in _loops)
        {
            if (loop.SessionCount < chosen.SessionCount)
            {
                chosen = loop;
            }
        }
        session.Loop = chosen;
        chosen.Add(session);
        return chosen;
    }

    public void Dispose()
    {
        foreach (EngineLoop loop in _loops)
        {
            loop.Dispose();
        }
    }
}
