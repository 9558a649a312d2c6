using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Ippm.Security;
using Ippm.Sessions.Control;
using Ippm.Sessions.Owamp;
using Ippm.Sessions.Server;
using Ippm.Wire;
using Ippm.Wire.Control;
using Microsoft.Extensions.Logging;

namespace Ippm.Cli;

/// <summary><c>ippm owping</c>: owping's flags, owping's meanings.</summary>
internal static class OwpingCommand
{
    public const int DefaultPort = 861;

    public static Command Create()
    {
        var host = new Argument<string?>("host")
        {
            Description = "OWAMP server as HOST[:PORT] (port 861 by default). Without it, ippm measures against an embedded server on loopback.",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var to = new Option<bool>("-t", "--to") { Description = "Only the outbound direction (client to server)." };
        var from = new Option<bool>("-f", "--from") { Description = "Only the inbound direction (server to client)." };
        var modes = new Option<string?>("-A", "--modes") { Description = "Acceptable modes, any of O (open), A (authenticated), E (encrypted); the strictest the server also offers wins. Default: AEO with -k, O without." };
        var identity = new Option<string?>("-u", "--identity") { Description = "Identity (KeyID) for A and E modes." };
        var keyFile = new Option<FileInfo?>("-k", "--key-file") { Description = "perfSONAR .pfs key file holding the identity's passphrase." };
        var count = new Option<int>("-c", "--count") { Description = "Test packets per direction.", DefaultValueFactory = _ => 100 };
        var schedule = new Option<string>("-i", "--schedule") { Description = "Schedule: comma list of slots, seconds with e (exponential) or f (fixed), e.g. 0.1e or 1.0e,0f.", DefaultValueFactory = _ => "0.1e" };
        var padding = new Option<uint>("-s", "--padding") { Description = "Padding octets in each test packet." };
        var dscp = new Option<byte>("-D", "--dscp") { Description = "DSCP for test packets (0-63)." };
        var timeout = new Option<double>("-L", "--timeout") { Description = "Seconds after which a packet not yet arrived is lost.", DefaultValueFactory = _ => 2.0 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object with outbound and inbound members." };
        var maxCount = new Option<uint>("--max-pbkdf2-count") { Description = "Refuse servers asking for more PBKDF2 iterations than this.", DefaultValueFactory = _ => ControlHandshake.DefaultMaxCount };
        var verbose = new Option<bool>("-v", "--verbose") { Description = "Log protocol events to standard error." };

        var command = new Command("owping", "Measure one-way delay, loss, duplicates and reordering to and from an OWAMP server (RFC 4656).")
        {
            host, to, from, modes, identity, keyFile, count, schedule, padding, dscp, timeout, json, maxCount, verbose,
        };
        IkeOptionSet ike = IkeOptionSet.ForClient();
        ike.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            using ILoggerFactory logs = Logging.Create(parse.GetValue(verbose) ? LogLevel.Information : LogLevel.Warning);
            string? keyPath = parse.GetValue(keyFile)?.FullName;
            bool viaIke = parse.GetValue(ike.Enable);
            string letters = parse.GetValue(modes) ?? (viaIke ? "AE" : keyPath is null ? "O" : "AEO");
            if (!SecurityModes.TryParseLetters(letters, out uint acceptable) || (acceptable & (uint)SecurityMode.Mixed) != 0)
            {
                return TwpingCommand.Fail($"-A '{letters}': OWAMP uses the letters O, A and E.", ExitCodes.Usage);
            }
            if (!OwampSchedule.TryParse(parse.GetValue(schedule)!, out ScheduleSlot[] slots))
            {
                return TwpingCommand.Fail($"-i '{parse.GetValue(schedule)}': expected slots like 0.1e or 1.0e,0f.", ExitCodes.Usage);
            }
            int packets = parse.GetValue(count);
            if (packets is < 1 or > 10_000_000)
            {
                return TwpingCommand.Fail("-c must be between 1 and 10000000.", ExitCodes.Usage);
            }
            double timeoutSeconds = parse.GetValue(timeout);
            if (!(timeoutSeconds > 0 && timeoutSeconds < 3600))
            {
                return TwpingCommand.Fail("-L must be between 0 and 3600 seconds.", ExitCodes.Usage);
            }
            if (parse.GetValue(dscp) > 63 || parse.GetValue(padding) > 65000)
            {
                return TwpingCommand.Fail("-D must be 0-63 and -s at most 65000.", ExitCodes.Usage);
            }
            bool onlyTo = parse.GetValue(to), onlyFrom = parse.GetValue(from);
            if (ClientCredentials.TryLoad(keyPath, parse.GetValue(identity), out string? user, out byte[]? secret) is string keyError)
            {
                return TwpingCommand.Fail(keyError, ExitCodes.Usage);
            }
            var options = new OwpingOptions
            {
                Server = new IPEndPoint(IPAddress.Loopback, 0),
                AcceptableModes = acceptable,
                Identity = user,
                Secret = secret,
                Count = packets,
                Schedule = slots,
                PaddingLength = parse.GetValue(padding),
                Dscp = parse.GetValue(dscp),
                Timeout = TimeSpan.FromSeconds(timeoutSeconds),
                Outbound = onlyTo || !onlyFrom,
                Inbound = onlyFrom || !onlyTo,
                MaxCount = parse.GetValue(maxCount),
            };
            try
            {
                string? target = parse.GetValue(host);
                if (target is null)
                {
                    if (viaIke)
                    {
                        return TwpingCommand.Fail("--ike needs HOST (ippm demo shows RFC 7717 against an embedded server).", ExitCodes.Usage);
                    }
                    return await RunEmbeddedAsync(options, parse.GetValue(json), logs, cancellationToken).ConfigureAwait(false);
                }
                IPEndPoint server = await EndpointParser.ResolveAsync(target, DefaultPort, cancellationToken).ConfigureAwait(false);
                return await ike.RunAsync(parse, server.Address, cancellationToken, secret =>
                    MeasureAsync(options with { Server = server, Ike = secret }, target, parse.GetValue(json), logs, cancellationToken)).ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                return TwpingCommand.Fail($"cannot resolve {parse.GetValue(host)}: {e.Message}", ExitCodes.Unreachable);
            }
            finally
            {
                if (secret is not null)
                {
                    CryptographicOperations.ZeroMemory(secret);
                }
            }
        });
        return command;
    }

