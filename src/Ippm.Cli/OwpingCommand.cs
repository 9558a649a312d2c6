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
            "Acceptable modes, any of O (open), A (authenticated), E (encrypted); the strictest the server also offers wins; without -k or --ike only O is usable (-A OA then measures in open mode). Default: AEO with -k, AE with --ike, O otherwise.",
            "OAE",
            "Test packets per direction.");
        var schedule = new Option<string>("-i", "--schedule") { Description = "Schedule: comma list of slots, seconds with e (exponential) or f (fixed), e.g. 0.1e or 1.0e,0f.", DefaultValueFactory = _ => "0.1e" };
        var padding = new Option<uint>("-s", "--padding") { Description = "Padding octets in each test packet." };
        var output = new RawOutputOptions("Print each direction's raw records instead of the report: \"SEQNO STIME SS SERR RTIME RS RERR TTL\", as owping -R.", reportOptions: false);
        var save = new OwpingSaveOptions();

        var command = new Command("owping", "Measure one-way delay, loss, duplicates and reordering to and from an OWAMP server (RFC 4656).") { host, to, from, schedule, padding };
        common.AddTo(command);
        output.AddTo(command);
        save.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            using ILoggerFactory logs = Logging.CreateClient(common.Verbosity(parse));
            if (!OwampSchedule.TryParse(parse.GetValue(schedule)!, out ScheduleSlot[] slots))
            {
                return TwpingCommand.Fail($"-i '{parse.GetValue(schedule)}': expected slots like 0.1e or 1.0e,0f.", ExitCodes.Usage);
            }
            if (parse.GetValue(padding) > 65000)
            {
                return TwpingCommand.Fail("-s must be at most 65000.", ExitCodes.Usage);
            }
            if (output.TryRead(parse, out RawOutputOptions.Values outputValues) is string outputError)
            {
                return TwpingCommand.Fail(outputError, ExitCodes.Usage);
            }
            FileInfo? saveFrom = parse.GetValue(save.SaveFrom), saveTo = parse.GetValue(save.SaveTo);
            if (new[] { saveFrom, saveTo }.FirstOrDefault(f => f is not null && f.Directory is { Exists: false }) is FileInfo noDirectory)
            {
                return TwpingCommand.Fail($"cannot save in {noDirectory}: the directory {noDirectory.Directory} does not exist.", ExitCodes.Usage);
            }
            // As owping opens them before the test: a file that cannot be written fails now, not after an hour of measuring.
            foreach (FileInfo file in new[] { saveFrom, saveTo }.OfType<FileInfo>())
            {
                if (ClientRawOutput.CheckWritable(file) is string unwritable)
                {
                    return TwpingCommand.Fail(unwritable, ExitCodes.Usage);
                }
            }
            if (outputValues.Any && parse.GetValue(common.Json))
            {
                return TwpingCommand.Fail("--json excludes -R, -M and -Q.", ExitCodes.Usage);
            }
            var raw = new ClientRawOutput(outputValues, saveFrom, saveTo);
            // owping: -F FILE measures (and saves) the inbound direction, -T FILE the outbound one, as -f and -t do.
            bool onlyTo = parse.GetValue(to) || saveTo is not null, onlyFrom = parse.GetValue(from) || saveFrom is not null;
            string? target = parse.GetValue(host);
            // Last, because it reads the passphrase: nothing may return between here and the finally that zeroes it.
            if (common.TryRead(parse, ("AE", "AEO", "O"), 10_000_000, embeddedServer: target is null, out ClientOptionSet.Values? values) is string error)
            {
                return TwpingCommand.Fail(error, ExitCodes.Usage);
            }
            byte[]? secret = values!.Secret;
            bool json = values.Json;
            ILogger trace = logs.CreateLogger(ControlTrace.Category);
            if (values.ModeNote is string note)
            {
                trace.LogInformation("{Note}", note);
            }
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
                LocalAddress = values.Source,
                TestPorts = values.TestPorts,
            };
            try
            {
                if (target is null)
                {
                    if (values.ViaIke)
                    {
                        return TwpingCommand.Fail("--ike needs HOST (ippm demo shows RFC 7717 against an embedded server).", ExitCodes.Usage);
                    }
                    return await RunEmbeddedAsync(options, json, logs, trace, cancellationToken, raw).ConfigureAwait(false);
                }
                IPEndPoint server = await EndpointParser.ResolveAsync(target, DefaultPort, values.Family, cancellationToken).ConfigureAwait(false);
                return await common.Ike.RunAsync(parse, EndpointParser.TrySplit(target, 0, out string ikeHost, out _) ? ikeHost : target, server.Address, cancellationToken, ikeSecret =>
                    MeasureAsync(options with { Server = server, Ike = ikeSecret }, target, json, logs, cancellationToken, trace, raw), logs).ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                return TwpingCommand.Fail($"cannot resolve {target}: {e.Message}", ExitCodes.Unreachable);
            }
            catch (FormatException e)
            {
                return TwpingCommand.Fail(e.Message, ExitCodes.Usage);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return TwpingCommand.Fail("interrupted before anything was measured.", ExitCodes.Cancelled);
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

    private static async Task<int> RunEmbeddedAsync(OwpingOptions options, bool json, ILoggerFactory logs, ILogger trace, CancellationToken cancellationToken, ClientRawOutput? raw = null)
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
        return await MeasureAsync(options with { Server = server.OwampEndPoint! }, server.OwampEndPoint!.ToString(), json, logs, cancellationToken, trace, raw).ConfigureAwait(false);
    }

    /// <param name="raw">-R / -M instead of the report, and -F / -T files to save; null for neither.</param>
    internal static async Task<int> MeasureAsync(OwpingOptions options, string label, bool json, ILoggerFactory logs, CancellationToken cancellationToken, ILogger? trace = null, ClientRawOutput? raw = null)
    {
        string? saveError = null;
        int code = await TwpingCommand.GuardAsync(label, cancellationToken, async () =>
        {
            OwampResult result = await OwampMeasurement.RunAsync(options, cancellationToken, logs.CreateLogger("Ippm.Owping"), trace).ConfigureAwait(false);
            long sent = (long)(result.Outbound?.NextSeqno ?? 0) + (result.Inbound?.NextSeqno ?? 0);
            if (sent > 0 || !cancellationToken.IsCancellationRequested)
            {
                // Interrupted before the first packet: nothing to report, the caller says so (exit 130).
                saveError = raw?.Save(result);
                if (raw is { Output.Any: true })
                {
                    Console.Out.Write(await raw.OwpingAsync(result, label, cancellationToken).ConfigureAwait(false));
                }
                else
                {
                    OwampReport report = OwampReport.Create(label, result);
                    Console.Out.Write(json ? report.ToJson() + Environment.NewLine : report.ToHumanReadable());
                }
            }
            return sent;
        }).ConfigureAwait(false);
        return saveError is null || code != ExitCodes.Success ? code : TwpingCommand.Fail(saveError, ExitCodes.Usage);
    }
}
