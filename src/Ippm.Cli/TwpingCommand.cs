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
        var modes = new Option<string?>("-A", "--modes") { Description = "Acceptable modes, any of O (open), A (authenticated), E (encrypted), M (mixed); the strictest the server also offers wins. Default: AEMO with -k, O without." };
        var identity = new Option<string?>("-u", "--identity") { Description = "Identity (KeyID) for A, E and M modes." };
        var keyFile = new Option<FileInfo?>("-k", "--key-file") { Description = "perfSONAR .pfs key file holding the identity's passphrase." };
        var count = new Option<int>("-c", "--count") { Description = "Number of test packets.", DefaultValueFactory = _ => 100 };
        var interval = new Option<string>("-i", "--interval") { Description = "Mean seconds between packets; suffix f for fixed, e for exponential (default).", DefaultValueFactory = _ => "0.1e" };
        var padding = new Option<int?>("-s", "--padding") { Description = "Padding octets in each test packet (default: so both directions carry equal sizes)." };
        var dscp = new Option<byte>("-D", "--dscp") { Description = "DSCP for test packets (0-63)." };
        var timeout = new Option<double>("-L", "--timeout") { Description = "Seconds to wait for a reply before counting a packet lost.", DefaultValueFactory = _ => 2.0 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object on standard output instead of the report." };
        var maxCount = new Option<uint>("--max-pbkdf2-count") { Description = "Refuse servers asking for more PBKDF2 iterations than this.", DefaultValueFactory = _ => ControlHandshake.DefaultMaxCount };
        var verbose = new Option<bool>("-v", "--verbose") { Description = "Log protocol events to standard error." };

        var command = new Command("twping", "Measure two-way delay, loss, duplicates and reordering to a TWAMP server (RFC 5357).")
        {
            host, modes, identity, keyFile, count, interval, padding, dscp, timeout, json, maxCount, verbose,
        };
        IkeOptionSet ike = IkeOptionSet.ForClient();
        ike.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            using ILoggerFactory logs = Logging.Create(parse.GetValue(verbose) ? LogLevel.Information : LogLevel.Warning);
            string? keyPath = parse.GetValue(keyFile)?.FullName;
            bool viaIke = parse.GetValue(ike.Enable);
            string modeLetters = parse.GetValue(modes) ?? (viaIke ? "AEM" : keyPath is null ? "O" : "AEMO");
            if (!SecurityModes.TryParseLetters(modeLetters, out uint acceptable))
            {
                return Fail($"-A '{modeLetters}': use the letters O, A, E and M.", ExitCodes.Usage);
            }
            if (!SendSchedule.TryParse(parse.GetValue(interval)!, out SendSchedule? schedule))
            {
                return Fail($"-i '{parse.GetValue(interval)}': expected seconds with an optional f or e suffix.", ExitCodes.Usage);
            }
            int packets = parse.GetValue(count);
            if (packets is < 1 or > 100_000_000)
            {
                return Fail("-c must be between 1 and 100000000.", ExitCodes.Usage);
            }
            if (parse.GetValue(dscp) > 63)
            {
                return Fail("-D must be between 0 and 63.", ExitCodes.Usage);
            }
            double timeoutSeconds = parse.GetValue(timeout);
            if (!(timeoutSeconds > 0 && timeoutSeconds < 3600))
            {
                return Fail("-L must be between 0 and 3600 seconds.", ExitCodes.Usage);
            }
            int? paddingLength = parse.GetValue(padding);
            if (paddingLength is < 0 or > 65000)
            {
                return Fail("-s must be between 0 and 65000.", ExitCodes.Usage);
            }
            if (ClientCredentials.TryLoad(keyPath, parse.GetValue(identity), out string? user, out byte[]? secret) is string keyError)
            {
                return Fail(keyError, ExitCodes.Usage);
            }

            var options = new TwpingOptions
            {
                Server = new IPEndPoint(IPAddress.Loopback, 0),
                AcceptableModes = acceptable,
                Identity = user,
                Secret = secret,
                Count = packets,
                Schedule = schedule!,
                PaddingLength = paddingLength,
                Dscp = parse.GetValue(dscp),
                Timeout = TimeSpan.FromSeconds(timeoutSeconds),
                MaxCount = parse.GetValue(maxCount),
            };
            try
            {
                string? target = parse.GetValue(host);
                if (target is null)
                {
                    if (viaIke)
                    {
                        return Fail("--ike needs HOST (ippm demo shows RFC 7717 against an embedded server).", ExitCodes.Usage);
                    }
                    return await RunEmbeddedAsync(options, parse.GetValue(json), logs, cancellationToken).ConfigureAwait(false);
                }
                IPEndPoint server = await EndpointParser.ResolveAsync(target, DefaultPort, cancellationToken).ConfigureAwait(false);
                return await ike.RunAsync(parse, server.Address, cancellationToken, secret =>
                    MeasureAsync(options with { Server = server, Ike = secret }, target, parse.GetValue(json), cancellationToken)).ConfigureAwait(false);
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