    private static async Task<int> RunEmbeddedAsync(OwpingOptions options, bool json, ILoggerFactory logs, CancellationToken cancellationToken)
    {
        byte[] passphrase = RandomNumberGenerator.GetBytes(16);
        using KeyFile keys = KeyFile.Parse(KeyFile.FormatLine("ippm-embedded", passphrase));
        await using var server = new IppmServer(new ServerOptions { OwampListen = new IPEndPoint(IPAddress.Loopback, 0), Keys = keys }, logs);
        server.Start();
        if (options.Secret is null)
        {
            options = options with { Identity = "ippm-embedded", Secret = passphrase };
        }
        if (!json)
        {
            Console.Error.WriteLine($"ippm: no host given; measuring against an embedded OWAMP server on {server.OwampEndPoint}");
        }
        return await MeasureAsync(options with { Server = server.OwampEndPoint! }, server.OwampEndPoint!.ToString(), json, logs, cancellationToken).ConfigureAwait(false);
    }

    internal static async Task<int> MeasureAsync(OwpingOptions options, string label, bool json, ILoggerFactory logs, CancellationToken cancellationToken)
    {
        return await TwpingCommand.GuardAsync(label, cancellationToken, async () =>
        {
            OwampResult result = await OwampMeasurement.RunAsync(options, cancellationToken, logs.CreateLogger("Ippm.Owping")).ConfigureAwait(false);
            OwampReport report = OwampReport.Create(label, result);
            Console.Out.Write(json ? report.ToJson() + Environment.NewLine : report.ToHumanReadable());
        }).ConfigureAwait(false);
    }
}
