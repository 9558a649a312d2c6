using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Ippm.Agent;
using Ippm.Tests.Loopback;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ippm.Tests.Agent;

/// <summary>The agent in process against real servers on loopback: archive contents, failures and back-off, hostile targets, reload.</summary>
public sealed class AgentLoopbackTests
{
    private static readonly TimeSpan s_bound = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Agent_ThreeTests_ArchivesEverySessionAndBacksOffFromTheDownTarget()
    {
        using var h = new AgentHarness();
        await using var server = new TestServer();
        int closed = h.ClosedPort();
        AgentConfig config = h.Write($"""
            archive = {h.ArchivePath}
            packets = yes
            retry-initial = 0.2
            retry-max = 0.8

            [test e2e-twamp-auth]
            target = 127.0.0.1:{server.TwampEndPoint.Port}
            protocol = twamp
            mode = authenticated
            key-file = {h.KeyFile}
            count = 10
            interval = 0.005f
            timeout = 1
            every = 0.5

            [test e2e-owamp-both]
            target = 127.0.0.1:{server.OwampEndPoint.Port}
            protocol = owamp
            direction = both
            mode = encrypted
            key-file = alice.pfs
            count = 10
            interval = 0.005f
            timeout = 0.3
            back-to-back = yes

            [test e2e-down]
            target = 127.0.0.1:{closed}
            protocol = twamp
            """);
        var attempts = new Dictionary<string, long>();
        var log = new RecordingLoggerFactory();
        await using (var agent = new MeasurementAgent(config, log))
        {
            agent.Start();
            await AgentHarness.UntilAttemptsAsync(agent, s_bound, ("e2e-twamp-auth", 4), ("e2e-owamp-both", 3), ("e2e-down", 6));
            foreach (string test in agent.Tests)
            {
                attempts[test] = agent.Attempts(test);
            }
            await agent.StopAsync();
        }

        List<JsonElement> lines = h.Lines();
        foreach (JsonElement line in lines)
        {
            Assert.Equal(1, line.GetProperty("archive_version").GetInt32());
            Assert.True(AgentHarness.Time(line, "end_time") >= AgentHarness.Time(line, "start_time"));
        }
        ILookup<string, JsonElement> byTest = lines.ToLookup(l => l.GetProperty("test").GetString()!);
        foreach ((string test, long n) in attempts)
        {
            Assert.True(byTest[test].Count() >= n, $"{test}: {byTest[test].Count()} lines, {n} attempts");
        }

        // TWAMP authenticated: every session but one cut short by the stop is complete; 10 sent, none lost on loopback.
        JsonElement[] twamp = byTest["e2e-twamp-auth"].ToArray();
        JsonElement[] twampOk = twamp.Where(l => l.GetProperty("outcome").GetString() == "ok").ToArray();
        Assert.True(twampOk.Length >= twamp.Length - 1, string.Join("\n", twamp));
        foreach (JsonElement l in twampOk)
        {
            Assert.Equal(("twamp", "authenticated", "passphrase"), (l.GetProperty("protocol").GetString(), l.GetProperty("mode").GetString(), l.GetProperty("key_source").GetString()));
            Assert.Equal(JsonValueKind.Null, l.GetProperty("error").ValueKind);
            Assert.Equal((10, 0), (l.GetProperty("sent").GetInt32(), l.GetProperty("lost").GetInt32()));
            Assert.Equal(10, l.GetProperty("round_trip_ms").GetProperty("count").GetInt32());
            // A session's packets leave within it, and no round trip outlasts the session that holds it.
            DateTimeOffset start = AgentHarness.Time(l, "start_time"), end = AgentHarness.Time(l, "end_time");
            Assert.InRange(DateTimeOffset.Parse(l.GetProperty("first_send").GetString()!), start.AddMilliseconds(-1), end);
            Assert.True(l.GetProperty("round_trip_ms").GetProperty("max").GetDouble() <= (end - start).TotalMilliseconds);
        }
        for (int i = 1; i < twamp.Length; i++)
        {
            // every = 0.5: starts are at least 0.5 s apart.
            Assert.True((AgentHarness.Time(twamp[i], "start_time") - AgentHarness.Time(twamp[i - 1], "start_time")).TotalSeconds >= 0.49);
        }

        // OWAMP both directions, back to back: each session starts as the previous one ends.
        JsonElement[] owamp = byTest["e2e-owamp-both"].ToArray();
        JsonElement[] owampOk = owamp.Where(l => l.GetProperty("outcome").GetString() == "ok").ToArray();
        Assert.True(owampOk.Length >= owamp.Length - 1, string.Join("\n", owamp));
        foreach (JsonElement l in owampOk)
        {
            Assert.Equal("encrypted", l.GetProperty("mode").GetString());
            foreach (string direction in new[] { "outbound", "inbound" })
            {
                JsonElement d = l.GetProperty(direction);
                Assert.Equal((10, 10, 0), (d.GetProperty("sent").GetInt32(), d.GetProperty("received").GetInt32(), d.GetProperty("lost").GetInt32()));
                Assert.Equal(10, d.GetProperty("delay_ms").GetProperty("count").GetInt32());
            }
        }
        for (int i = 1; i < owamp.Length; i++)
        {
            // Back to back, not every 60 s (the default): the next start waits for nothing but the loop itself, so
            // the bound is generous for a loaded machine and still far below what any schedule would give.
            double gap = (AgentHarness.Time(owamp[i], "start_time") - AgentHarness.Time(owamp[i - 1], "end_time")).TotalSeconds;
            Assert.InRange(gap, 0, 5);
        }

        // The down target: unreachable every time, retried after 0.2, 0.4, 0.8, 0.8 … s — the back-off the runner
        // chose (its log line) exactly, and the archive's gaps at least that long (a busy machine may add to them).
        JsonElement[] down = byTest["e2e-down"].ToArray();
        Assert.All(down, l => Assert.Equal("unreachable", l.GetProperty("outcome").GetString()));
        Assert.All(down, l => Assert.Contains($"127.0.0.1:{closed}", l.GetProperty("error").GetString()));
        double[] backOffs = log.Entries
            .Where(e => e.EventId == 1310 && e.Message.StartsWith("test e2e-down:", StringComparison.Ordinal))
            .Select(e => double.Parse(e.Message[(e.Message.LastIndexOf(" in ", StringComparison.Ordinal) + 4)..^2], System.Globalization.CultureInfo.InvariantCulture))
            .ToArray();
        Assert.True(backOffs.Length >= down.Length - 1, $"{backOffs.Length} back-offs logged for {down.Length} attempts");
        Assert.Equal(Enumerable.Range(0, backOffs.Length).Select(i => Math.Min(0.2 * Math.Pow(2, i), 0.8)), backOffs, (a, b) => Math.Abs(a - b) < 1e-9);
        for (int i = 1; i < down.Length; i++)
        {
            double gap = (AgentHarness.Time(down[i], "start_time") - AgentHarness.Time(down[i - 1], "end_time")).TotalSeconds;
            Assert.True(gap >= backOffs[i - 1] - 0.01, $"attempt {i}: {gap} s after the previous one, back-off {backOffs[i - 1]} s");
        }

        // Per-packet records: for each complete session, one line per packet sent, with its SID.
        List<JsonElement> packets = h.Lines(h.PacketsPath);
        foreach (JsonElement l in twampOk)
        {
            JsonElement[] mine = packets.Where(p => p.GetProperty("sid").GetString() == l.GetProperty("sid").GetString()).ToArray();
            Assert.Equal(Enumerable.Range(0, 10), mine.Select(p => p.GetProperty("seq").GetInt32()));
            Assert.All(mine, p => Assert.False(p.GetProperty("lost").GetBoolean()));
            Assert.All(mine, p => Assert.True(p.GetProperty("t4").GetDateTimeOffset() >= p.GetProperty("t1").GetDateTimeOffset()));
            Assert.All(mine, p => Assert.Equal(JsonValueKind.Number, p.GetProperty("forward_ttl").ValueKind));
        }
        foreach (JsonElement l in owampOk)
        {
            string sid = l.GetProperty("inbound").GetProperty("sid").GetString()!;
            Assert.Equal(10, packets.Count(p => p.GetProperty("sid").GetString() == sid && p.GetProperty("direction").GetString() == "inbound" && p.TryGetProperty("ttl", out _)));
        }

        // ippm plot reads the same file: every line parses, and its delays are the timestamps' differences.
        var skipped = new List<Ippm.Plots.Archive.ArchiveFormatException>();
        List<Ippm.Plots.Archive.PacketDelay> delays = Ippm.Plots.Archive.PacketRecords.Read(h.PacketsPath, skipBad: false, skipped);
        Assert.Empty(skipped);
        Assert.Equal(packets.Count, delays.Count);
        for (int i = 0; i < packets.Count; i++)
        {
            JsonElement p = packets[i];
            if (p.GetProperty("lost").GetBoolean())
            {
                Assert.Null(delays[i].DelayMs);
                continue;
            }
            double expected = p.TryGetProperty("t1", out JsonElement t1)
                ? ((p.GetProperty("t4").GetDateTimeOffset() - t1.GetDateTimeOffset()) - (p.GetProperty("t3").GetDateTimeOffset() - p.GetProperty("t2").GetDateTimeOffset())).TotalMilliseconds
                : (p.GetProperty("receive_time").GetDateTimeOffset() - p.GetProperty("send_time").GetDateTimeOffset()).TotalMilliseconds;
            // The ISO strings carry 100 ns; the member is computed from the NTP values.
            Assert.InRange(delays[i].DelayMs!.Value, expected - 0.0005, expected + 0.0005);
        }
    }

