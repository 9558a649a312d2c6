using System.CommandLine;
using System.Globalization;
using System.Net;
using Ippm.Policy;
using Ippm.Security;
using Ippm.Service;
using Ippm.Sessions.Server;
using Ippm.Wire;
using Microsoft.Extensions.Logging;

namespace Ippm.Cli;

/// <summary><c>ippm server</c>: the twampd role.</summary>
internal static class ServerCommand
{
    public static Command Create()
    {
        var twampListen = new Option<string?>("--twamp-listen") { Description = "TWAMP-Control listen address ADDR:PORT (e.g. 127.0.0.1:862, [::1]:862, :862 for all)." };
        var owampListen = new Option<string?>("--owamp-listen") { Description = "OWAMP-Control listen address ADDR:PORT (e.g. 127.0.0.1:861)." };
        var maxPackets = new Option<uint>("--max-packets") { Description = "Packets one OWAMP session may schedule.", DefaultValueFactory = _ => 1_000_000 };
        var maxScheduled = new Option<long>("--max-scheduled-packets") { Description = "Packets all OWAMP sessions of the server may schedule at once (each costs memory).", DefaultValueFactory = _ => 8_000_000 };
        var allowThirdParty = new Option<bool>("--allow-third-party") { Description = "Let clients name test addresses other than their own (an OWAMP sender or TWAMP reflector for a third host). Off: such requests get Accept=1." };
        var pfs = new Option<FileInfo?>("--pfs") { Description = "perfSONAR .pfs key file with the identities allowed in A, E and M modes." };
        var twampFeatures = new Option<string>("--twamp-features") { Description = "TWAMP feature bits to offer: comma list of individual-session-control, reflect-octets, symmetrical-size, dscp-ecn, or none.", DefaultValueFactory = _ => "individual-session-control,reflect-octets,symmetrical-size,dscp-ecn" };
        var modes = new Option<string>("--modes") { Description = "Modes to offer: comma list of open, authenticated, encrypted, mixed.", DefaultValueFactory = _ => "open,authenticated,encrypted,mixed" };
        var testPorts = new Option<string?>("--test-ports") { Description = "UDP port range LOW-HIGH for test sessions (default 61000-65535: dynamic ports only)." };
        var pbkdf2 = new Option<uint>("--pbkdf2-count") { Description = "PBKDF2 iteration Count sent in Server-Greeting (at least 1024).", DefaultValueFactory = _ => 2048 };
        var maxConnections = new Option<int>("--max-connections") { Description = "Simultaneous control connections.", DefaultValueFactory = _ => 2048 };
        var maxSessions = new Option<int>("--max-sessions") { Description = "Test sessions per control connection.", DefaultValueFactory = _ => 16 };
        var servWait = new Option<double>("--servwait") { Description = "SERVWAIT: seconds an idle control connection is kept.", DefaultValueFactory = _ => 900 };
        var refWait = new Option<double>("--refwait") { Description = "REFWAIT: seconds a started reflector waits for a packet.", DefaultValueFactory = _ => 900 };
        var dataDir = new Option<DirectoryInfo?>("--data-dir") { Description = "Store completed OWAMP receive sessions here (SID.owp, mode 0600) for Fetch-Session, also from later connections (default: memory only)." };
        var dataLimit = new Option<string>("--data-limit") { Description = "Size limit of --data-dir in octets, K/M/G suffixes allowed; the oldest sessions are deleted to make room.", DefaultValueFactory = _ => "1G" };
        var logLevel = new Option<LogLevel>("--log-level") { Description = "Trace, Debug, Information, Warning, Error.", DefaultValueFactory = _ => LogLevel.Information };

        var config = new Option<FileInfo?>("--config") { Description = "Read settings from FILE: 'key = value' lines, a key for every flag (without '--'); flags given here win." };
        var perfsonarConfig = new Option<DirectoryInfo?>("--perfsonar-config") { Description = "Read an owampd/twampd configuration directory (*-server.conf, *.limits, *.pfs) as they are." };
        var limits = new Option<FileInfo?>("--limits") { Description = "perfSONAR limits file (owampd.limits(5) syntax) for both protocols." };
        var owampLimits = new Option<FileInfo?>("--owamp-limits") { Description = "Limits file for OWAMP only (overrides --limits for OWAMP)." };
        var twampLimits = new Option<FileInfo?>("--twamp-limits") { Description = "Limits file for TWAMP only (overrides --limits for TWAMP)." };
        var metricsListen = new Option<string?>("--metrics-listen") { Description = "Serve Prometheus metrics at http://ADDR:PORT/metrics (e.g. 127.0.0.1:9464)." };
        var otlpEndpoint = new Option<string?>("--otlp-endpoint") { Description = "Also push the metrics to this OpenTelemetry collector (OTLP), e.g. http://collector:4318 (http/protobuf; /v1/metrics is added to a URL without a path) or http://collector:4317 (grpc)." };
        var otlpProtocol = new Option<string>("--otlp-protocol") { Description = "OTLP transport: http/protobuf or grpc.", DefaultValueFactory = _ => OtlpSettings.DefaultProtocol };
        otlpProtocol.AcceptOnlyFromAmong("http/protobuf", "grpc");
        var otlpInterval = new Option<double>("--otlp-interval") { Description = "Seconds between OTLP pushes.", DefaultValueFactory = _ => OtlpSettings.DefaultIntervalSeconds };
        var logFormat = new Option<string>("--log-format") { Description = "auto, simple, json, or systemd (journald priorities; what auto picks under systemd).", DefaultValueFactory = _ => "auto" };
        logFormat.AcceptOnlyFromAmong("auto", "simple", "json", "systemd");

        var command = new Command("server", "Run an O/TWAMP server (the twampd role): control listener and session reflectors.")
        {
            twampListen, owampListen, maxPackets, maxScheduled, allowThirdParty, pfs, modes, testPorts, pbkdf2, maxConnections, maxSessions, servWait, refWait, dataDir, dataLimit, logLevel,
            config, perfsonarConfig, limits, owampLimits, twampLimits, metricsListen, logFormat,
        };
        command.Add(twampFeatures);
        command.Add(otlpEndpoint);
        command.Add(otlpProtocol);
        command.Add(otlpInterval);
        var coalesce = new Option<int?>("--coalesce-us")
        {
            Description = "Session engine: after a wake-up that served only a few of many test sessions, wait this many microseconds before the next one so several are served together (0: off; adds at most this to the reflector's hold time, which replies report). Default 0, or IPPM_ENGINE_COALESCE_US.",
        };
        command.Add(coalesce);
        IkeOptionSet ike = IkeOptionSet.ForServer();
        ike.AddTo(command);
        var shares = new ServerLimitOptions();
        shares.AddTo(command);
        var stamp = new StampServerOptionSet();
        stamp.AddTo(command);

        // Everything a reload re-reads, from a ParseResult that already has the configuration files merged in.
        string? Build(ParseResult parse, ILogger log, out ServerOptions? options)
        {
            options = null;
            if (!TryParseTwampFeatures(parse.GetValue(twampFeatures)!, out uint features))
            {
                return $"--twamp-features '{parse.GetValue(twampFeatures)}': use individual-session-control, reflect-octets, symmetrical-size, dscp-ecn or none.";
            }
            if (!TryParseModes(parse.GetValue(modes)!, out uint offered))
            {
                return $"--modes '{parse.GetValue(modes)}': use open, authenticated, encrypted, mixed.";
            }
            PortRange? range = null;
            if (parse.GetValue(testPorts) is string portsText)
            {
                if (!PortRange.TryParse(portsText, out PortRange parsed))
                {
                    return $"--test-ports '{portsText}' is not LOW-HIGH.";
                }
                range = parsed;
            }
            uint count = parse.GetValue(pbkdf2);
            if (count < 1024)
            {
                return "--pbkdf2-count must be at least 1024 (RFC 4656 §3.1).";
            }
            if (!TryParseSize(parse.GetValue(dataLimit)!, out long limitBytes))
            {
                return $"--data-limit '{parse.GetValue(dataLimit)}' is not a size such as 500M or 2G.";
            }
            bool modesGiven = parse.GetResult(modes) is { Implicit: false };
            bool canKey = parse.GetValue(pfs) is not null || parse.GetValue(ike.Listen) is not null;
            if (modesGiven && !canKey && (offered & ~(uint)SecurityMode.Open) != 0)
            {
                return $"--modes {parse.GetValue(modes)} cannot be offered: {DescribeProtected(offered)} {(IsSingleMode(offered & ~(uint)SecurityMode.Open) ? "needs" : "need")} a key; give --pfs FILE (passphrases, see ippm keys add) or --ike-listen ADDR:PORT with --ike-cert/--ike-psk-file (RFC 7717).";
            }
            if (modesGiven && offered == (uint)SecurityMode.Mixed && parse.GetValue(twampListen) is null)
            {
                return "--modes mixed cannot be offered: mixed mode is TWAMP only (RFC 5618); give --twamp-listen.";
            }
            KeyFile? keys = null;
            if (parse.GetValue(pfs) is FileInfo file)
            {
                try
                {
                    keys = KeyFile.Load(file.FullName);
                }
                catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
                {
                    return $"cannot read key file: {e.Message}";
                }
            }
            else if ((offered & ~(uint)SecurityMode.Open) != 0 && parse.GetValue(ike.Listen) is null)
            {
                // Without passphrases or IKE no client can pass the protected modes; offer only what can succeed.
                offered &= (uint)SecurityMode.Open;
                log.LogWarning("neither --pfs nor --ike-listen given: the protected modes need a key, so only open mode is offered");
            }
            LimitsFile? both, owamp, twamp;
            try
            {
                Func<string, bool> known = id => keys is not null && keys.Identities.Contains(id);
                both = parse.GetValue(limits) is FileInfo l ? LimitsFile.Load(l.FullName, known) : null;
                owamp = parse.GetValue(owampLimits) is FileInfo o ? LimitsFile.Load(o.FullName, known) : null;
                twamp = parse.GetValue(twampLimits) is FileInfo t ? LimitsFile.Load(t.FullName, known) : null;
            }
            catch (Exception e) when (e is PolicyFormatException or IOException or UnauthorizedAccessException)
            {
                keys?.Dispose();
                return $"limits: {e.Message}";
            }
            options = new ServerOptions
            {
                MaxPacketsPerSession = parse.GetValue(maxPackets),
                MaxScheduledPackets = Math.Max(1, parse.GetValue(maxScheduled)),
                AllowThirdPartyTestAddresses = parse.GetValue(allowThirdParty),
                Modes = offered,
                TwampFeatures = features,
                Keys = keys,
                Pbkdf2Count = count,
                TestPorts = range ?? PortRange.DefaultTestPorts,
                MaxConnections = parse.GetValue(maxConnections),
                MaxSessionsPerConnection = parse.GetValue(maxSessions),
                ServWait = TimeSpan.FromSeconds(parse.GetValue(servWait)),
                RefWait = TimeSpan.FromSeconds(parse.GetValue(refWait)),
                DataDirectory = parse.GetValue(dataDir)?.FullName,
                DataDirectoryLimitBytes = limitBytes,
                OwampPolicy = owamp ?? both ?? LimitsFile.Unlimited,
                TwampPolicy = twamp ?? both ?? LimitsFile.Unlimited,
            };
            if (shares.ApplyTo(parse, options) is string limitError)
            {
                keys?.Dispose();
                options = null;
                return limitError;
            }
            return null;
        }

        command.SetAction(async (original, cancellationToken) =>
        {
            var sources = new ServerConfigSources(command, original, config, perfsonarConfig, pfs, owampLimits, twampLimits);
            string? configError = sources.TryMerge(out ParseResult parse, out IReadOnlyList<string> notes);
            using ILoggerFactory logs = ServiceLogging.Create(original.GetValue(logLevel), original.GetValue(logFormat)!);
            ILogger serverLog = logs.CreateLogger("Ippm.Server");
            if (configError is not null)
            {
                return TwpingCommand.Fail(configError, ExitCodes.Usage);
            }
            foreach (string note in notes)
            {
                serverLog.LogInformation("{Note}", note);
            }
            IPEndPoint? endPoint = null, owampEndPoint = null, metricsEndPoint = null;
            string? listen = parse.GetValue(twampListen), owampText = parse.GetValue(owampListen);
            if (listen is null && owampText is null && !stamp.Requested(parse))
            {
                return TwpingCommand.Fail("give at least one listener, e.g. --twamp-listen 127.0.0.1:862, --owamp-listen 127.0.0.1:861 or --stamp-listen 127.0.0.1:862", ExitCodes.Usage);
            }
            Sessions.Stamp.StampReflector? stampReflector = null;
            Sessions.Stamp.StampKeyStore? stampKeys = null;
            if (stamp.Requested(parse) && stamp.TryStart(parse, logs, out stampReflector, out stampKeys) is string stampError)
            {
                return TwpingCommand.Fail(stampError, ExitCodes.Usage);
            }
            using var stampKeysScope = stampKeys; // declared first: disposed after the reflector that uses the keys
            using var stampReflectorScope = stampReflector;
            // Port 0 on any listener: say on standard output, whatever the log level, where the system put them.
            bool anyPortZero = new[] { listen, owampText, parse.GetValue(stamp.Listen), parse.GetValue(ike.Listen), parse.GetValue(metricsListen) }.Any(EndpointParser.AsksForAnyPort);
            if (listen is null && owampText is null)
            {
                if (anyPortZero)
                {
                    Console.Out.WriteLine($"ippm: listening on STAMP {stampReflector!.LocalEndPoint}");
                }
                // STAMP only: no control listener; run until Ctrl+C.
                try
                {
                    await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
                // Let the reflector thread log its counts (reflected, short, oversized, bad HMAC) before exiting.
                stampReflector!.Dispose();
                await stampReflector.Completion.WaitAsync(TimeSpan.FromSeconds(2), CancellationToken.None).ConfigureAwait(false);
                return ExitCodes.Success;
            }
            if (listen is not null && !EndpointParser.TryParseListen(listen, TwpingCommand.DefaultPort, out endPoint))
            {
                return TwpingCommand.Fail($"--twamp-listen '{listen}' is not ADDR:PORT.", ExitCodes.Usage);
            }
            if (owampText is not null && !EndpointParser.TryParseListen(owampText, OwpingCommand.DefaultPort, out owampEndPoint))
            {
                return TwpingCommand.Fail($"--owamp-listen '{owampText}' is not ADDR:PORT.", ExitCodes.Usage);
            }
            if (parse.GetValue(metricsListen) is string metricsText && !EndpointParser.TryParseListen(metricsText, 9464, out metricsEndPoint))
            {
                return TwpingCommand.Fail($"--metrics-listen '{metricsText}' is not ADDR:PORT.", ExitCodes.Usage);
            }
            OtlpSettings? otlp = null;
            if (parse.GetValue(otlpEndpoint) is string otlpText && OtlpSettings.TryParse(otlpText, parse.GetValue(otlpProtocol)!, parse.GetValue(otlpInterval), out otlp) is string otlpError)
            {
                return TwpingCommand.Fail(otlpError, ExitCodes.Usage);
            }
            if (Build(parse, serverLog, out ServerOptions? built) is string buildError)
            {
                return TwpingCommand.Fail(buildError, ExitCodes.Usage);
            }
            ServerOptions options = built!;
            if (parse.GetValue(coalesce) is int coalesceUs)
            {
                if (coalesceUs is < 0 or > 100_000)
                {
                    return TwpingCommand.Fail($"--coalesce-us {coalesceUs}: give 0 (off) to 100000 microseconds.", ExitCodes.Usage);
                }
                Sessions.Engine.SessionEngine.SharedCoalesceMicroseconds = coalesceUs;
            }
            bool viaIke = parse.GetValue(ike.Listen) is not null;
            if (listen is not null)
            {
                serverLog.LogInformation("TWAMP offers {Modes}", DescribeOffered(options.Modes, twamp: true, options.Keys is not null, viaIke));
            }
            if (owampText is not null)
            {
                serverLog.LogInformation("OWAMP offers {Modes}", DescribeOffered(options.Modes & ~(uint)SecurityMode.Mixed, twamp: false, options.Keys is not null, viaIke));
            }
            string? storeDirectory = options.DataDirectory;
            Ippm.Sessions.Telemetry.ServerMetrics.ObserveStoreSize(storeDirectory is null ? null : () => StoredBytes(storeDirectory));
            options.TwampListen = endPoint;
            options.OwampListen = owampEndPoint;
            try
            {
                IPEndPoint? ikeListen = null;
                if (parse.GetValue(ike.Listen) is string ikeText && !EndpointParser.TryParseListen(ikeText, IkeOptionSet.DefaultIkePort, out ikeListen))
                {
                    return TwpingCommand.Fail($"--ike-listen '{ikeText}' is not ADDR:PORT.", ExitCodes.Usage);
                }
                string? ikeError = null;
                await using ServerIke? serverIke = ikeListen is null ? null : ServerIke.Start(parse, ike, ikeListen, logs, out ikeError, shares);
                if (ikeListen is not null)
                {
                    if (serverIke is null)
                    {
                        return TwpingCommand.Fail(ikeError ?? "cannot start the IKE responder", ExitCodes.Usage);
                    }
                    options.IkeSecrets = serverIke.Lookup;
                }
                using MetricsEndpoint? metrics = metricsEndPoint is null ? null : MetricsEndpoint.Start(metricsEndPoint);
                if (metrics is not null)
                {
                    serverLog.LogInformation("metrics at {Url}", metrics.Url);
                }
                using OtlpExport? otlpExport = otlp is null ? null : OtlpExport.Start(otlp);
                if (otlpExport is not null)
                {
                    serverLog.LogInformation("metrics pushed over OTLP ({Protocol}) to {Url} every {Seconds} s", parse.GetValue(otlpProtocol), otlpExport.Url.GetComponents(UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.UriEscaped), otlp!.Interval.TotalSeconds);
                }
                await using var server = new IppmServer(options, logs);
                var host = new ServiceHost(options, serverLog, () =>
                {
                    string? error = sources.TryMerge(out ParseResult again, out _);
                    if (error is not null)
                    {
                        return (null, error);
                    }
                    error = Build(again, serverLog, out ServerOptions? fresh);
                    return (fresh, error);
                });
                try
                {
                    server.Start();
                }
                catch (ServerListenException e)
                {
                    return TwpingCommand.Fail(e.Message, ExitCodes.Usage);
                }
                host.Listening = Listening(server, stampReflector, serverIke, metrics);
                if (anyPortZero)
                {
                    Console.Out.WriteLine($"ippm: listening on {host.Listening}");
                }
                await host.RunAsync(cancellationToken).ConfigureAwait(false);
                await server.StopAsync().ConfigureAwait(false);
            }
            finally
            {
                options.Keys?.Dispose();
            }
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>The bound listeners (the ports the system chose for a port 0), for systemd's status and the line on standard output.</summary>
    private static string Listening(IppmServer server, Sessions.Stamp.StampReflector? stamp, ServerIke? ike, MetricsEndpoint? metrics)
    {
        var parts = new List<string>();
        if (server.TwampEndPoint is { } twamp)
        {
            parts.Add($"TWAMP {twamp}");
        }
        if (server.OwampEndPoint is { } owamp)
        {
            parts.Add($"OWAMP {owamp}");
        }
        if (stamp is not null)
        {
            parts.Add($"STAMP {stamp.LocalEndPoint}");
        }
        if (ike is not null)
        {
            parts.Add($"IKE {ike.LocalEndPoint}");
        }
        if (metrics is not null)
        {
            parts.Add($"metrics {metrics.EndPoint}");
        }
        return string.Join(", ", parts);
    }

    private static bool IsSingleMode(uint modes) => modes != 0 && (modes & (modes - 1)) == 0;

    private static string DescribeProtected(uint modes) =>
        string.Join(", ", new[] { SecurityMode.Authenticated, SecurityMode.Encrypted, SecurityMode.Mixed }.Where(m => (modes & (uint)m) != 0).Select(m => m.Name()));

    /// <summary>What a listener actually offers, in words, for the start-up log line.</summary>
    private static string DescribeOffered(uint modes, bool twamp, bool pfs, bool ike)
    {
        var words = new List<string>();
        foreach (SecurityMode m in new[] { SecurityMode.Open, SecurityMode.Authenticated, SecurityMode.Encrypted, SecurityMode.Mixed })
        {
            if ((modes & (uint)m) != 0 && (twamp || m != SecurityMode.Mixed))
            {
                words.Add(m.Name());
            }
        }
        var sources = new List<string>();
        if (pfs)
        {
            sources.Add("passphrases from --pfs");
        }
        if (ike)
        {
            sources.Add("ikev2 via --ike-listen");
        }
        string keys = (modes & ~(uint)SecurityMode.Open) == 0 || sources.Count == 0 ? "" : $" (keys: {string.Join(", ", sources)})";
        return (words.Count == 0 ? "no mode" : string.Join(", ", words)) + keys;
    }

    private static long StoredBytes(string directory)
    {
        try
        {
            return new DirectoryInfo(directory).EnumerateFiles("*.owp").Sum(f => f.Length);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    /// <summary>A positive octet count with an optional binary suffix: 1048576, 512K, 100M, 2G.</summary>
    internal static bool TryParseSize(string text, out long bytes)
    {
        bytes = 0;
        text = text.Trim();
        int shift = text.Length == 0 ? 0 : char.ToUpperInvariant(text[^1]) switch { 'K' => 10, 'M' => 20, 'G' => 30, _ => 0 };
        string digits = shift == 0 ? text : text[..^1];
        if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long value) || value <= 0 || value > long.MaxValue >> shift)
        {
            return false;
        }
        bytes = value << shift;
        return true;
    }

    internal static bool TryParseTwampFeatures(string text, out uint features)
    {
        features = 0;
        foreach (string name in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            uint bit = name.ToLowerInvariant() switch
            {
                "none" => 0,
                "individual-session-control" => (uint)TwampModes.IndividualSessionControl,
                "reflect-octets" => (uint)TwampModes.ReflectOctets,
                "symmetrical-size" => (uint)TwampModes.SymmetricalSize,
                "dscp-ecn" => (uint)TwampModes.DscpEcnMonitoring,
                _ => uint.MaxValue,
            };
            if (bit == uint.MaxValue)
            {
                return false;
            }
            features |= bit;
        }
        return true;
    }

    internal static bool TryParseModes(string text, out uint modes)
    {
        modes = 0;
        foreach (string name in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            modes |= name.ToLower(CultureInfo.InvariantCulture) switch
            {
                "open" or "o" => (uint)SecurityMode.Open,
                "authenticated" or "a" => (uint)SecurityMode.Authenticated,
                "encrypted" or "e" => (uint)SecurityMode.Encrypted,
                "mixed" or "m" => (uint)SecurityMode.Mixed,
                _ => 0x8000_0000u,
            };
        }
        return modes != 0 && (modes & 0x8000_0000u) == 0;
    }
}
