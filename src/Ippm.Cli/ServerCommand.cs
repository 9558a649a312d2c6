using System.CommandLine;
using System.Globalization;
using System.Net;
using Ippm.Security;
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
        var modes = new Option<string>("--modes") { Description = "Modes to offer: comma list of open, authenticated, encrypted, mixed.", DefaultValueFactory = _ => "open,authenticated,encrypted,mixed" };
        var testPorts = new Option<string?>("--test-ports") { Description = "UDP port range LOW-HIGH for test sessions (default: any free port)." };
        var pbkdf2 = new Option<uint>("--pbkdf2-count") { Description = "PBKDF2 iteration Count sent in Server-Greeting (at least 1024).", DefaultValueFactory = _ => 2048 };
        var maxConnections = new Option<int>("--max-connections") { Description = "Simultaneous control connections.", DefaultValueFactory = _ => 128 };
        var maxSessions = new Option<int>("--max-sessions") { Description = "Test sessions per control connection.", DefaultValueFactory = _ => 16 };
        var servWait = new Option<double>("--servwait") { Description = "SERVWAIT: seconds an idle control connection is kept.", DefaultValueFactory = _ => 900 };
        var refWait = new Option<double>("--refwait") { Description = "REFWAIT: seconds a started reflector waits for a packet.", DefaultValueFactory = _ => 900 };
        var dataDir = new Option<DirectoryInfo?>("--data-dir") { Description = "Store completed OWAMP receive sessions here (SID.owp, mode 0600) for Fetch-Session, also from later connections (default: memory only)." };
        var dataLimit = new Option<string>("--data-limit") { Description = "Size limit of --data-dir in octets, K/M/G suffixes allowed; the oldest sessions are deleted to make room.", DefaultValueFactory = _ => "1G" };
        var logLevel = new Option<LogLevel>("--log-level") { Description = "Trace, Debug, Information, Warning, Error.", DefaultValueFactory = _ => LogLevel.Information };

        var command = new Command("server", "Run an O/TWAMP server (the twampd role): control listener and session reflectors.")
        {
            twampListen, owampListen, maxPackets, maxScheduled, allowThirdParty, pfs, modes, testPorts, pbkdf2, maxConnections, maxSessions, servWait, refWait, dataDir, dataLimit, logLevel,
        };
        IkeOptionSet ike = IkeOptionSet.ForServer();
        ike.AddTo(command);
        var stamp = new StampServerOptionSet();
        stamp.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            using ILoggerFactory logs = Logging.Create(parse.GetValue(logLevel));
            IPEndPoint? endPoint = null, owampEndPoint = null;
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
            if (listen is null && owampText is null)
            {
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
            if (!TryParseModes(parse.GetValue(modes)!, out uint offered))
            {
                return TwpingCommand.Fail($"--modes '{parse.GetValue(modes)}': use open, authenticated, encrypted, mixed.", ExitCodes.Usage);
            }
            PortRange? range = null;
            if (parse.GetValue(testPorts) is string portsText)
            {
                if (!PortRange.TryParse(portsText, out PortRange parsed))
                {
                    return TwpingCommand.Fail($"--test-ports '{portsText}' is not LOW-HIGH.", ExitCodes.Usage);
                }
                range = parsed;
            }
            uint count = parse.GetValue(pbkdf2);
            if (count < 1024)
            {
                return TwpingCommand.Fail("--pbkdf2-count must be at least 1024 (RFC 4656 §3.1).", ExitCodes.Usage);
            }
            if (!TryParseSize(parse.GetValue(dataLimit)!, out long limitBytes))
            {
                return TwpingCommand.Fail($"--data-limit '{parse.GetValue(dataLimit)}' is not a size such as 500M or 2G.", ExitCodes.Usage);
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
                    return TwpingCommand.Fail($"cannot read key file: {e.Message}", ExitCodes.Usage);
                }
            }
            else if ((offered & ~(uint)SecurityMode.Open) != 0 && parse.GetValue(ike.Listen) is null)
            {
                // Without passphrases or IKE no client can pass the protected modes; offer only what can succeed.
                offered &= (uint)SecurityMode.Open;
                logs.CreateLogger("Ippm.Server").LogWarning("neither --pfs nor --ike-listen given: offering open mode only");
            }
            using (keys)
            {
                var options = new ServerOptions
                {
                    TwampListen = endPoint,
                    OwampListen = owampEndPoint,
                    MaxPacketsPerSession = parse.GetValue(maxPackets),
                    MaxScheduledPackets = Math.Max(1, parse.GetValue(maxScheduled)),
                    AllowThirdPartyTestAddresses = parse.GetValue(allowThirdParty),
                    Modes = offered,
                    Keys = keys,
                    Pbkdf2Count = count,
                    TestPorts = range,
                    MaxConnections = parse.GetValue(maxConnections),
                    MaxSessionsPerConnection = parse.GetValue(maxSessions),
                    ServWait = TimeSpan.FromSeconds(parse.GetValue(servWait)),
                    RefWait = TimeSpan.FromSeconds(parse.GetValue(refWait)),
                    DataDirectory = parse.GetValue(dataDir)?.FullName,
                    DataDirectoryLimitBytes = limitBytes,
                };
                IPEndPoint? ikeListen = null;
                if (parse.GetValue(ike.Listen) is string ikeText && !EndpointParser.TryParseListen(ikeText, IkeOptionSet.DefaultIkePort, out ikeListen))
                {
                    return TwpingCommand.Fail($"--ike-listen '{ikeText}' is not ADDR:PORT.", ExitCodes.Usage);
                }
                string? ikeError = null;
                await using ServerIke? serverIke = ikeListen is null ? null : ServerIke.Start(parse, ike, ikeListen, logs, out ikeError);
                if (ikeListen is not null)
                {
                    if (serverIke is null)
                    {
                        return TwpingCommand.Fail(ikeError ?? "cannot start the IKE responder", ExitCodes.Usage);
                    }
                    options.IkeSecrets = serverIke.Lookup;
                }
                await using var server = new IppmServer(options, logs);
                try
                {
                    await server.RunAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (System.Net.Sockets.SocketException e)
                {
                    return TwpingCommand.Fail($"cannot listen: {e.Message}", ExitCodes.Usage);
                }
            }
            return ExitCodes.Success;
        });
        return command;
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
