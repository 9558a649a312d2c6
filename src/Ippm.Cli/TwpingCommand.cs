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
            "Acceptable modes, any of O (open), A (authenticated), E (encrypted), M (mixed); the strictest the server also offers wins. Default: AEMO with -k, AEM with --ike, O otherwise.",
            "OAEM",
            "Number of test packets.");
        var interval = new Option<string>("-i", "--interval") { Description = "Mean seconds between packets; suffix f for fixed, e for exponential (default).", DefaultValueFactory = _ => "0.1e" };
        var padding = new Option<int?>("-s", "--padding") { Description = "Padding octets in each test packet (default: so both directions carry equal sizes)." };

        var light = new Option<bool>("--light") { Description = "TWAMP-Light (RFC 5357 Appendix I): test packets only, no TWAMP-Control, to a reflector such as ippm server --stamp-listen (UDP port 862 by default); open mode." };
        var command = new Command("twping", "Measure two-way delay, loss, duplicates and reordering to a TWAMP server (RFC 5357).") { host, interval, padding, light };
        common.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            using ILoggerFactory logs = Logging.Create(parse.GetValue(common.Verbose) ? LogLevel.Information : LogLevel.Warning);
            if (!SendSchedule.TryParse(parse.GetValue(interval)!, out SendSchedule? schedule))
            {
                return Fail($"-i '{parse.GetValue(interval)}': expected seconds with an optional f or e suffix.", ExitCodes.Usage);
            }
            int? paddingLength = parse.GetValue(padding);
            if (paddingLength is < 0 or > 65000)
            {
                return Fail("-s must be between 0 and 65000.", ExitCodes.Usage);
            }
            // Last, because it reads the passphrase: nothing may return between here and the finally that zeroes it.
            if (common.TryRead(parse, ("AEM", "AEMO", "O"), 100_000_000, out ClientOptionSet.Values? values) is string error)
            {
                return Fail(error, ExitCodes.Usage);
            }
            byte[]? secret = values!.Secret;
            bool json = values.Json;

            var options = new TwpingOptions
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
            };
            try
            {
                string? target = parse.GetValue(host);
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
                    return await RunEmbeddedAsync(options, json, logs, cancellationToken).ConfigureAwait(false);
                }
                IPEndPoint server = await EndpointParser.ResolveAsync(target, DefaultPort, cancellationToken).ConfigureAwait(false);
                return await common.Ike.RunAsync(parse, server.Address, cancellationToken, ikeSecret =>
                    MeasureAsync(options with { Server = server, Ike = ikeSecret }, target, json, cancellationToken)).ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                return Fail($"cannot resolve {parse.GetValue(host)}: {e.Message}", ExitCodes.Unreachable);
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
    private static async Task<int> RunEmbeddedAsync(TwpingOptions options, bool json, ILoggerFactory logs, CancellationToken cancellationToken)
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
        return await MeasureAsync(options with { Server = server.TwampEndPoint! }, server.TwampEndPoint!.ToString(), json, cancellationToken).ConfigureAwait(false);
    }

    internal static Task<int> MeasureAsync(TwpingOptions options, string label, bool json, CancellationToken cancellationToken) =>
        GuardAsync(label, cancellationToken, async () =>
        {
            TwampSessionResult result = await TwampMeasurement.RunAsync(options, cancellationToken).ConfigureAwait(false);
            TwampReport report = TwampReport.Create(label, result);
            Console.Out.Write(json ? report.ToJson() + Environment.NewLine : report.ToHumanReadable());
        });

    /// <summary>Runs a measurement and maps its failures onto exit codes and one clear line on standard error.</summary>
    internal static async Task<int> GuardAsync(string label, CancellationToken cancellationToken, Func<Task> measure)
    {
        try
        {
            await measure().ConfigureAwait(false);
            return ExitCodes.Success;
        }
        catch (ControlProtocolException e)
        {
            return Fail(e.Message, ExitCodes.Refused);
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
            return Fail("interrupted.", ExitCodes.Cancelled);
        }
    }

    internal static int Fail(string message, int exitCode)
    {
        Console.Error.WriteLine($"ippm: {message}");
        return exitCode;
    }

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
