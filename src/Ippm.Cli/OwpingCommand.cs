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
        var common = new ClientOptionSet(
            "Acceptable modes, any of O (open), A (authenticated), E (encrypted); the strictest the server also offers wins. Default: AEO with -k, AE with --ike, O otherwise.",
            "OAE",
            "Test packets per direction.");
        var schedule = new Option<string>("-i", "--schedule") { Description = "Schedule: comma list of slots, seconds with e (exponential) or f (fixed), e.g. 0.1e or 1.0e,0f.", DefaultValueFactory = _ => "0.1e" };
        var padding = new Option<uint>("-s", "--padding") { Description = "Padding octets in each test packet." };

        var command = new Command("owping", "Measure one-way delay, loss, duplicates and reordering to and from an OWAMP server (RFC 4656).") { host, to, from, schedule, padding };
        common.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            using ILoggerFactory logs = Logging.Create(parse.GetValue(common.Verbose) ? LogLevel.Information : LogLevel.Warning);
            if (!OwampSchedule.TryParse(parse.GetValue(schedule)!, out ScheduleSlot[] slots))
            {
                return TwpingCommand.Fail($"-i '{parse.GetValue(schedule)}': expected slots like 0.1e or 1.0e,0f.", ExitCodes.Usage);
            }
            if (parse.GetValue(padding) > 65000)
            {
                return TwpingCommand.Fail("-s must be at most 65000.", ExitCodes.Usage);
            }
            bool onlyTo = parse.GetValue(to), onlyFrom = parse.GetValue(from);
            // Last, because it reads the passphrase: nothing may return between here and the finally that zeroes it.
            if (common.TryRead(parse, ("AE", "AEO", "O"), 10_000_000, out ClientOptionSet.Values? values) is string error)
            {
                return TwpingCommand.Fail(error, ExitCodes.Usage);
            }
            byte[]? secret = values!.Secret;
            bool json = values.Json;
            var options = new OwpingOptions
            {
                Server = new IPEndPoint(IPAddress.Loopback, 0),
                AcceptableModes = values.AcceptableModes,
                Identity = values.Identity,
                Secret = secret,
                Count = values.Count,
                Schedule = slots,
                PaddingLength = parse.GetValue(padding),
                Dscp = values.Dscp,
                Timeout = values.Timeout,
                Outbound = onlyTo || !onlyFrom,
                Inbound = onlyFrom || !onlyTo,
                MaxCount = values.MaxCount,
            };
            try
            {
                string? target = parse.GetValue(host);
                if (target is null)
                {
                    if (values.ViaIke)
                    {
                        return TwpingCommand.Fail("--ike needs HOST (ippm demo shows RFC 7717 against an embedded server).", ExitCodes.Usage);
                    }
                    return await RunEmbeddedAsync(options, json, logs, cancellationToken).ConfigureAwait(false);
                }
                IPEndPoint server = await EndpointParser.ResolveAsync(target, DefaultPort, cancellationToken).ConfigureAwait(false);
                return await common.Ike.RunAsync(parse, EndpointParser.TrySplit(target, 0, out string ikeHost, out _) ? ikeHost : target, server.Address, cancellationToken, ikeSecret =>
                    MeasureAsync(options with { Server = server, Ike = ikeSecret }, target, json, logs, cancellationToken)).ConfigureAwait(false);
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
