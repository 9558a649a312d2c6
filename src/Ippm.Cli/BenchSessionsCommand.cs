using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using Ippm.Security;
using Ippm.Sessions.Bench;
using Ippm.Wire;

namespace Ippm.Cli;

/// <summary>
/// <c>ippm bench sessions</c>: many slow TWAMP sessions on one server, as a measurement mesh loads it (issue 12):
/// loss, server CPU per packet, idle CPU, memory per session and threads (<see cref="SessionsLoad"/>).
/// </summary>
internal static class BenchSessionsCommand
{
    private const string DefaultSources = "127.0.0.2-127.0.0.33";
    private const int MaxSources = 1024;

    public static Command Create()
    {
        var sessions = new Option<int>("--sessions") { Description = "TWAMP test sessions to set up.", DefaultValueFactory = _ => 2000 };
        var rate = new Option<double>("--rate") { Description = "Test packets per second on each session.", DefaultValueFactory = _ => 10 };
        var seconds = new Option<double>("--seconds") { Description = "How long the sessions are driven.", DefaultValueFactory = _ => 10 };
        var idleSeconds = new Option<double>("--idle-seconds") { Description = "How long the started sessions are left without packets while the server's idle CPU is measured.", DefaultValueFactory = _ => 3 };
        var rounds = new Option<int>("--rounds") { Description = "Set-up, drive and teardown repeated on the same server (does memory come back?).", DefaultValueFactory = _ => 1 };
        var server = new Option<string?>("--server") { Description = "Load this TWAMP server (HOST:PORT) instead of a local ippm server." };
        var serverPid = new Option<int?>("--server-pid") { Description = "With --server: its process id, for CPU, memory and threads from /proc." };
        var mode = new Option<string>("-A", "--mode") { Description = "O, A or E.", DefaultValueFactory = _ => "O" };
        var identity = new Option<string?>("-u", "--identity") { Description = "Identity for A/E against --server." };
        var keyFile = new Option<FileInfo?>("-k", "--key-file") { Description = "Key file for A/E against --server." };
        var sources = new Option<string?>("--sources") { Description = $"Source addresses of the control connections and test sockets: FIRST-LAST or a comma list (default {DefaultSources} against a loopback server, else the system's choice)." };
        var perConnection = new Option<int>("--sessions-per-connection") { Description = "Sessions asked for on one control connection (fewer when the server refuses more).", DefaultValueFactory = _ => 16 };
        var floorSource = new Option<FileInfo?>("--floor-source") { Description = "udpecho.c of ../shared/tools/udp-floor, the kernel's floor driven with the same load after each round (found automatically when beside the repository; local server only)." };
        var noFloor = new Option<bool>("--no-floor") { Description = "Skip the kernel-floor drive." };
        var clientScheduling = new Option<string>("--client-sched") { Description = "The harness's send and receive threads: batch (SCHED_BATCH: woken, they do not preempt the server, as remote peers never would) or normal.", DefaultValueFactory = _ => "batch" };
        clientScheduling.AcceptOnlyFromAmong("batch", "normal");
        var json = new Option<bool>("--json") { Description = "One JSON object on standard output." };
        var command = new Command("sessions", "Many slow TWAMP sessions from many source addresses on one server: loss, server CPU per packet, idle CPU, memory per session, threads.")
        {
            sessions, rate, seconds, idleSeconds, rounds, server, serverPid, mode, identity, keyFile, sources, perConnection, floorSource, noFloor, clientScheduling, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (!OperatingSystem.IsLinux())
            {
                return TwpingCommand.Fail("bench sessions needs Linux (epoll, /proc).", ExitCodes.Usage);
            }
            if (!SecurityModes.TryParseLetters(parse.GetValue(mode)!, out uint bits) || bits is not ((uint)SecurityMode.Open or (uint)SecurityMode.Authenticated or (uint)SecurityMode.Encrypted))
            {
                return TwpingCommand.Fail("-A takes one of O, A, E.", ExitCodes.Usage);
            }
            int count = parse.GetValue(sessions), roundCount = parse.GetValue(rounds), perConnectionCount = parse.GetValue(perConnection);
            double packetRate = parse.GetValue(rate), driveSeconds = parse.GetValue(seconds), idle = parse.GetValue(idleSeconds);
            if (count is < 1 or > 20000 || packetRate is < 0.1 or > 10000 || count * packetRate > 200_000 || driveSeconds is < 0.5 or > 600
                || idle is < 0.5 or > 60 || roundCount is < 1 or > 20 || perConnectionCount is < 1 or > 1024)
            {
                return TwpingCommand.Fail("--sessions 1-20000, --rate 0.1-10000 (sessions × rate at most 200000/s), --seconds 0.5-600, --idle-seconds 0.5-60, --rounds 1-20, --sessions-per-connection 1-1024.", ExitCodes.Usage);
            }
            var securityMode = (SecurityMode)bits;
            byte[] passphrase = RandomNumberGenerator.GetBytes(16);
            BenchServerChild? child = null;
            Process? echo = null;
            byte[]? secret = null;
            try
            {
                IPEndPoint target;
                string? identityName = parse.GetValue(identity);
                int? pid = parse.GetValue(serverPid);
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
                    if (pid is not null)
                    {
                        return TwpingCommand.Fail("--server-pid goes with --server.", ExitCodes.Usage);
                    }
                    child = await BenchServerChild.StartAsync(passphrase, pinToCore0: false, cancellationToken).ConfigureAwait(false);
                    target = child.EndPoint;
                    pid = child.Pid;
                    identityName = "bench";
                    secret = passphrase;
                }
                FloorEchoTarget? floor = null;
                if (child is not null && !parse.GetValue(noFloor))
                {
                    if ((parse.GetValue(floorSource)?.FullName ?? BenchCommand.FindFloorSource()) is string floorPath)
                    {
                        (echo, int echoPort) = await BenchCommand.StartFloorEchoAsync(floorPath, cancellationToken).ConfigureAwait(false);
                        floor = new FloorEchoTarget(new IPEndPoint(IPAddress.Loopback, echoPort), echo.Id);
                    }
                    else
                    {
                        Console.Error.WriteLine("ippm: udpecho.c of ../shared/tools/udp-floor not found (--floor-source): no floor is measured.");
                    }
                }
                string? sourceText = parse.GetValue(sources) ?? (IPAddress.IsLoopback(target.Address) && target.AddressFamily == AddressFamily.InterNetwork ? DefaultSources : null);
                IReadOnlyList<IPAddress> sourceList;
                if (sourceText is null)
                {
                    sourceList = [target.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any];
                }
                else if (TryParseSources(sourceText, out List<IPAddress> parsed) is string sourceError)
                {
                    return TwpingCommand.Fail(sourceError, ExitCodes.Usage);
                }
                else
                {
                    sourceList = parsed;
                }

                var options = new SessionsLoadOptions
                {
                    Server = target,
                    Sessions = count,
                    Rate = packetRate,
                    Duration = TimeSpan.FromSeconds(driveSeconds),
                    IdleDuration = TimeSpan.FromSeconds(idle),
                    Sources = sourceList,
                    Mode = securityMode,
                    Identity = securityMode == SecurityMode.Open ? null : identityName,
                    Secret = securityMode == SecurityMode.Open ? null : secret,
                    MaxSessionsPerConnection = perConnectionCount,
                    ServerPid = pid,
                    Rounds = roundCount,
                    FloorEcho = floor,
                    BatchScheduling = parse.GetValue(clientScheduling) == "batch",
                };
                // Bounded: each round's set-up, idle time, drive and teardown, with generous margins.
                using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                bound.CancelAfter(TimeSpan.FromSeconds(roundCount * (600 + idle + driveSeconds)));
                bool quiet = parse.GetValue(json);
                IReadOnlyList<SessionsRound> results = await SessionsLoad.RunAsync(
                    options, quiet ? null : line => Console.Error.WriteLine(line), bound.Token).ConfigureAwait(false);
                Print(Report(options, parse.GetValue(server) ?? "local ippm server (separate process, default flags)", results), parse.GetValue(json));
                return ExitCodes.Success;
            }
            catch (Exception e) when (e is SocketException or IOException or Ippm.Sessions.Control.ControlProtocolException)
            {
                return TwpingCommand.Fail($"sessions benchmark failed: {e.Message}", ExitCodes.Refused);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return TwpingCommand.Fail("sessions benchmark interrupted.", ExitCodes.Cancelled);
            }
            catch (OperationCanceledException)
            {
                return TwpingCommand.Fail("sessions benchmark did not finish within its time bound.", ExitCodes.Unreachable);
            }
            finally
            {
                if (echo is not null)
                {
                    if (!echo.HasExited)
                    {
                        echo.Kill();
                    }
                    echo.Dispose();
                }
                child?.Dispose();
                CryptographicOperations.ZeroMemory(passphrase);
                if (secret is not null)
                {
                    CryptographicOperations.ZeroMemory(secret);
                }
            }
        });
        return command;
    }

    /// <summary>FIRST-LAST (IPv4, at most 1 024 addresses) or a comma list; returns an error message.</summary>
    internal static string? TryParseSources(string text, out List<IPAddress> addresses)
    {
        addresses = [];
        int dash = text.IndexOf('-', StringComparison.Ordinal);
        if (dash > 0)
        {
            if (!IPAddress.TryParse(text[..dash], out IPAddress? first) || !IPAddress.TryParse(text[(dash + 1)..], out IPAddress? last)
                || first.AddressFamily != AddressFamily.InterNetwork || last.AddressFamily != AddressFamily.InterNetwork)
            {
                return $"--sources '{text}': a range is two IPv4 addresses, FIRST-LAST.";
            }
            uint low = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(first.GetAddressBytes());
            uint high = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(last.GetAddressBytes());
            if (high < low || high - low >= MaxSources)
            {
                return $"--sources '{text}': FIRST must not be above LAST, and at most {MaxSources} addresses.";
            }
            for (uint a = low; a <= high; a++)
            {
                byte[] bytes = new byte[4];
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes, a);
                addresses.Add(new IPAddress(bytes));
            }
            return null;
        }
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!IPAddress.TryParse(part, out IPAddress? address))
            {
                return $"--sources: '{part}' is not an IP address.";
            }
            addresses.Add(address);
        }
        return addresses.Count is 0 or > MaxSources ? $"--sources: give 1 to {MaxSources} addresses." : null;
    }

    private static Dictionary<string, object?> Report(SessionsLoadOptions options, string server, IReadOnlyList<SessionsRound> rounds)
    {
        var rows = new List<Dictionary<string, object?>>();
        // The server's resident memory before the first round: what "memory came back" is measured against.
        long? baseline = rounds.Count > 0 && rounds[0].Before is { } first ? first.ResidentKiB : null;
        foreach (SessionsRound r in rounds)
        {
            rows.Add(new Dictionary<string, object?>
            {
                ["round"] = r.Round,
                ["sessions"] = r.SessionsSetUp,
                ["connections"] = r.Connections,
                ["sessions_per_connection"] = r.SessionsPerConnection,
                ["refusals"] = r.Refusals.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal),
                ["setup_seconds"] = Math.Round(r.SetupSeconds, 2),
                ["sent"] = r.Sent,
                ["received"] = r.Received,
                ["lost"] = r.Lost,
                ["send_failed"] = r.SendFailed,
                ["loss_percent"] = r.Sent > 0 ? Math.Round(100.0 * r.Lost / r.Sent, 4) : null,
                ["drive_seconds"] = Math.Round(r.DriveSeconds, 2),
                ["server_cpu_us_per_packet"] = Round(r.ServerCpuMicrosecondsPerPacket, 2),
                ["machine_cpu_us_per_packet"] = Round(r.MachineCpuMicrosecondsPerPacket, 2),
                ["client_cpu_us_per_packet"] = Round(r.ClientCpuMicrosecondsPerPacket, 2),
                ["floor_cpu_us_per_packet"] = Round(r.Floor?.CpuMicrosecondsPerPacket, 2),
                ["floor_sent"] = r.Floor?.Sent,
                ["floor_lost"] = r.Floor?.Lost,
                ["server_cpu_over_floor"] = Round(r.ServerCpuOverFloor, 2),
                ["idle_cpu_percent_of_core"] = Round(r.IdleCpuPercentOfCore, 2),
                ["rss_kib"] = Phases(r, s => s.ResidentKiB),
                ["kib_per_idle_session"] = Round(r.KiBPerIdleSession, 1),
                ["rss_after_over_baseline_kib"] = baseline is long b && r.After is { } after ? after.ResidentKiB - b : null,
                ["threads"] = Phases(r, s => s.Threads),
            });
        }
        return new Dictionary<string, object?>
        {
            ["server"] = server,
            ["mode"] = options.Mode.Name(),
            ["sessions_requested"] = options.Sessions,
            ["rate_per_session"] = options.Rate,
            ["seconds"] = options.Duration.TotalSeconds,
            ["sources"] = options.Sources.Count,
            ["client_sched"] = options.BatchScheduling ? "batch" : "normal",
            ["server_cpu_over_floor_median"] = Round(Spread.Of(rounds.Select(r => r.ServerCpuOverFloor).OfType<double>().ToArray()).Median, 2),
            ["rounds"] = rows,
        };
    }

    private static Dictionary<string, object?> Phases(SessionsRound r, Func<ProcessSample, long> field) => new()
    {
        ["before"] = r.Before is { } b ? field(b) : null,
        ["idle"] = r.Idle is { } i ? field(i) : null,
        ["driven"] = r.Driven is { } d ? field(d) : null,
        ["after"] = r.After is { } a ? field(a) : null,
    };

    private static double? Round(double? value, int digits) => value is double v && double.IsFinite(v) ? Math.Round(v, digits) : null;

    private static void Print(Dictionary<string, object?> report, bool json)
    {
        if (json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(report, BenchSessionsJsonContext.Default.DictionaryStringObject));
            return;
        }
        foreach ((string key, object? value) in report)
        {
            if (value is List<Dictionary<string, object?>> rows)
            {
                foreach (Dictionary<string, object?> row in rows)
                {
                    Console.Out.WriteLine();
                    foreach ((string k, object? v) in row)
                    {
                        Console.Out.WriteLine($"{k,-28} {JsonSerializer.Serialize(v, BenchSessionsJsonContext.Default.Object)}");
                    }
                }
                continue;
            }
            Console.Out.WriteLine($"{key,-28} {JsonSerializer.Serialize(value, BenchSessionsJsonContext.Default.Object)}");
        }
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, object?>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, int>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(List<Dictionary<string, object?>>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(object))]
[System.Text.Json.Serialization.JsonSerializable(typeof(double))]
[System.Text.Json.Serialization.JsonSerializable(typeof(long))]
[System.Text.Json.Serialization.JsonSerializable(typeof(int))]
[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class BenchSessionsJsonContext : System.Text.Json.Serialization.JsonSerializerContext
{
}
