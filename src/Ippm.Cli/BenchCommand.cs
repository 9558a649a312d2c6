using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using Ippm.Security;
using Ippm.Sessions.Bench;
using Ippm.Sessions.Server;
using Ippm.Sessions.Transport;
using Ippm.Sessions.Twamp;
using Ippm.Statistics;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;
using Microsoft.Extensions.Logging;

namespace Ippm.Cli;

/// <summary>
/// <c>ippm bench</c>: load harnesses that print figures and compare against a baseline measured in the same run.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var bench = new Command("bench", "Measure reflector and sender speed (figures, not pass/fail).");
        bench.Subcommands.Add(CreateReflector());
        bench.Subcommands.Add(CreateSender());
        bench.Subcommands.Add(BenchSessionsCommand.Create());
        return bench;
    }

    private static Command CreateReflector()
    {
        var server = new Option<string?>("--server") { Description = "Drive this TWAMP server instead of a local ippm server (HOST:PORT)." };
        var mode = new Option<string>("-A", "--mode") { Description = "O, A or E.", DefaultValueFactory = _ => "O" };
        var identity = new Option<string?>("-u", "--identity") { Description = "Identity for A/E against --server." };
        var keyFile = new Option<FileInfo?>("-k", "--key-file") { Description = "Key file for A/E against --server." };
        var seconds = new Option<double>("--seconds") { Description = "Load duration per measurement (the reflector's, split into --rounds).", DefaultValueFactory = _ => 5 };
        var rounds = new Option<int>("--rounds") { Description = "Alternating floor and reflector rounds (floor, reflector, floor, …); the ratio is the median of the paired ratios.", DefaultValueFactory = _ => 5 };
        var inFlight = new Option<int>("--in-flight") { Description = "Packets kept outstanding by the closed-loop load.", DefaultValueFactory = _ => 64 };
        var floorSource = new Option<FileInfo?>("--floor-source") { Description = "udpecho.c of ../shared/tools/udp-floor (found automatically when beside the repository)." };
        var noFloor = new Option<bool>("--no-floor") { Description = "Skip the kernel-floor measurement." };
        var json = new Option<bool>("--json") { Description = "One JSON object on standard output." };
        var stamp = new Option<bool>("--stamp") { Description = "Load a STAMP reflector (ippm server --stamp-listen, stateless) instead: -A O unauthenticated, -A A authenticated." };
        var command = new Command("reflector", "Closed-loop load on a TWAMP reflector, against the bare C UDP echo (the kernel's floor) in the same run.")
        {
            server, mode, identity, keyFile, seconds, inFlight, floorSource, noFloor, json, stamp, rounds,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (parse.GetValue(stamp))
            {
                return await StampBench.RunAsync(parse.GetValue(mode)!, parse.GetValue(server), parse.GetValue(seconds), parse.GetValue(inFlight),
                    parse.GetValue(noFloor) ? null : parse.GetValue(floorSource)?.FullName ?? FindFloorSource(), parse.GetValue(noFloor), parse.GetValue(json), cancellationToken).ConfigureAwait(false);
            }
            if (!SecurityModes.TryParseLetters(parse.GetValue(mode)!, out uint bits) || !IsSingle(bits) || bits == (uint)SecurityMode.Mixed)
            {
                return TwpingCommand.Fail("-A takes one of O, A, E.", ExitCodes.Usage);
            }
            var securityMode = (SecurityMode)bits;
            TimeSpan duration = TimeSpan.FromSeconds(Math.Clamp(parse.GetValue(seconds), 0.5, 600));
            int window = Math.Clamp(parse.GetValue(inFlight), 1, 4096);
            bool protectedLayout = securityMode.ProtectsTestPackets();
            int packetLength = TestPacketLayout.ReflectorHeader(protectedLayout);
            var results = new Dictionary<string, object?>();
            PinToCore(Process.GetCurrentProcess(), 1);

            int roundCount = Math.Clamp(parse.GetValue(rounds), 1, 100);
            TimeSpan roundDuration = TimeSpan.FromSeconds(Math.Max(0.2, duration.TotalSeconds / roundCount));
            string? source = null;
            if (!parse.GetValue(noFloor))
            {
                source = parse.GetValue(floorSource)?.FullName ?? FindFloorSource();
                if (source is null)
                {
                    return TwpingCommand.Fail("udpecho.c not found: pass --floor-source or --no-floor.", ExitCodes.Usage);
                }
            }

            byte[] passphrase = RandomNumberGenerator.GetBytes(16);
            string? identityName = parse.GetValue(identity);
            byte[]? secret = null;
            BenchServerChild? child = null;
            IPEndPoint target;
            try
            {
                if (parse.GetValue(server) is string remote)
                {
                    target = await EndpointParser.ResolveAsync(remote, TwpingCommand.DefaultPort, cancellationToken).ConfigureAwait(false);
                    if (ClientCredentials.TryLoad(parse.GetValue(keyFile)?.FullName, identityName, out identityName, out secret) is string error)
                    {
                        return TwpingCommand.Fail(error, ExitCodes.Usage);
                    }
                }
                else
                {
                    child = await BenchServerChild.StartAsync(passphrase, cancellationToken).ConfigureAwait(false);
                    target = child.EndPoint;
                    identityName = "bench";
                    secret = passphrase;
                }
                await using FloorEcho? echo = source is null ? null : await FloorEcho.StartAsync(source, packetLength, window, cancellationToken).ConfigureAwait(false);
                await using ReflectorSession session = await ReflectorSession.OpenAsync(target, securityMode, identityName, secret, packetLength, window, child, cancellationToken).ConfigureAwait(false);
                // Floor, reflector, floor, …, floor: each reflector round is compared with the floor measured right
                // around it, so the machine's speed drifting during the run (other load, frequency) moves both alike.
                var floorRounds = new List<LoadRound>();
                var reflectorRounds = new List<LoadRound>();
                if (echo is not null)
                {
                    floorRounds.Add(await echo.MeasureAsync(roundDuration, cancellationToken).ConfigureAwait(false));
                }
                for (int round = 0; round < roundCount; round++)
                {
                    reflectorRounds.Add(await session.MeasureAsync(roundDuration, cancellationToken).ConfigureAwait(false));
                    if (echo is not null)
                    {
                        floorRounds.Add(await echo.MeasureAsync(roundDuration, cancellationToken).ConfigureAwait(false));
                    }
                }
                LoadResult unloaded = await session.MeasureUnloadedAsync(cancellationToken).ConfigureAwait(false);
                AddRoundResults(results, floorRounds, reflectorRounds, unloaded);
                results["mode"] = securityMode.Name();
                results["reflector"] = parse.GetValue(server) ?? "local ippm server (separate process)";
                results["packet_size"] = packetLength;
                results["in_flight"] = window;
                results["seconds"] = duration.TotalSeconds;
            }
            catch (Exception e) when (e is SocketException or IOException or Ippm.Sessions.Control.ControlProtocolException)
            {
                return TwpingCommand.Fail($"reflector benchmark failed: {e.Message}", ExitCodes.Refused);
            }
            finally
            {
                child?.Dispose();
                CryptographicOperations.ZeroMemory(passphrase);
            }
            Print(results, parse.GetValue(json));
            if (results.TryGetValue("warnings", out object? warnings) && warnings is List<string> lines)
            {
                foreach (string line in lines)
                {
                    Console.Error.WriteLine($"ippm: warning: {line}");
                }
            }
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>
    /// The figures of interleaved rounds: the members of a single run (now medians over the rounds) and, added
    /// beside them, each round's figures and the spread of the paired ratios.
    /// </summary>
    private static void AddRoundResults(Dictionary<string, object?> results, List<LoadRound> floorRounds, List<LoadRound> reflectorRounds, LoadResult unloaded)
    {
        double[] reflectorPps = reflectorRounds.Select(r => r.Load.RepliesPerSecond).ToArray();
        double[] cpu = reflectorRounds.Where(r => r.CpuMicrosecondsPerPacket is not null).Select(r => r.CpuMicrosecondsPerPacket!.Value).ToArray();
        Spread reflector = Spread.Of(reflectorPps);
        Spread cpuSpread = Spread.Of(cpu);
        var warnings = new List<string>();
        if (floorRounds.Count > 0)
        {
            InterleavedRounds summary = InterleavedRounds.Summarize(floorRounds.Select(f => f.Load.RepliesPerSecond).ToArray(), reflectorPps);
            results["floor_pps"] = Math.Round(summary.Floor.Median);
            results["floor_lost"] = floorRounds.Sum(f => f.Load.Lost);
            // The echo's own CPU per packet: what the kernel alone costs per reflected datagram at this load.
            double[] floorCpu = floorRounds.Select(f => f.CpuMicrosecondsPerPacket).OfType<double>().ToArray();
            results["floor_cpu_us_per_packet"] = floorCpu.Length > 0 ? Math.Round(Spread.Of(floorCpu).Median, 3) : null;
            results["ratio"] = Math.Round(summary.Ratio.Median, 3);
            results["ratio_spread"] = RoundedSpread(summary.Ratio, 3);
            results["ratios"] = summary.Ratios.Select(r => (object?)Math.Round(r, 3)).ToList();
            results["floor_pps_rounds"] = floorRounds.Select(f => (object?)Math.Round(f.Load.RepliesPerSecond)).ToList();
            results["floor_relative_spread"] = Math.Round(summary.FloorRelativeSpread, 3);
            results["floor_consistent"] = summary.FloorConsistent;
            if (!summary.FloorConsistent)
            {
                warnings.Add(string.Create(CultureInfo.InvariantCulture,
                    $"the floor varied from {summary.Floor.Min:F0} to {summary.Floor.Max:F0} packets/s across rounds ((max - min)/median {summary.FloorRelativeSpread:F2} > {InterleavedRounds.FloorSpreadLimit:F2}): the machine's speed changed during the run; read the ratio with its spread"));
            }
        }
        else
        {
            results["ratio"] = null;
        }
        results["rounds"] = reflectorRounds.Count;
        results["round_seconds"] = Math.Round(reflectorRounds[0].Load.Duration.TotalSeconds, 3);
        results["reflector_pps"] = Math.Round(reflector.Median);
        results["reflector_pps_rounds"] = reflectorPps.Select(r => (object?)Math.Round(r)).ToList();
        results["reflector_sent"] = reflectorRounds.Sum(r => r.Load.Sent);
        results["reflector_lost"] = reflectorRounds.Sum(r => r.Load.Lost);
        results["reflector_cpu_us_per_packet"] = cpu.Length > 0 ? Math.Round(cpuSpread.Median, 3) : null;
        results["reflector_cpu_us_per_packet_spread"] = cpu.Length > 0 ? RoundedSpread(cpuSpread, 3) : null;
        // Under the closed-loop load T3 − T2 includes the time a packet waits in the socket buffer behind
        // the others in flight (T2 is the kernel's receive time); one in flight shows the processing alone.
        results["t3_t2_us"] = Distribution(DelayStatistics.From(reflectorRounds.SelectMany(r => r.Load.ProcessingSeconds).ToArray()));
        results["t3_t2_us_one_in_flight"] = Distribution(DelayStatistics.From(unloaded.ProcessingSeconds));
        results["warnings"] = warnings;
    }

    private static Dictionary<string, object?> RoundedSpread(Spread spread, int digits) => new()
    {
        ["min"] = Math.Round(spread.Min, digits),
        ["p25"] = Math.Round(spread.P25, digits),
        ["median"] = Math.Round(spread.Median, digits),
        ["p75"] = Math.Round(spread.P75, digits),
        ["max"] = Math.Round(spread.Max, digits),
    };

    private static Command CreateSender()
    {
        var mode = new Option<string>("-A", "--mode") { Description = "O, A or E.", DefaultValueFactory = _ => "O" };
        var seconds = new Option<double>("--seconds") { Description = "Duration of each rate step.", DefaultValueFactory = _ => 2 };
        var rates = new Option<string>("--rates") { Description = "Comma list of packet rates to try, ascending.", DefaultValueFactory = _ => "25000,50000,100000,150000,200000,250000" };
        var json = new Option<bool>("--json") { Description = "One JSON object on standard output." };
        var command = new Command("sender", "The highest rate one twping session sustains with no loss against a local ippm server, and its schedule accuracy.")
        {
            mode, seconds, rates, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (!SecurityModes.TryParseLetters(parse.GetValue(mode)!, out uint bits) || !IsSingle(bits))
            {
                return TwpingCommand.Fail("-A takes one of O, A, E, M.", ExitCodes.Usage);
            }
            int[] steps;
            try
            {
                steps = parse.GetValue(rates)!.Split(',').Select(r => int.Parse(r, CultureInfo.InvariantCulture)).Where(r => r > 0).ToArray();
            }
            catch (FormatException)
            {
                return TwpingCommand.Fail("--rates takes a comma list of integers.", ExitCodes.Usage);
            }
            double stepSeconds = Math.Clamp(parse.GetValue(seconds), 0.2, 60);
            byte[] passphrase = RandomNumberGenerator.GetBytes(16);
            var rows = new List<Dictionary<string, object?>>();
            int? best = null;
            try
            {
                using BenchServerChild child = await BenchServerChild.StartAsync(passphrase, cancellationToken).ConfigureAwait(false);
                foreach (int rate in steps)
                {
                    int count = (int)(rate * stepSeconds);
                    TwampSessionResult result = await TwampMeasurement.RunAsync(
                        new TwpingOptions
                        {
                            Server = child.EndPoint,
                            AcceptableModes = bits,
                            Identity = "bench",
                            Secret = passphrase,
                            Count = count,
                            Schedule = new SendSchedule(1.0 / rate, Exponential: false),
                            Timeout = TimeSpan.FromSeconds(1),
                        },
                        cancellationToken).ConfigureAwait(false);
                    TwampReport report = TwampReport.Create("bench", result);
                    double span = NtpTimestamp.DifferenceSeconds(result.LastSend, result.FirstSend);
                    rows.Add(new Dictionary<string, object?>
                    {
                        ["rate"] = rate,
                        ["sent"] = report.Sequence.Sent,
                        ["lost"] = report.Sequence.Lost,
                        ["achieved_pps"] = span > 0 ? Math.Round((result.Sent - 1) / span) : null,
                        ["schedule_error_us"] = new Dictionary<string, object?> { ["p50"] = Us(result.ScheduleError.P50), ["p99"] = Us(result.ScheduleError.P99) },
                        ["rtt_us_p50"] = Us(report.RoundTrip.Median),
                    });
                    if (report.Sequence.Lost == 0)
                    {
                        best = rate;
                    }
                }
            }
            finally
            {
                CryptographicOperations.ZeroMemory(passphrase);
            }
            Print(new Dictionary<string, object?> { ["mode"] = ((SecurityMode)bits).Name(), ["highest_lossless_pps"] = best, ["steps"] = rows }, parse.GetValue(json));
            return ExitCodes.Success;
        });
        return command;
    }

    internal static async Task<LoadResult> MeasureFloorAsync(string source, int packetLength, int window, TimeSpan duration, CancellationToken cancellationToken)
    {
        await using FloorEcho echo = await FloorEcho.StartAsync(source, packetLength, window, cancellationToken).ConfigureAwait(false);
        return (await echo.MeasureAsync(duration, cancellationToken).ConfigureAwait(false)).Load;
    }

    internal static async Task<string> CompileFloorAsync(string source, CancellationToken cancellationToken)
    {
        string directory = Path.Combine(Path.GetTempPath(), "ippm-udp-floor");
        Directory.CreateDirectory(directory);
        string binary = Path.Combine(directory, "udpecho");
        Process? started;
        try
        {
            started = Process.Start(new ProcessStartInfo("gcc", ["-O2", "-o", binary, source]) { UseShellExecute = false, RedirectStandardError = true });
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new IOException($"the kernel floor needs gcc to build {source} ({e.Message}): install gcc or pass --no-floor", e);
        }
        using Process gcc = started ?? throw new IOException("cannot start gcc");
        string errors = await gcc.StandardError.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
        await gcc.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        if (gcc.ExitCode != 0)
        {
            throw new IOException($"gcc failed on {source}: {errors}");
        }
        return binary;
    }

    /// <summary>
    /// Compiles and starts the C echo on a free loopback port (127.0.0.1) and gives it 200 ms to bind; the caller
    /// kills it. The port is picked before the echo binds it: the echo is not ippm's and takes its port as an argument.
    /// </summary>
    internal static async Task<(Process Echo, int Port)> StartFloorEchoAsync(string source, CancellationToken cancellationToken)
    {
        string binary = await CompileFloorAsync(source, cancellationToken).ConfigureAwait(false);
        int port = FreeUdpPort();
        var echo = Process.Start(new ProcessStartInfo(binary, port.ToString(CultureInfo.InvariantCulture)) { UseShellExecute = false })
            ?? throw new IOException($"cannot start {binary}");
        try
        {
            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
            if (echo.HasExited)
            {
                throw new IOException($"the floor echo exited at once (code {echo.ExitCode}): port {port} taken?");
            }
            return (echo, port);
        }
        catch
        {
            if (!echo.HasExited)
            {
                echo.Kill();
            }
            echo.Dispose();
            throw;
        }
    }

    /// <summary>Looks for shared/tools/udp-floor/udpecho.c beside the repository, from here and from the executable.</summary>
    internal static string? FindFloorSource()
    {
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (DirectoryInfo? dir = new(start); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "shared", "tools", "udp-floor", "udpecho.c");
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }
        return null;
    }

    /// <summary>
    /// Keeps the reflector (or echo) on core 0 and the load on core 1, so both get a core of their own and the
    /// two measurements see the same arrangement.
    /// </summary>
    internal static void PinToCore(Process process, int core)
    {
        if (Environment.ProcessorCount < 2 || !(OperatingSystem.IsLinux() || OperatingSystem.IsWindows()))
        {
            return;
        }
        try
        {
            process.ProcessorAffinity = (nint)(1L << core);
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // Affinity is an optimisation of the measurement, not a requirement.
        }
    }

    internal static int FreeUdpPort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    internal static Dictionary<string, object?> Distribution(DelayStatistics d) => new()
    {
        ["samples"] = d.Count,
        ["p50"] = Us(d.Median),
        ["p90"] = Us(d.P90),
        ["p99"] = Us(d.P99),
        ["max"] = Us(d.Max),
    };

    private static bool IsSingle(uint bits) => bits != 0 && (bits & (bits - 1)) == 0;

    private static double? Us(double seconds) => double.IsFinite(seconds) ? Math.Round(seconds * 1e6, 2) : null;

    internal static void Print(Dictionary<string, object?> results, bool json)
    {
        if (json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(results, BenchJsonContext.Default.DictionaryStringObject));
            return;
        }
        foreach ((string key, object? value) in results)
        {
            Console.Out.WriteLine($"{key,-28} {JsonSerializer.Serialize(value, BenchJsonContext.Default.Object)}");
        }
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, object?>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(List<Dictionary<string, object?>>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(object))]
[System.Text.Json.Serialization.JsonSerializable(typeof(double))]
[System.Text.Json.Serialization.JsonSerializable(typeof(long))]
[System.Text.Json.Serialization.JsonSerializable(typeof(int))]
[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
[System.Text.Json.Serialization.JsonSerializable(typeof(bool))]
[System.Text.Json.Serialization.JsonSerializable(typeof(List<string>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(List<object?>))]
internal sealed partial class BenchJsonContext : System.Text.Json.Serialization.JsonSerializerContext
{
}
