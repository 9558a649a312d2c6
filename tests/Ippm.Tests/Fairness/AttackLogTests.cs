using Ippm.Ikev2.Fairness;
using Ippm.Tests.Fakes;
using Ippm.Tests.Loopback;
using Microsoft.Extensions.Logging;

namespace Ippm.Tests.Fairness;

/// <summary>Attack-driven log lines: the first of a kind as it is, the rest as one aggregate per window.</summary>
public sealed class AttackLogTests
{
    [Fact]
    public void ThousandEvents_FirstLoggedThenOneAggregateWhenTheWindowCloses()
    {
        // On a manual clock: the window closes when the test says, not when a loaded machine gets round to it (on
        // the real clock a slow loop of 1000 events could outlast a short window and split the aggregate).
        var time = new ManualTimeProvider();
        var logs = new RecordingLoggerFactory();
        using var log = new AttackLog(logs.CreateLogger("test"), TimeSpan.FromSeconds(10), time);
        for (int i = 0; i < 1000; i++)
        {
            log.Event("cookie replies", LogLevel.Information, $"reply {i}");
        }
        Assert.Single(logs.Entries);
        Assert.Equal("reply 0", logs.Entries.Single().Message);

        time.Advance(TimeSpan.FromSeconds(10) - TimeSpan.FromMilliseconds(1));
        Assert.Single(logs.Entries); // the window is still open

        // The attack stopped: the timer closes the window and reports the 999 counted since.
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(2, logs.Entries.Count);
        Assert.StartsWith("999 cookie replies in the last 10", logs.Entries.Last().Message, StringComparison.Ordinal);
        Assert.Contains("(latest: reply 999)", logs.Entries.Last().Message, StringComparison.Ordinal);
        Assert.Equal(1000, log.Total("cookie replies"));

        // Nothing more was counted: the next window closes without a line.
        time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(2, logs.Entries.Count);
    }
}
