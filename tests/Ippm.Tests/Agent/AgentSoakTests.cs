using System.Diagnostics;
using System.Globalization;
using Ippm.Agent;
using Ippm.Tests.Cli;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;

namespace Ippm.Tests.Agent;

/// <summary>Runs alone: the soak measures the whole process's memory, which other tests running beside it would move.</summary>
[CollectionDefinition(nameof(SoakCollection), DisableParallelization = true)]
public sealed class SoakCollection
{
}

/// <summary>
/// A bounded soak: 2 000 very short sessions (4 tests back to back, one packet each) through one agent against a
/// loopback server, archive rotation on. After a warm-up of 400 sessions the live managed heap (after forced full
/// collections) and the resident set must stay flat: the archive, the metrics and the runners keep nothing per session.
/// </summary>
[Collection(nameof(SoakCollection))]
public sealed class AgentSoakTests(ITestOutputHelper output)
{
    private const int WarmUp = 400;
    private const int Total = 2_000;

    /// <summary>Growth allowed from warm-up to the end. Keeping one report (a few KiB) per session would be several MiB.</summary>
    private const long ManagedBound = 1L << 20;

    private const long ResidentBound = 24L << 20;

    [Fact]
    public async Task Agent_TwoThousandShortSessions_KeepsMemoryFlat()
    {
        using var h = new AgentHarness();
        // The server runs as its own process, so the memory measured here is the agent's (and the test host's). Its
        // per-source shares are for hostile clients: 4 back-to-back tests from one address, with reflectors lingering
        // after Stop-Sessions, would reach the default ones (Accept=5, archived as refused).
        using var server = new ServerProcess("server", "--twamp-listen", "127.0.0.1:0", "--max-connections", "1000",
            "--max-connections-per-source", "1000", "--max-sessions-per-source", "100000", "--max-memory-per-source", "1G", "--log-level", "Warning");
        // Warning level keeps the captured server log (held by this test host) from growing per session; the bound port
        // comes from the line ippm prints on standard output for a port 0 whatever the log level, once it listens.
        int port = await server.TwampPortAsync(TimeSpan.FromSeconds(60));
        string tests = string.Concat(Enumerable.Range(0, 4).Select(i => $"""
            [test soak-{i}]
            target = 127.0.0.1:{port}
            protocol = twamp
            count = 1
            interval = 0.001f
            timeout = 0.5
            back-to-back = yes

            """));
        AgentConfig config = h.Write($"archive = {h.ArchivePath}\narchive-max-size = 256K\narchive-keep = 2\n" + tests);
        await using var agent = new MeasurementAgent(config, NullLoggerFactory.Instance);
        long Sessions() => Enumerable.Range(0, 4).Sum(i => agent.Attempts($"soak-{i}"));
        var clock = Stopwatch.StartNew();
        agent.Start();
        await UntilAsync(() => Sessions() >= WarmUp);
        long warmSessions = Sessions();
        (long managedWarm, long residentWarm) = Measure();
        double warmSeconds = clock.Elapsed.TotalSeconds;
        await UntilAsync(() => Sessions() >= Total);
        long endSessions = Sessions();
        (long managedEnd, long residentEnd) = Measure();
        await agent.StopAsync();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{endSessions} sessions in {clock.Elapsed.TotalSeconds:0.0} s (warm-up {warmSessions} in {warmSeconds:0.0} s); live managed heap {managedWarm >> 10} → {managedEnd >> 10} KiB, RSS {residentWarm / 1048576.0:0.0} → {residentEnd / 1048576.0:0.0} MiB"));
        // Rotation bounded the files: the current one and at most 2 rotated, each at most 256 KiB.
        string[] files = Directory.GetFiles(h.Directory, "agent.jsonl*");
        Assert.InRange(files.Length, 2, 3);
        Assert.All(files, f => Assert.True(new FileInfo(f).Length <= 256 << 10));
        Assert.All(h.Lines(), l => Assert.Contains(l.GetProperty("outcome").GetString(), new[] { "ok", "interrupted" }));
        Assert.True(managedEnd - managedWarm < ManagedBound, $"live managed heap grew {(managedEnd - managedWarm) >> 10} KiB over {endSessions - warmSessions} sessions");
        Assert.True(residentEnd - residentWarm < ResidentBound, $"resident set grew {(residentEnd - residentWarm) >> 20} MiB over {endSessions - warmSessions} sessions");
    }

    private static (long Managed, long Resident) Measure()
    {
        for (int i = 0; i < 3; i++)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }
        using Process self = Process.GetCurrentProcess();
        return (GC.GetTotalMemory(forceFullCollection: true), self.WorkingSet64);
    }

    private static async Task UntilAsync(Func<bool> condition)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromMinutes(5), "the soak did not reach its session count within 5 minutes");
            await Task.Delay(50);
        }
    }
}
