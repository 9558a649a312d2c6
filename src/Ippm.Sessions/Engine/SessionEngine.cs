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

    /// <summary>Environment variable with the wake-up coalescing window in microseconds (0: off); the server's <c>--coalesce-us</c> wins.</summary>
    public const string CoalesceVariable = "IPPM_ENGINE_COALESCE_US";

    /// <summary>
    /// The wake-up coalescing window when neither <c>--coalesce-us</c> nor <see cref="CoalesceVariable"/> says otherwise:
    /// off, because on the 2-core machine it was measured on (2 000 × 10 packets/s) it halved the wake-ups but not the
    /// CPU per packet (see README, "Wake-up coalescing").
    /// </summary>
    public const int DefaultCoalesceMicroseconds = 0;

    private static readonly Lazy<SessionEngine?> SharedEngine = new(
        () => IsSupported ? new SessionEngine(DefaultLoopCount, TimeProvider.System, SharedLogger ?? NullLogger.Instance, s_sharedCoalesce) : null,
        LazyThreadSafetyMode.ExecutionAndPublication);

    private static int? s_sharedCoalesce;

    private readonly EngineLoop[] _loops;

    /// <param name="coalesceMicroseconds">The loops' wake-up coalescing window (<see cref="EngineLoop.CoalesceMicroseconds"/>); null: <see cref="ConfiguredCoalesceMicroseconds"/>.</param>
    public SessionEngine(int loopCount, TimeProvider time, ILogger? logger = null, int? coalesceMicroseconds = null)
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
        CoalesceMicroseconds = coalesceMicroseconds ?? ConfiguredCoalesceMicroseconds;
    }

    /// <summary><see cref="CoalesceVariable"/> when it holds a number of microseconds (0 or more), else <see cref="DefaultCoalesceMicroseconds"/>.</summary>
    public static int ConfiguredCoalesceMicroseconds =>
        int.TryParse(Environment.GetEnvironmentVariable(CoalesceVariable), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int us)
            ? us
            : DefaultCoalesceMicroseconds;

    /// <summary>
    /// The shared engine's coalescing window (the server's <c>--coalesce-us</c>): used when it is created, applied at
    /// once when it already runs. Null: <see cref="ConfiguredCoalesceMicroseconds"/>.
    /// </summary>
    public static int? SharedCoalesceMicroseconds
    {
        get => s_sharedCoalesce;
        set
        {
            s_sharedCoalesce = value;
            if (SharedEngine.IsValueCreated && SharedEngine.Value is SessionEngine shared)
            {
                shared.CoalesceMicroseconds = value ?? ConfiguredCoalesceMicroseconds;
            }
        }
    }

    /// <summary>Every loop's wake-up coalescing window in microseconds (0: off); see <see cref="EngineLoop.CoalesceMicroseconds"/>.</summary>
    public int CoalesceMicroseconds
    {
        get => _loops[0].CoalesceMicroseconds;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            foreach (EngineLoop loop in _loops)
            {
                loop.CoalesceMicroseconds = value;
            }
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
