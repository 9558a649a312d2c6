using Microsoft.Extensions.Logging;

namespace Ippm.Ikev2.Fairness;

/// <summary>
/// Rate-limited logging of events an attacker can drive (cookie replies, drops, refused connections): the first
/// event of a kind in a window is logged as it is, the rest are counted and reported as one aggregate line
/// ("37 IKE cookie replies in the last 10 s") when the window closes — at the next event or, if the attack stopped,
/// at the next tick of a timer. Log volume is then bounded by the number of kinds, not by the attacker's packet rate.
/// </summary>
public sealed partial class AttackLog : IDisposable
{
    private readonly object _gate = new();
    private readonly Dictionary<string, Window> _windows = [];
    private readonly ILogger _logger;
    private readonly TimeSpan _window;
    private readonly TimeProvider _time;
    private readonly ITimer _timer;

    /// <param name="time">The clock windows are measured on (a manual one in tests); default: the system's.</param>
    public AttackLog(ILogger logger, TimeSpan window, TimeProvider? time = null)
    {
        _logger = logger;
        _window = window;
        _time = time ?? TimeProvider.System;
        _timer = _time.CreateTimer(_ => FlushClosedWindows(), null, window, window);
    }

    public AttackLog(ILogger logger)
        : this(logger, TimeSpan.FromSeconds(10))
    {
    }

    private long NowMilliseconds() => (long)_time.GetElapsedTime(0).TotalMilliseconds;

    /// <summary>Total events of <paramref name="kind"/> since start, logged or not.</summary>
    public long Total(string kind)
    {
        lock (_gate)
        {
            return _windows.TryGetValue(kind, out Window? w) ? w.Total : 0;
        }
    }

    /// <summary>
    /// Counts one event of <paramref name="kind"/> (a plural noun phrase, e.g. "IKE cookie replies"). Logs
    /// <paramref name="detail"/> when it is the first in its window; otherwise only counts it.
    /// </summary>
    public void Event(string kind, LogLevel level, string detail)
    {
        long now = NowMilliseconds();
        long suppressed = 0;
        double seconds = 0;
        bool logDetail;
        lock (_gate)
        {
            if (!_windows.TryGetValue(kind, out Window? w))
            {
                w = new Window { Start = now };
                _windows[kind] = w;
                logDetail = true;
            }
            else if (now - w.Start >= (long)_window.TotalMilliseconds)
            {
                suppressed = w.Suppressed;
                seconds = (now - w.Start) / 1000.0;
                w.Start = now;
                w.Suppressed = 0;
                logDetail = suppressed == 0;
            }
            else
            {
                w.Suppressed++;
                w.Latest = detail;
                w.Level = level;
                logDetail = false;
            }
            w.Total++;
        }
        if (suppressed > 0)
        {
            // The aggregate includes this event.
            Log.Aggregate(_logger, level, suppressed + 1, kind, seconds, detail);
        }
        else if (logDetail && _logger.IsEnabled(level))
        {
            Log.Single(_logger, level, detail);
        }
    }

    /// <summary>Logs what is counted but not yet logged (e.g. at shutdown).</summary>
    public void Flush() => FlushWindows(onlyClosed: false);

    private void FlushClosedWindows() => FlushWindows(onlyClosed: true);

    private void FlushWindows(bool onlyClosed)
    {
        long now = NowMilliseconds();
        List<(string Kind, long Count, double Seconds, LogLevel Level, string Latest)> pending = [];
        lock (_gate)
        {
            foreach ((string kind, Window w) in _windows)
            {
                if (w.Suppressed > 0 && (!onlyClosed || now - w.Start >= (long)_window.TotalMilliseconds))
                {
                    pending.Add((kind, w.Suppressed, (now - w.Start) / 1000.0, w.Level, w.Latest));
                    w.Suppressed = 0;
                    w.Start = now;
                }
            }
        }
        foreach ((string kind, long count, double seconds, LogLevel level, string latest) in pending)
        {
            Log.Aggregate(_logger, level, count, kind, seconds, latest);
        }
    }

    public void Dispose()
    {
        _timer.Dispose();
        Flush();
    }

    private sealed class Window
    {
        public long Start;
        public long Suppressed;
        public long Total;
        public LogLevel Level;
        public string Latest = "";
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1290, Message = "{Detail}")]
        public static partial void Single(ILogger logger, LogLevel level, string detail);

        [LoggerMessage(EventId = 1291, Message = "{Count} {Kind} in the last {Seconds:0} s (latest: {Latest})")]
        public static partial void Aggregate(ILogger logger, LogLevel level, long count, string kind, double seconds, string latest);
    }
}
