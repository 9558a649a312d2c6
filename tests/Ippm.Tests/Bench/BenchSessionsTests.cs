using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Ippm.Sessions.Bench;
using Ippm.Tests.Cli;
using Ippm.Tests.Loopback;
using Ippm.Wire;

namespace Ippm.Tests.Bench;

/// <summary>
/// <c>ippm bench sessions</c> end to end: real TWAMP-Control and test packets from several source addresses. The
/// figures are checked for presence and plausibility, and the counts against the server's own log (an oracle the
/// harness does not compute); speed is never asserted.
/// </summary>
public sealed partial class BenchSessionsTests
{
    [Fact]
    public async Task Executable_FortySessionsFromEightSources_AllFiguresPresentAndPlausible()
    {
        var (exit, stdout, stderr) = await IppmProcess.RunAsync(TimeSpan.FromSeconds(180),
            "bench", "sessions", "--sessions", "40", "--rate", "10", "--seconds", "2", "--idle-seconds", "1",
            "--sources", "127.0.0.2-127.0.0.9", "--sessions-per-connection", "4", "--json");

        Assert.True(exit == 0, stderr);
        using JsonDocument json = JsonDocument.Parse(stdout);
        JsonElement root = json.RootElement;
        Assert.Equal("open", root.GetProperty("mode").GetString());
        Assert.Equal(8, root.GetProperty("sources").GetInt32());
        JsonElement round = Assert.Single(root.GetProperty("rounds").EnumerateArray().ToList());
        Assert.Equal(40, round.GetProperty("sessions").GetInt32());
        Assert.Equal(10, round.GetProperty("connections").GetInt32());
        Assert.Empty(round.GetProperty("refusals").EnumerateObject());
        // 40 sessions × 10 packets/s × 2 s, all scheduled packets sent.
        long sent = round.GetProperty("sent").GetInt64();
        long received = round.GetProperty("received").GetInt64();
        Assert.Equal(800, sent + round.GetProperty("send_failed").GetInt64());
        // Loopback: every packet comes back, allowing 1 % for a machine busy enough to overflow a socket buffer.
        Assert.InRange(received, sent * 99 / 100, sent);
        Assert.Equal(sent - received, round.GetProperty("lost").GetInt64());
        Assert.True(round.GetProperty("server_cpu_us_per_packet").GetDouble() > 0);
        Assert.True(round.GetProperty("client_cpu_us_per_packet").GetDouble() > 0);
        Assert.Equal(JsonValueKind.Number, round.GetProperty("machine_cpu_us_per_packet").ValueKind);
        Assert.True(round.GetProperty("idle_cpu_percent_of_core").GetDouble() >= 0);
        foreach (string phase in new[] { "before", "idle", "driven", "after" })
        {
            Assert.True(round.GetProperty("rss_kib").GetProperty(phase).GetInt64() > 10_000, phase);
            Assert.True(round.GetProperty("threads").GetProperty(phase).GetInt32() > 0, phase);
        }
        Assert.Equal(round.GetProperty("rss_kib").GetProperty("after").GetInt64() - round.GetProperty("rss_kib").GetProperty("before").GetInt64(),
            round.GetProperty("rss_after_over_baseline_kib").GetInt64());
        // Forty sessions' sockets and buffers cost the server something.
        Assert.True(round.GetProperty("kib_per_idle_session").GetDouble() > 0);
        // The kernel's floor (the C echo beside the repository) got the same 800 packets' load after the round.
        long floorSent = round.GetProperty("floor_sent").GetInt64();
        Assert.InRange(floorSent, 792, 800);
        Assert.InRange(round.GetProperty("floor_lost").GetInt64(), 0, floorSent / 100);
        Assert.True(round.GetProperty("floor_cpu_us_per_packet").GetDouble() >= 0);
    }

