using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Ippm.Security;
using Ippm.Sessions.Control;
using Ippm.Sessions.Server;
using Ippm.Sessions.Twamp;
using Ippm.Wire;
using Microsoft.Extensions.Logging;

namespace Ippm.Cli;

/// <summary><c>ippm twping</c>: twping's flags, twping's meanings.</summary>
internal static class TwpingCommand
{
    public const int DefaultPort = 862;

    public static Command Create()
    {
        var host = new Argument<string?>("host")
        {
            Description = "TWAMP server as HOST[:PORT] (port 862 by default). Without it, ippm measures against an embedded server on loopback.",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var common = new ClientOptionSet(
            "Acceptable modes, any of O (open), A (authenticated), E (encrypted), M (mixed); the strictest the server also offers wins; without -k or --ike only O is usable (-A OA then measures in open mode). Default: AEMO with -k, AEM with --ike, O otherwise.",
            "OAEM",
            "Number of test packets.");
        var interval = new Option<string>("-i", "--interval") { Description = "Mean seconds between packets; suffix f for fixed, e for exponential (default).", DefaultValueFactory = _ => "0.1e" };
        var padding = new Option<int?>("-s", "--padding") { Description = "Padding octets in each test packet (default: so both directions carry equal sizes)." };

        var output = new RawOutputOptions("Print one raw line per packet instead of the report: \"SSEQ STIME SS SERR SRTIME SRS SRERR STTL RSEQ RSTIME RSS RSERR RTIME RS RERR RTTL\", as twping -R.", reportOptions: false);
        var light = new Option<bool>("--light") { Description = "TWAMP-Light (RFC 5357 Appendix I): test packets only, no TWAMP-Control, to a reflector such as ippm server --stamp-listen (UDP port 862 by default); open mode." };
        var command = new Command("twping", "Measure two-way delay, loss, duplicates and reordering to a TWAMP server (RFC 5357).") { host, interval, padding, light };
        common.AddTo(command);
        var extensions = new TwampExtensionOptions();
        extensions.AddTo(command);
        output.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            int verbosity = common.Verbosity(parse);
            using ILoggerFactory logs = Logging.CreateClient(verbosity);
            if (!SendSchedule.TryParse(parse.GetValue(interval)!, out SendSchedule? schedule))
            {
                return Fail($"-i '{parse.GetValue(interval)}': expected seconds with an optional f or e suffix.", ExitCodes.Usage);
            }
            int? paddingLength = parse.GetValue(padding);
            if (paddingLength is < 0 or > 65000)
            {
                return Fail("-s must be between 0 and 65000.", ExitCodes.Usage);
            }
            if (extensions.Apply(parse, new TwpingOptions { Server = new IPEndPoint(IPAddress.Loopback, 0) }, out TwpingOptions extended) is string extensionError)
            {
                return Fail(extensionError, ExitCodes.Usage);
            }
            if (output.TryRead(parse, out RawOutputOptions.Values outputValues) is string outputError)
            {
                return Fail(outputError, ExitCodes.Usage);
            }
            if (outputValues.Any && (parse.GetValue(common.Json) || parse.GetValue(light) || parse.GetValue(extensions.Sessions) > 1))
            {
                return Fail("-R, -M and -Q are for one TWAMP-Control session: they exclude --json, --light and --sessions.", ExitCodes.Usage);
            }
            ClientRawOutput? raw = outputValues.Any ? new ClientRawOutput(outputValues) : null;
            string? target = parse.GetValue(host);
            // Last, because it reads the passphrase: nothing may return between here and the finally that zeroes it.
            if (common.TryRead(parse, ("AEM", "AEMO", "O"), 100_000_000, embeddedServer: target is null, out ClientOptionSet.Values? values) is string error)
            {
                return Fail(error, ExitCodes.Usage);
            }
            byte[]? secret = values!.Secret;
            bool json = values.Json;
            ILogger trace = logs.CreateLogger(Ippm.Sessions.Control.ControlTrace.Category);
            if (values.ModeNote is string note)
            {
                trace.LogInformation("{Note}", note);
            }

            var options = extended with
            {
                Server = new IPEndPoint(IPAddress.Loopback, 0),
                AcceptableModes = values.AcceptableModes,
                Identity = values.Identity,
                Secret = secret,
                Count = values.Count,
                Schedule = schedule!,
                PaddingLength = paddingLength,
                Dscp = values.Dscp,
                Timeout = values.Timeout,
                MaxCount = values.MaxCount,
                LocalAddress = values.Source,
                TestPorts = values.TestPorts,
            };
            try
            {
                if (parse.GetValue(light))
                {
                    return await TwampLightCommand.RunAsync(target, values, schedule!, paddingLength, logs, cancellationToken).ConfigureAwait(false);
                }
                if (target is null)
                {
                    if (values.ViaIke)
                    {
                        return Fail("--ike needs HOST (ippm demo shows RFC 7717 against an embedded server).", ExitCodes.Usage);
                    }
                    return await RunEmbeddedAsync(options, json, logs, trace, cancellationToken, raw).ConfigureAwait(false);
                }
                IPEndPoint server = await EndpointParser.ResolveAsync(target, DefaultPort, values.Family, cancellationToken).ConfigureAwait(false);
                return await common.Ike.RunAsync(parse, EndpointParser.TrySplit(target, 0, out string ikeHost, out _) ? ikeHost : target, server.Address, cancellationToken, ikeSecret =>
                    MeasureAsync(options with { Server = server, Ike = ikeSecret }, target, json, cancellationToken, trace, raw), logs).ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                return Fail($"cannot resolve {target}: {e.Message}", ExitCodes.Unreachable);
            }
            catch (FormatException e)
            {
                return Fail(e.Message, ExitCodes.Usage);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return Fail("interrupted before anything was measured.", ExitCodes.Cancelled);
            }
            finally
            {
                if (secret is not null)
                {
                    System.Security.Cryptography.CryptographicOperations.ZeroMemory(secret);
                }
            }
        });
        return command;
    }

    /// <summary>No host: start a server on loopback, with a throwaway passphrase when a protected mode is wanted.</summary>
    private static async Task<int> RunEmbeddedAsync(TwpingOptions options, bool json, ILoggerFactory logs, ILogger trace, CancellationToken cancellationToken, ClientRawOutput? raw = null)
    {
        byte[] passphrase = System.Security.Cryptography.RandomNumberGenerator.GetBytes(16);
        using KeyFile keys = KeyFile.Parse(KeyFile.FormatLine("ippm-embedded", passphrase));
        await using var server = new IppmServer(
            new ServerOptions { TwampListen = new IPEndPoint(IPAddress.Loopback, 0), Keys = keys }, logs);
        server.Start();
        if (options.Secret is null)
        {
            options = options with { Identity = "ippm-embedded", Secret = passphrase };
        }
        if (!json)
        {
            Console.Error.WriteLine($"ippm: no host given; measuring against an embedded TWAMP server on {server.TwampEndPoint}");
        }
        return await MeasureAsync(options with { Server = server.TwampEndPoint! }, server.TwampEndPoint!.ToString(), json, cancellationToken, trace, raw).ConfigureAwait(false);
    }

    /// <param name="raw">-R / -M: perfSONAR's raw lines or machine summary instead of the report; null for the report.</param>
    internal static Task<int> MeasureAsync(TwpingOptions options, string label, bool json, CancellationToken cancellationToken, ILogger? trace = null, ClientRawOutput? raw = null) =>
        GuardAsync(label, cancellationToken, async () =>
        {
            if (options.Sessions > 1)
            {
                // Several sessions on one connection (RFC 5938 when offered): one report each; JSON {"sessions": [...]}.
                IReadOnlyList<TwampSessionResult> results = await TwampMeasurement.RunManyAsync(options, cancellationToken, trace).ConfigureAwait(false);
                TwampReport[] reports = results.Select(r => TwampReport.Create(label, r)).ToArray();
                if (json)
                {
                    WriteJson(w =>
                    {
                        w.WriteStartObject();
                        w.WriteStartArray("sessions");
                        foreach (TwampReport r in reports)
                        {
                            r.WriteJson(w);
                        }
                        w.WriteEndArray();
                        w.WriteEndObject();
                    });
                }
                else
                {
                    foreach (TwampReport r in reports)
                    {
                        Console.Out.Write(r.ToHumanReadable());
                    }
                }
                return results.Sum(r => r.Sent);
            }
            TwampSessionResult result = await TwampMeasurement.RunAsync(options, cancellationToken, trace).ConfigureAwait(false);
            if (result.Sent > 0 || !cancellationToken.IsCancellationRequested)
            {
                // Interrupted before the first packet: nothing to report, the caller says so (exit 130).
                if (raw is not null)
                {
                    Console.Out.Write(await raw.TwpingAsync(result, label, cancellationToken).ConfigureAwait(false));
                }
                else
                {
                    TwampReport report = TwampReport.Create(label, result);
                    Console.Out.Write(json ? report.ToJson() + Environment.NewLine : report.ToHumanReadable());
                }
            }
            return result.Sent;
        });

    /// <summary>
    /// Runs a measurement and maps its failures onto exit codes and one clear line on standard error. An interrupted
    /// measurement that sent something has printed its report and succeeds; 130 only when nothing was measured.
    /// </summary>
    /// <param name="measure">Measures, prints the report and returns how many packets were sent.</param>
    internal static async Task<int> GuardAsync(string label, CancellationToken cancellationToken, Func<Task<long>> measure)
    {
        try
        {
            long sent = await measure().ConfigureAwait(false);
            return cancellationToken.IsCancellationRequested && sent == 0 ? Fail("interrupted before anything was measured.", ExitCodes.Cancelled) : ExitCodes.Success;
        }
        catch (ControlProtocolException e)
        {
            return Fail(e.Message, ExitCodes.Refused);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressNotAvailable)
        {
            // EADDRNOTAVAIL comes from binding to -S: a local mistake, not an unreachable peer.
            return Fail($"cannot send from the -S address: {e.Message} (is it an address of this host?)", ExitCodes.Usage);
        }
        catch (SocketException e)
        {
            return Fail($"cannot reach {label}: {e.Message}", ExitCodes.Unreachable);
        }
        catch (IOException e)
        {
            return Fail($"connection to {label} failed: {e.Message}", ExitCodes.Unreachable);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Fail($"{label} did not answer in time.", ExitCodes.Unreachable);
        }
        catch (OperationCanceledException)
        {
            return Fail("interrupted before anything was measured.", ExitCodes.Cancelled);
        }
    }

    internal static int Fail(string message, int exitCode) => CliErrors.Fail(message, exitCode);

    internal static void WriteJson(Action<Utf8JsonWriter> write)
    {
        using var stream = Console.OpenStandardOutput();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            write(writer);
        }
        stream.Write("\n"u8);
    }
}