    [Fact]
    public async Task Agent_GarbageAndSilentTargets_AreRecordedAsSuchWhileTheOthersMeasure()
    {
        using var h = new AgentHarness();
        await using var server = new TestServer();
        using var stop = new CancellationTokenSource();
        // One target answers junk (0xFF octets: no O/TWAMP Server-Greeting, Accept 255), one accepts and says nothing.
        var garbage = new TcpListener(IPAddress.Loopback, 0);
        var silent = new TcpListener(IPAddress.Loopback, 0);
        garbage.Start();
        silent.Start();
        var held = new List<TcpClient>();
        async Task Serve(TcpListener listener, bool junk)
        {
            try
            {
                for (int i = 0; i < 100 && !stop.IsCancellationRequested; i++)
                {
                    TcpClient client = await listener.AcceptTcpClientAsync(stop.Token);
                    lock (held)
                    {
                        held.Add(client);
                    }
                    if (junk)
                    {
                        byte[] bytes = Enumerable.Repeat((byte)0xFF, 4096).ToArray();
                        _ = client.GetStream().WriteAsync(bytes, stop.Token).AsTask();
                    }
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
            {
            }
        }
        Task servers = Task.WhenAll(Serve(garbage, junk: true), Serve(silent, junk: false));
        AgentConfig config = h.Write($"""
            archive = {h.ArchivePath}
            retry-initial = 0.1
            retry-max = 0.2

            [test hostile-garbage]
            target = 127.0.0.1:{((IPEndPoint)garbage.LocalEndpoint).Port}
            protocol = twamp

            [test hostile-silent]
            target = 127.0.0.1:{((IPEndPoint)silent.LocalEndpoint).Port}
            protocol = owamp
            connect-timeout = 1

            [test hostile-good]
            target = 127.0.0.1:{server.TwampEndPoint.Port}
            protocol = twamp
            count = 5
            interval = 0.005f
            every = 0.2
            """);
        try
        {
            await using var agent = new MeasurementAgent(config, NullLoggerFactory.Instance);
            agent.Start();
            await AgentHarness.UntilAttemptsAsync(agent, s_bound, ("hostile-garbage", 3), ("hostile-silent", 2), ("hostile-good", 4));
            await agent.StopAsync();
        }
        finally
        {
            await stop.CancelAsync();
            garbage.Stop();
            silent.Stop();
            await servers;
            lock (held)
            {
                held.ForEach(c => c.Dispose());
            }
        }
        ILookup<string, JsonElement> byTest = h.Lines().ToLookup(l => l.GetProperty("test").GetString()!);
        // The last attempt of each may be cut by the stop (interrupted); all others say what the target did.
        Assert.All(byTest["hostile-garbage"].SkipLast(1), l => Assert.Equal("protocol_error", l.GetProperty("outcome").GetString()));
        Assert.True(byTest["hostile-garbage"].Count() >= 3);
        Assert.Contains("Accept=255", byTest["hostile-garbage"].First().GetProperty("error").GetString());
        JsonElement[] silentLines = byTest["hostile-silent"].ToArray();
        Assert.All(silentLines.SkipLast(1), l => Assert.Equal("timeout", l.GetProperty("outcome").GetString()));
        Assert.All(silentLines.SkipLast(1), l => Assert.True((AgentHarness.Time(l, "end_time") - AgentHarness.Time(l, "start_time")).TotalSeconds >= 0.99));
        Assert.True(byTest["hostile-good"].Count(l => l.GetProperty("outcome").GetString() == "ok") >= 3);
    }

    [Fact]
    public async Task Agent_Reload_StartsAddedStopsRemovedAndLeavesUnchangedTestsRunning()
    {
        using var h = new AgentHarness();
        await using var server = new TestServer();
        string Test(string name, string extra = "") => $"""
            [test {name}]
            target = 127.0.0.1:{server.TwampEndPoint.Port}
            protocol = twamp
            count = 3
            interval = 0.01f
            every = 0.1
            {extra}

            """;
        string head = $"archive = {h.ArchivePath}\n";
        await using var agent = new MeasurementAgent(h.Write(head + Test("reload-kept") + Test("reload-removed") + Test("reload-changed")), NullLoggerFactory.Instance);
        agent.Start();
        await AgentHarness.UntilAttemptsAsync(agent, s_bound, ("reload-kept", 3), ("reload-removed", 1), ("reload-changed", 1));
        long keptBefore = agent.Attempts("reload-kept");
        (int started, int stopped, int kept) = await agent.ApplyAsync(h.Write(head + Test("reload-kept") + Test("reload-changed", "dscp = 10") + Test("reload-added")));
        Assert.Equal((2, 1, 1), (started, stopped, kept));
        Assert.Equal(["reload-added", "reload-changed", "reload-kept"], agent.Tests.Order());
        // The kept test's runner is the same one: its attempt count went on from where it was (a new runner starts at 0).
        Assert.True(agent.Attempts("reload-kept") >= keptBefore);
        int removedLines = h.Lines().Count(l => l.GetProperty("test").GetString() == "reload-removed");
        await AgentHarness.UntilAttemptsAsync(agent, s_bound, ("reload-added", 2), ("reload-changed", 2), ("reload-kept", (int)keptBefore + 3));
        // A session of the changed test measured with its new settings: waited for in the archive, not assumed from the
        // attempt count (on a loaded machine an attempt may end in a timeout, which archives no request).
        static bool ChangedWithDscp10(JsonElement l) =>
            l.GetProperty("test").GetString() == "reload-changed" && l.TryGetProperty("request", out JsonElement r) && r.GetProperty("dscp").GetInt32() == 10;
        await h.UntilArchivedAsync(s_bound, "a reload-changed session with dscp 10", ChangedWithDscp10);
        await agent.StopAsync();
        List<JsonElement> lines = h.Lines();
        Assert.Equal(removedLines, lines.Count(l => l.GetProperty("test").GetString() == "reload-removed"));
        // The kept test was never interrupted by the reload: at most its very last session, by the final stop.
        JsonElement[] keptLines = lines.Where(l => l.GetProperty("test").GetString() == "reload-kept").ToArray();
        Assert.DoesNotContain(keptLines.SkipLast(1), l => l.GetProperty("outcome").GetString() == "interrupted");
        Assert.Contains(lines, ChangedWithDscp10);
    }
}