    /// <summary>No gcc to build the floor's echo: a clear error that says what to do, not a stack trace.</summary>
    [Fact]
    public async Task Executable_NoGccForTheFloor_SaysSoAndHowToSkipIt()
    {
        // A PATH that holds dotnet only (env finds it there), so gcc cannot be found.
        string bin = Directory.CreateTempSubdirectory("ippm-nogcc-").FullName;
        try
        {
            // The dotnet host sits at the root of the installation, above shared/Microsoft.NETCore.App/VERSION/.
            string host = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(typeof(object).Assembly.Location)!, "..", "..", "..", "dotnet"));
            Assert.True(File.Exists(host), host);
            File.CreateSymbolicLink(Path.Combine(bin, "dotnet"), host);
            System.Diagnostics.ProcessStartInfo info = IppmProcess.StartInfo(
                "bench", "sessions", "--sessions", "2", "--rate", "1", "--seconds", "0.5", "--idle-seconds", "0.5", "--json");
            info.Environment["PATH"] = bin;
            using System.Diagnostics.Process process = System.Diagnostics.Process.Start(info)!;
            Task<string> stderr = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(120));
            string errors = await stderr;
            Assert.True(process.ExitCode == 2, errors); // ExitCodes.Refused
            Assert.Contains("needs gcc", errors, StringComparison.Ordinal);
            Assert.Contains("--no-floor", errors, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", errors, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(bin, recursive: true);
        }
    }

    /// <summary>
    /// The default limits leave room for a mesh whose peers open one control connection per session (perfSONAR's
    /// twping): 256 connections (twice the old server-wide limit) from two addresses, 128 each (the per-source share).
    /// </summary>
    [Fact]
    public async Task DefaultServer_OneSessionPerConnection_128ConnectionsFromEachOfTwoSources_AllAccepted()
    {
        var (exit, stdout, stderr) = await IppmProcess.RunAsync(TimeSpan.FromSeconds(240),
            "bench", "sessions", "--sessions", "256", "--rate", "1", "--seconds", "1", "--idle-seconds", "0.5",
            "--sources", "127.0.0.2-127.0.0.3", "--sessions-per-connection", "1", "--no-floor", "--json");

        Assert.True(exit == 0, stderr);
        using JsonDocument json = JsonDocument.Parse(stdout);
        JsonElement round = json.RootElement.GetProperty("rounds")[0];
        Assert.Empty(round.GetProperty("refusals").EnumerateObject());
        Assert.Equal(256, round.GetProperty("sessions").GetInt32());
        Assert.Equal(256, round.GetProperty("connections").GetInt32());
        Assert.Equal(JsonValueKind.Null, round.GetProperty("floor_sent").ValueKind);
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("server_cpu_over_floor_median").ValueKind);
    }

    /// <summary>--server with --server-pid: another server process measured from outside, here an ippm server with a limit of 5 sessions per connection.</summary>
    [Fact]
    public async Task Executable_OtherServerWithPid_LearnsItsSessionsPerConnection_MeasuresItsProcess()
    {
        using var server = new ServerProcess("server", "--twamp-listen", "127.0.0.1:0", "--max-sessions", "5", "--log-level", "Warning");
        int port = await server.TwampPortAsync(TimeSpan.FromSeconds(60));
        var (exit, stdout, stderr) = await IppmProcess.RunAsync(TimeSpan.FromSeconds(180),
            "bench", "sessions", "--server", $"127.0.0.1:{port}", "--server-pid", server.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--sessions", "20", "--rate", "5", "--seconds", "1", "--idle-seconds", "0.5", "--json");

        Assert.True(exit == 0, stderr);
        using JsonDocument json = JsonDocument.Parse(stdout);
        JsonElement round = json.RootElement.GetProperty("rounds")[0];
        // The first connection was refused its sixth session (Accept=4, permanent resource limitation) and the rest were planned at five each.
        Assert.Equal(20, round.GetProperty("sessions").GetInt32());
        Assert.Equal(5, round.GetProperty("sessions_per_connection").GetInt32());
        Assert.Equal(4, round.GetProperty("connections").GetInt32());
        Assert.Equal(1, round.GetProperty("refusals").GetProperty("Accept=4").GetInt32());
        Assert.True(round.GetProperty("server_cpu_us_per_packet").GetDouble() > 0);
        Assert.True(round.GetProperty("threads").GetProperty("idle").GetInt32() > 0);
    }

    [Fact]
    public async Task InProcess_SessionsComeFromEverySource_ServerLogAgreesWithTheCounts()
    {
        await using var server = new TestServer();
        IPAddress[] sources = Enumerable.Range(2, 5).Select(i => IPAddress.Parse($"127.0.0.{i}")).ToArray();
        Task<IReadOnlyList<SessionsRound>> run = SessionsLoad.RunAsync(new SessionsLoadOptions
        {
            Server = server.TwampEndPoint,
            Sessions = 30,
            Rate = 10,
            Duration = TimeSpan.FromSeconds(2),
            IdleDuration = TimeSpan.FromSeconds(0.5),
            Sources = sources,
            Mode = SecurityMode.Authenticated,
            Identity = TestServer.Identity,
            Secret = TestServer.Passphrase,
            MaxSessionsPerConnection = 3,
            ServerPid = null, // in process: /proc figures would mix in the test host's own threads
            Rounds = 2,
        }, null, CancellationToken.None);
        // While it drives, the harness's threads run under SCHED_BATCH (the default), read back from the kernel: the
        // last policy seen of each thread (a thread is named a moment before it sets its policy).
        var policies = new Dictionary<string, int>();
        while (!run.IsCompleted)
        {
            foreach ((string thread, int policy) in HarnessThreadPolicies())
            {
                policies[thread] = policy;
            }
            await Task.Delay(20);
        }
        IReadOnlyList<SessionsRound> rounds = await run.DefaultTimeout();
        Assert.True(policies.Count >= 2, $"{policies.Count} harness threads seen"); // a send and a receive thread at least
        Assert.All(policies.Values, policy => Assert.Equal(3, policy)); // SCHED_BATCH, <linux/sched.h>

        Assert.Equal(2, rounds.Count);
        foreach (SessionsRound round in rounds)
        {
            Assert.Equal(30, round.SessionsSetUp);
            Assert.Equal(10, round.Connections);
            Assert.Equal(600, round.Sent + round.SendFailed);
            Assert.InRange(round.Received, round.Sent * 99 / 100, round.Sent);
            Assert.Null(round.ServerCpuMicrosecondsPerPacket);
        }
        // Every reflector of both rounds has ended and logged what it reflected: that sum is the server's own count.
        for (int i = 0; i < 100 && ReflectorEnds(server).Count < 60; i++)
        {
            await Task.Delay(100);
        }
        List<long> ends = ReflectorEnds(server);
        Assert.Equal(60, ends.Count);
        long reflected = ends.Sum();
        Assert.InRange(reflected, rounds.Sum(r => r.Received), rounds.Sum(r => r.Sent));
        // Accepted sessions name their peer's test address: each source holds 6 sessions per round (2 connections of 3).
        var peers = server.LoggerFactory.Entries.Where(e => e.EventId == 204)
            .Select(e => PeerTestAddress().Match(e.Message).Groups[1].Value).GroupBy(a => a).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(sources.Select(s => s.ToString()).Order(), peers.Keys.Order());
        Assert.All(peers.Values, count => Assert.Equal(12, count));
    }

    /// <summary>The scheduling policy (proc(5) stat field 41) of this process's threads named "bench sessions …".</summary>
    private static IEnumerable<(string Thread, int Policy)> HarnessThreadPolicies()
    {
        foreach (string task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            string stat;
            try
            {
                if (!File.ReadAllText(Path.Combine(task, "comm")).StartsWith("bench sessions", StringComparison.Ordinal))
                {
                    continue;
                }
                stat = File.ReadAllText(Path.Combine(task, "stat"));
            }
            catch (IOException)
            {
                continue; // the thread ended meanwhile
            }
            // Fields counted after the command name's closing parenthesis: field 3 is the first, so 41 is the 39th.
            string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            yield return (Path.GetFileName(task), int.Parse(fields[38], System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    private static List<long> ReflectorEnds(TestServer server) => server.LoggerFactory.Entries
        .Where(e => e.EventId == 303)
        .Select(e => long.Parse(ReflectedCount().Match(e.Message).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture))
        .ToList();

    [GeneratedRegex(@"reflector ended: (\d+) reflected")]
    private static partial Regex ReflectedCount();

    [GeneratedRegex(@"peer \[?([0-9.]+)\]?:\d+")]
    private static partial Regex PeerTestAddress();

    [Theory]
    [InlineData("127.0.0.2-127.0.0.33", 32, "127.0.0.33")]
    [InlineData("10.0.0.255-10.0.1.1", 3, "10.0.1.1")]
    [InlineData("127.0.0.2, ::1", 2, "::1")]
    public void Sources_RangesAndLists(string text, int count, string last)
    {
        Assert.Null(Ippm.Cli.BenchSessionsCommand.TryParseSources(text, out List<IPAddress> addresses));
        Assert.Equal(count, addresses.Count);
        Assert.Equal(IPAddress.Parse(last), addresses[^1]);
    }

    [Theory]
    [InlineData("127.0.0.9-127.0.0.2")]
    [InlineData("10.0.0.0-10.0.8.0")]
    [InlineData("127.0.0.2-::1")]
    [InlineData("nonsense")]
    public void Sources_Nonsense_Refused(string text) => Assert.NotNull(Ippm.Cli.BenchSessionsCommand.TryParseSources(text, out _));
}
