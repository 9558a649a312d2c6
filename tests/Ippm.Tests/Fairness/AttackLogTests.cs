using Ippm.Ikev2.Fairness;
using Ippm.Tests.Loopback;
using Microsoft.Extensions.Logging;

namespace Ippm.Tests.Fairness;

/// <summary>Attack-driven log lines: the first of a kind as it is, the rest as one aggregate per window.</summary>
public sealed class AttackLogTests
{
    [Fact]
    public async Task ThousandEvents_FirstLoggedThenOneAggregateWhenTheWindowCloses()
    {
        var logs = new RecordingLoggerFactory();
        using var log = new AttackLog(logs.CreateLogger("test"), TimeSpan.FromMilliseconds(300));
        for (int i = 0; i < 1000; i++)
        {
            log.Event("cookie replies", LogLevel.Information, $"reply {i}");
        }
        Assert.Single(logs.Entries);
        Assert.Equal("reply 0", logs.Entries.Single().Message);

        // The attack stopped: the timer closes the window and reports the 999 counted since.
        for (int i = 0; i < 100 && logs.Entries.Count < 2; i++)
        {
            await Task.Delay(50);
        }
        Assert.Equal(2, logs.Entries.Count);
        Assert.StartsWith("999 cookie replies in the last ", logs.Entries.Last().Message, StringComparison.Ordinal);
        Assert.Contains("(latest: reply 999)", logs.Entries.Last().Message, StringComparison.Ordinal);
        Assert.Equal(1000, log.Total("cookie replies"));
    }
}
