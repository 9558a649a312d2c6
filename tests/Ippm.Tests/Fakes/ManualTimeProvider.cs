using System.Threading.Channels;
using Ippm.Tests.Loopback;

namespace Ippm.Tests.Fakes;

/// <summary>
/// A <see cref="TimeProvider"/> whose time moves only when the test calls <see cref="Advance"/>; due timers fire
/// inside that call, in due order. Each timer the code under test creates is announced with its due time
/// (<see cref="NextTimerAsync"/>), so a test waits for the code to start waiting — an event, not a sleep — and then
/// moves time exactly that far. Nothing depends on how fast the machine is.
/// </summary>
internal sealed class ManualTimeProvider : TimeProvider
{
    private readonly Lock _lock = new();
    private readonly List<ManualTimer> _scheduled = [];
    private readonly Channel<TimeSpan> _created = Channel.CreateUnbounded<TimeSpan>();
    private readonly DateTimeOffset _epoch;
    private long _ticks;

    public ManualTimeProvider(DateTimeOffset? epoch = null) => _epoch = epoch ?? new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>How far the test has moved time.</summary>
    public TimeSpan Elapsed
    {
        get
        {
            lock (_lock)
            {
                return new TimeSpan(_ticks);
            }
        }
    }

    public override DateTimeOffset GetUtcNow() => _epoch + Elapsed;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Elapsed.Ticks;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ManualTimer(this, callback, state);
        timer.Change(dueTime, period);
        _created.Writer.TryWrite(dueTime);
        return timer;
    }

    /// <summary>The due time of the next timer the code under test creates (30 s of real time at most).</summary>
    public Task<TimeSpan> NextTimerAsync() => _created.Reader.ReadAsync().AsTask().DefaultTimeout();

    /// <summary>Moves time forward by <paramref name="by"/>, firing every timer that falls due on the way.</summary>
    public void Advance(TimeSpan by)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(by, TimeSpan.Zero);
        long target;
        lock (_lock)
        {
            target = _ticks + by.Ticks;
        }
        while (true)
        {
            ManualTimer? due;
            lock (_lock)
            {
                due = _scheduled.Where(t => t.DueAt <= target).MinBy(t => t.DueAt);
                if (due is null)
                {
                    _ticks = target;
                    return;
                }
                _ticks = Math.Max(_ticks, due.DueAt);
                _scheduled.Remove(due);
                if (due.Period > 0)
                {
                    due.DueAt += due.Period;
                    _scheduled.Add(due);
                }
            }
            due.Fire();
        }
    }

    private sealed class ManualTimer(ManualTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        public long DueAt { get; set; }

        public long Period { get; private set; }

        public void Fire() => callback(state);

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (owner._lock)
            {
                owner._scheduled.Remove(this);
                if (dueTime == Timeout.InfiniteTimeSpan)
                {
                    return true;
                }
                DueAt = owner._ticks + dueTime.Ticks;
                Period = period > TimeSpan.Zero ? period.Ticks : 0;
                owner._scheduled.Add(this);
                return true;
            }
        }

        public void Dispose()
        {
            lock (owner._lock)
            {
                owner._scheduled.Remove(this);
            }
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
