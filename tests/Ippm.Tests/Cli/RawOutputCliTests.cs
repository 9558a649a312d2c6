using System.Globalization;
using System.Text.RegularExpressions;
using Ippm.Sessions.SessionFiles;
using Ippm.Tests.Vectors;
using Ippm.Wire.Test;

namespace Ippm.Tests.Cli;

/// <summary>
/// The perfSONAR-format outputs from the <c>ippm</c> executable: <c>ippm stats</c> on perfSONAR's own .owp files
/// against owstats's output for them, and owping -F/-T / twping -R/-M against a real <c>ippm server</c> over loopback.
/// </summary>
public sealed partial class RawOutputCliTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    private static string Vector(string relative) => Path.Combine(PerfsonarVectorsDirectory.Path, relative);

    private static string[] OwstatsLines(string relative) => File.ReadAllLines(Vector(relative)).Skip(2).ToArray(); // two NTP warnings on stderr first

    private static string[] Lines(string stdout) => stdout.Split('\n')[..^1];

    public static TheoryData<string> Files => new() { "to-open", "from-open", "to-auth", "from-auth" };

    [Theory]
    [MemberData(nameof(Files))]
    public async Task Stats_PerfsonarFiles_PrintWhatOwstatsPrinted(string name)
    {
        string file = Vector($"owp/{name}.owp");

        var raw = await IppmProcess.RunAsync(Timeout, "stats", "-R", file);
        Assert.Equal(0, raw.ExitCode);
        Assert.Equal(OwstatsLines($"owp/{name}.owstats-R.txt"), Lines(raw.Stdout));

        // -M and the report: every line as owstats printed it (host names from the reverse lookup of 127.0.0.1, as
        // owstats), except the delay figures where ippm's exact arithmetic and owstats's doubles part (within 2^-21 s;
        // tests/Ippm.Statistics.Tests/PerfsonarOutputOracleTests checks those lines).
        var machine = await IppmProcess.RunAsync(Timeout, "stats", "-M", file);
        Assert.Equal(0, machine.ExitCode);
        string[] expected = OwstatsLines($"owp/{name}.owstats-M.txt"), actual = Lines(machine.Stdout);
        Assert.Equal(expected.Length, actual.Length);
        static bool Figure(string line) => line.StartsWith("MIN\t", StringComparison.Ordinal) || line.StartsWith("MAX\t", StringComparison.Ordinal) || Regex.IsMatch(line, @"^\t\d+\t\d+$");
        Assert.Equal(expected.Where(l => !Figure(l)), actual.Where(l => !Figure(l)));

        var report = await IppmProcess.RunAsync(Timeout, "stats", file);
        Assert.Equal(0, report.ExitCode);
        expected = OwstatsLines($"owp/{name}.owstats.txt");
        actual = Lines(report.Stdout);
        Assert.Equal(expected.Where(l => !l.StartsWith("one-way delay", StringComparison.Ordinal)), actual.Where(l => !l.StartsWith("one-way delay", StringComparison.Ordinal)));
        Assert.Equal(expected.Length, actual.Length);
    }

    [Fact]
    public async Task Stats_BadFiles_OneLineAndExit1()
    {
        string dir = Directory.CreateTempSubdirectory("ippm-stats").FullName;
        try
        {
            byte[] good = File.ReadAllBytes(Vector("owp/to-open.owp"));
            string truncated = Path.Combine(dir, "truncated.owp");
            File.WriteAllBytes(truncated, good[..(good.Length - 7)]);
            string garbage = Path.Combine(dir, "garbage.owp");
            File.WriteAllText(garbage, "not a session");

            foreach ((string path, string says) in new[] { (truncated, "data records"), (garbage, "magic"), (Path.Combine(dir, "missing.owp"), "missing.owp") })
            {
                var run = await IppmProcess.RunAsync(Timeout, "stats", path);
                Assert.Equal(1, run.ExitCode);
                Assert.Contains(says, run.Stderr, StringComparison.Ordinal);
                Assert.Equal("", run.Stdout);
            }
            var both = await IppmProcess.RunAsync(Timeout, "stats", "-R", "-M", Vector("owp/to-open.owp"));
            Assert.Equal(1, both.ExitCode);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task OwpingAndTwping_Quiet_PrintNothing_TheFilesStillHoldTheSession()
    {
        string dir = Directory.CreateTempSubdirectory("ippm-quiet").FullName;
        using var server = new ServerProcess("server", "--owamp-listen", "127.0.0.1:0", "--twamp-listen", "127.0.0.1:0");
        try
        {
            string from = Path.Combine(dir, "from.owp");
            var owping = await IppmProcess.RunAsync(Timeout, "owping", "-Q", "-c", "20", "-i", "0.005f", "-L", "1", "-F", from, $"127.0.0.1:{await server.OwampPortAsync(Timeout)}");
            Assert.True(owping.ExitCode == 0, owping.Stderr);
            Assert.Empty(owping.Stdout);
            PerfsonarOwpSession session = PerfsonarOwpFile.Parse(File.ReadAllBytes(from));
            Assert.Equal(20, session.Records.Count(r => !r.IsLost));

            var twping = await IppmProcess.RunAsync(Timeout, "twping", "-Q", "-c", "5", "-i", "0.005f", $"127.0.0.1:{await server.TwampPortAsync(Timeout)}");
            Assert.True(twping.ExitCode == 0, twping.Stderr);
            Assert.Empty(twping.Stdout);

            var both = await IppmProcess.RunAsync(Timeout, "owping", "-Q", "-M", "-c", "1", "127.0.0.1:1");
            Assert.Equal(1, both.ExitCode);
            Assert.Contains("-Q prints nothing", both.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Owping_SaveFiles_InPerfsonarFormat_StatsReadsBackTheRunsFigures()
    {
        string dir = Directory.CreateTempSubdirectory("ippm-owp").FullName;
        string dataDir = Path.Combine(dir, "data");
        Directory.CreateDirectory(dataDir);
        using var server = new ServerProcess("server", "--owamp-listen", "127.0.0.1:0", "--data-dir", dataDir);
        try
        {
            int port = await server.OwampPortAsync(Timeout);
            string from = Path.Combine(dir, "from.owp"), to = Path.Combine(dir, "to.owp");

            var run = await IppmProcess.RunAsync(Timeout, "owping", "-c", "40", "-i", "0.005e", "-L", "1", "-F", from, "-T", to, $"127.0.0.1:{port}");
            Assert.True(run.ExitCode == 0, run.Stderr);
            MatchCollection reported = SentLost().Matches(run.Stdout);
            Assert.Equal(2, reported.Count);
            string[] sids = Sids().Matches(run.Stdout).Select(m => m.Groups[1].Value).ToArray();
            Assert.Equal(2, sids.Length);

            // The files are perfSONAR's layout: the fetched (to) session keeps its skip ranges before the records, the
            // received (from) one after them, as owping writes them; writing the parsed file again gives the same octets.
            foreach ((string path, OwpSkipPlacement placement, string sid, Match figures) in new[] { (to, OwpSkipPlacement.BeforeRecords, sids[0], reported[0]), (from, OwpSkipPlacement.AfterRecords, sids[1], reported[1]) })
            {
                byte[] bytes = File.ReadAllBytes(path);
                PerfsonarOwpSession session = PerfsonarOwpFile.Parse(bytes);
                Assert.Equal(placement, session.SkipPlacement);
                Assert.Equal(bytes, PerfsonarOwpFileWriter.Serialize(session, placement));
                Assert.Equal(sid, session.Request.Sid.ToString());
                Assert.True(session.IsFinished);
                Assert.Equal(40u, session.Request.PacketCount);
                Assert.NotEqual(0, session.Request.SenderPort);
                Assert.NotEqual(0, session.Request.ReceiverPort);

                var stats = await IppmProcess.RunAsync(Timeout, "stats", "-M", path);
                Assert.Equal(0, stats.ExitCode);
                string[] m = Lines(stats.Stdout);
                Assert.Contains($"SID\t{sid}", m);
                Assert.Contains($"SENT\t{figures.Groups["sent"].Value}", m);
                Assert.Contains($"LOST\t{figures.Groups["lost"].Value}", m);
                Assert.Contains("SESSION_FINISHED\t1", m);
                Assert.Contains($"TO_PORT\t{session.Request.ReceiverPort}", m);
                // START_TIME is packet 0's scheduled send time, from the SID's schedule: within the timeout of when it left.
                OwampDataRecord first = session.Records.Where(r => r.SequenceNumber == 0).Single();
                ulong start = ulong.Parse(m.Single(l => l.StartsWith("START_TIME\t", StringComparison.Ordinal))[11..], CultureInfo.InvariantCulture);
                Assert.InRange((long)(first.SendTime.Value - start) / 4294967296.0, -0.001, 1.0);

                var rawLines = Lines((await IppmProcess.RunAsync(Timeout, "stats", "-R", path)).Stdout);
                Assert.Equal(session.Records.Count, rawLines.Length);
            }

            // The server kept the outbound session in its data directory (its own IPPM-OWP format, stored at
            // Stop-Sessions): ippm stats reads it too, and its stored request names the session as Fetch-Session's copy
            // does (SID and receiver port filled in, as owampd's).
            string stored = Path.Combine(dataDir, sids[0] + ".owp");
            Ippm.Sessions.Owamp.OwampStoredSession kept = Ippm.Sessions.Owamp.OwampSessionFile.TryRead(File.ReadAllBytes(stored), out string reason) ?? throw new InvalidDataException(reason);
            Assert.Equal(sids[0], Convert.ToHexStringLower(kept.Request.AsSpan(48, 16)));
            Assert.NotEqual(0, (kept.Request[14] << 8) | kept.Request[15]);
            var fromStore = await IppmProcess.RunAsync(Timeout, "stats", "-M", stored);
            Assert.True(fromStore.ExitCode == 0, fromStore.Stderr);
            Assert.Contains($"SID\t{sids[0]}", Lines(fromStore.Stdout));
            Assert.Contains($"SENT\t{reported[0].Groups["sent"].Value}", Lines(fromStore.Stdout));
            Assert.Contains($"LOST\t{reported[0].Groups["lost"].Value}", Lines(fromStore.Stdout));
            var json = await IppmProcess.RunAsync(Timeout, "stats", "--json", to, from);
            Assert.True(json.ExitCode == 0, json.Stderr);
            using (var doc = System.Text.Json.JsonDocument.Parse(json.Stdout))
            {
                Assert.Equal(2, doc.RootElement.GetArrayLength());
                for (int i = 0; i < 2; i++)
                {
                    Assert.Equal(sids[i], doc.RootElement[i].GetProperty("sid").GetString());
                    Assert.Equal(long.Parse(reported[i].Groups["sent"].Value, CultureInfo.InvariantCulture), doc.RootElement[i].GetProperty("sent").GetInt64());
                    Assert.Equal(long.Parse(reported[i].Groups["lost"].Value, CultureInfo.InvariantCulture), doc.RootElement[i].GetProperty("lost").GetInt64());
                }
            }

            // owping -R prints both directions' records, to first; -M their two summaries.
            var owpingRaw = await IppmProcess.RunAsync(Timeout, "owping", "-c", "10", "-i", "0.005e", "-L", "1", "-R", $"127.0.0.1:{port}");
            Assert.True(owpingRaw.ExitCode == 0, owpingRaw.Stderr);
            string[] lines = Lines(owpingRaw.Stdout);
            Assert.Equal(20, lines.Length);
            Assert.All(lines, l => Assert.Equal(8, l.Split(' ').Length));
            var owpingMachine = await IppmProcess.RunAsync(Timeout, "owping", "-c", "10", "-i", "0.005e", "-L", "1", "-M", $"127.0.0.1:{port}");
            Assert.True(owpingMachine.ExitCode == 0, owpingMachine.Stderr);
            Assert.Equal(2, Lines(owpingMachine.Stdout).Count(l => l == "SUMMARY\t3.00"));
            Assert.Equal(2, Lines(owpingMachine.Stdout).Count(l => l == "SENT\t10"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Twping_RawAndMachine_InTwpingsLayout()
    {
        using var server = new ServerProcess("server", "--twamp-listen", "127.0.0.1:0");
        int port = await server.TwampPortAsync(Timeout);

        var raw = await IppmProcess.RunAsync(Timeout, "twping", "-c", "20", "-i", "0.005e", "-R", $"127.0.0.1:{port}");
        Assert.True(raw.ExitCode == 0, raw.Stderr);
        string[] lines = Lines(raw.Stdout);
        Assert.Equal(20, lines.Length);
        for (int i = 0; i < lines.Length; i++)
        {
            string[] f = lines[i].Split(' ');
            Assert.Equal(16, f.Length);
            Assert.Equal(i.ToString(CultureInfo.InvariantCulture), f[0]);
            ulong t1 = ulong.Parse(f[1], CultureInfo.InvariantCulture), t2 = ulong.Parse(f[4], CultureInfo.InvariantCulture);
            ulong t3 = ulong.Parse(f[9], CultureInfo.InvariantCulture), t4 = ulong.Parse(f[12], CultureInfo.InvariantCulture);
            Assert.True(t1 <= t4 && t2 <= t3, lines[i]); // one host, one clock: T1 ≤ T4 and T2 ≤ T3
            Assert.Equal("255", f[7]);
        }

        var machine = await IppmProcess.RunAsync(Timeout, "twping", "-c", "20", "-i", "0.005e", "-M", $"127.0.0.1:{port}");
        Assert.True(machine.ExitCode == 0, machine.Stderr);
        string[] m = Lines(machine.Stdout);
        // twping -M's keys, in twping's order (cli-output/twping-M.txt).
        string[] twpingKeys = File.ReadAllLines(Vector("cli-output/twping-M.txt")).Skip(3).Where(l => l.Length > 0 && !l.StartsWith('\t')).Select(l => l.Split('\t')[0]).ToArray();
        Assert.Equal(twpingKeys, m.Where(l => l.Length > 0 && !l.StartsWith('\t')).Select(l => l.Split('\t')[0]));
        Assert.Contains("SENT\t20", m);
        Assert.Contains("LOST\t0", m);
        Assert.Contains($"TO_HOST\t127.0.0.1", m);

        var both = await IppmProcess.RunAsync(Timeout, "twping", "-R", "--json", $"127.0.0.1:{port}");
        Assert.Equal(1, both.ExitCode);
    }

    [Fact]
    public async Task TestPorts_FromOwpingsDefaultRange_OrTheRangeOfP()
    {
        using var server = new ServerProcess("server", "--twamp-listen", "127.0.0.1:0", "--owamp-listen", "127.0.0.1:0");
        string twamp = $"127.0.0.1:{await server.TwampPortAsync(Timeout)}", owamp = $"127.0.0.1:{await server.OwampPortAsync(Timeout)}";
        static int Port(string[] m, string key) => int.Parse(m.Single(l => l.StartsWith(key + "\t", StringComparison.Ordinal)).Split('\t')[1], CultureInfo.InvariantCulture);

        // As twping in cli-output/twping-M.txt (FROM_PORT 8860): owping.c's default range, 8760–9960.
        var byDefault = await IppmProcess.RunAsync(Timeout, "twping", "-c", "3", "-i", "0.005f", "-M", twamp);
        Assert.True(byDefault.ExitCode == 0, byDefault.Stderr);
        Assert.InRange(Port(Lines(byDefault.Stdout), "FROM_PORT"), 8760, 9960);

        var twping = await IppmProcess.RunAsync(Timeout, "twping", "-P", "47100-47119", "-c", "3", "-i", "0.005f", "-M", twamp);
        Assert.True(twping.ExitCode == 0, twping.Stderr);
        Assert.InRange(Port(Lines(twping.Stdout), "FROM_PORT"), 47100, 47119);

        // owping: the outbound session is sent from our port, the inbound one received on it (-M prints outbound first).
        var owping = await IppmProcess.RunAsync(Timeout, "owping", "-P", "47120-47139", "-c", "3", "-i", "0.005f", "-L", "1", "-M", owamp);
        Assert.True(owping.ExitCode == 0, owping.Stderr);
        string[] sessions = owping.Stdout.Split("SUMMARY\t", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, sessions.Length);
        Assert.InRange(Port(Lines(sessions[0]), "FROM_PORT"), 47120, 47139);
        Assert.InRange(Port(Lines(sessions[1]), "TO_PORT"), 47120, 47139);

        var anyPort = await IppmProcess.RunAsync(Timeout, "twping", "-P", "0", "-c", "3", "-i", "0.005f", twamp);
        Assert.True(anyPort.ExitCode == 0, anyPort.Stderr);
        var backwards = await IppmProcess.RunAsync(Timeout, "twping", "-P", "9000-8000", twamp);
        Assert.Equal(1, backwards.ExitCode);
        Assert.Contains("-P '9000-8000'", backwards.Stderr, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"(?<sent>\d+) sent, (?<lost>\d+) lost")]
    private static partial Regex SentLost();

    [GeneratedRegex(@"SID:\t([0-9a-f]{32})")]
    private static partial Regex Sids();
}
