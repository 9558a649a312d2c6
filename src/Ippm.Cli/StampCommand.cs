using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Ippm.Security;
using Ippm.Sessions.Stamp;
using Ippm.Sessions.Twamp;
using Ippm.Wire.Stamp;
using Microsoft.Extensions.Logging;

namespace Ippm.Cli;

/// <summary><c>ippm stamp</c>: a STAMP Session-Sender (RFC 8762, RFC 8972) with twping's flags and report.</summary>
internal static class StampCommand
{
    public static Command Create()
    {
        var host = new Argument<string?>("host")
        {
            Description = "STAMP Session-Reflector as HOST[:PORT] (UDP port 862 by default). Without it, ippm measures against an embedded reflector on loopback.",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var modes = new Option<string?>("-A", "--modes") { Description = "O (unauthenticated) or A (authenticated: HMAC-SHA-256 with the key from -k). Default: A with -k, O otherwise." };
        var identity = new Option<string?>("-u", "--identity") { Description = "Which line of the key file to use (default: its only line)." };
        var keyFile = new Option<FileInfo?>("-k", "--key-file") { Description = "Key file: identity, whitespace, hex of the HMAC key (perfSONAR .pfs format)." };
        var count = new Option<int>("-c", "--count") { Description = "Number of test packets.", DefaultValueFactory = _ => 100 };
        var interval = new Option<string>("-i", "--interval") { Description = "Mean seconds between packets; suffix f for fixed, e for exponential (default).", DefaultValueFactory = _ => "0.1e" };
        var padding = new Option<int?>("-s", "--padding") { Description = "Extra Padding TLV of this many octets (RFC 8972 §4.1); replies are the same size." };
        var dscp = new Option<byte>("-D", "--dscp") { Description = "DSCP for test packets (0-63); also asked of the reflector for its replies with a Class of Service TLV." };
        var timeout = new Option<double>("-L", "--timeout") { Description = "Seconds after which a packet not yet answered is lost.", DefaultValueFactory = _ => 2.0 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object on standard output instead of the report." };
        var ssid = new Option<ushort>("--ssid") { Description = "STAMP Session-Sender Identifier (RFC 8972 §3); 0 for none. Default: random." };
        var cos = new Option<bool>("--cos") { Description = "Class of Service TLV: DSCP/ECN as received in both directions (RFC 8972 §4.4). Implied by -D." };
        var timestampInfo = new Option<bool>("--timestamp-info") { Description = "Timestamp Information TLV (RFC 8972 §4.3)." };
        var direct = new Option<bool>("--direct-measurement") { Description = "Direct Measurement TLV: packet counters of both ends (RFC 8972 §4.5)." };
        var followUp = new Option<bool>("--follow-up") { Description = "Follow-Up Telemetry TLV (RFC 8972 §4.7)." };
        var location = new Option<bool>("--location") { Description = "Location TLV: addresses and ports as the reflector saw them (RFC 8972 §4.2)." };
        var access = new Option<string?>("--access-report") { Description = "Access Report TLV ID:CODE, e.g. 1:1 (RFC 8972 §4.6)." };
        var hmacTlv = new Option<bool>("--hmac-tlv") { Description = "HMAC TLV in unauthenticated mode too (needs -k; always sent with TLVs in authenticated mode)." };
        var ptp = new Option<bool>("--ptp") { Description = "Send timestamps in PTPv2 truncated format (Z bit, RFC 8762 §4.2.1); the embedded reflector then uses it too. Default: NTP format." };
        var stateless = new Option<bool>("--stateless") { Description = "Embedded reflector only: stateless (copies the sender's sequence numbers)." };
        var verbose = new Option<bool>("-v", "--verbose") { Description = "Log events to standard error." };

        var command = new Command("stamp", "Measure two-way delay, loss, duplicates and reordering to a STAMP Session-Reflector (RFC 8762, RFC 8972).")
        {
            host, modes, identity, keyFile, count, interval, padding, dscp, timeout, json, ssid, cos, timestampInfo, direct, followUp, location, access, hmacTlv, ptp, stateless, verbose,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (!SendSchedule.TryParse(parse.GetValue(interval)!, out SendSchedule? schedule))
            {
                return TwpingCommand.Fail($"-i '{parse.GetValue(interval)}': expected seconds with an optional f or e suffix.", ExitCodes.Usage);
            }
            int packets = parse.GetValue(count);
            if (packets is < 1 or > 100_000_000)
            {
                return TwpingCommand.Fail("-c must be between 1 and 100000000.", ExitCodes.Usage);
            }
            if (parse.GetValue(padding) is < 0 or > 9000)
            {
                return TwpingCommand.Fail("-s must be between 0 and 9000.", ExitCodes.Usage);
            }
            if (parse.GetValue(dscp) > 63)
            {
                return TwpingCommand.Fail("-D must be between 0 and 63.", ExitCodes.Usage);
            }
            double seconds = parse.GetValue(timeout);
            if (!(seconds > 0 && seconds < 3600))
            {
                return TwpingCommand.Fail("-L must be between 0 and 3600 seconds.", ExitCodes.Usage);
            }
            (byte, byte)? accessReport = null;
            if (parse.GetValue(access) is string accessText)
            {
                string[] parts = accessText.Split(':');
                if (parts.Length != 2 || !byte.TryParse(parts[0], CultureInfo.InvariantCulture, out byte id) || id is < 1 or > 15
                    || !byte.TryParse(parts[1], CultureInfo.InvariantCulture, out byte code))
                {
                    return TwpingCommand.Fail("--access-report: expected ID:CODE, ID 1 (3GPP) or 2 (non-3GPP), CODE 0-255.", ExitCodes.Usage);
                }
                accessReport = (id, code);
            }
            string letters = (parse.GetValue(modes) ?? (parse.GetValue(keyFile) is null ? "O" : "A")).ToUpperInvariant();
            if (letters is not ("O" or "A"))
            {
                return TwpingCommand.Fail($"-A '{letters}': use O (unauthenticated) or A (authenticated).", ExitCodes.Usage);
            }
            bool authenticated = letters == "A";
            if (ClientCredentials.TryLoad(parse.GetValue(keyFile)?.FullName, parse.GetValue(identity), out _, out byte[]? key) is string keyError)
            {
                return TwpingCommand.Fail(keyError, ExitCodes.Usage);
            }
            string? target = parse.GetValue(host);
            bool embedded = target is null;
            try
            {
                if (authenticated && key is null)
                {
                    if (!embedded)
                    {
                        return TwpingCommand.Fail("-A A needs the key: -k FILE.", ExitCodes.Usage);
                    }
                    key = RandomNumberGenerator.GetBytes(32);
                }
                if (parse.GetValue(hmacTlv) && key is null)
                {
                    return TwpingCommand.Fail("--hmac-tlv needs the key: -k FILE.", ExitCodes.Usage);
                }
                byte dscpValue = parse.GetValue(dscp);
                ushort ssidValue = parse.GetResult(ssid) is null ? (ushort)RandomNumberGenerator.GetInt32(1, 65536) : parse.GetValue(ssid);
                var options = new StampSenderOptions
                {
                    Count = packets,
                    Schedule = schedule!,
                    Timeout = TimeSpan.FromSeconds(seconds),
                    Ssid = ssidValue,
                    Key = authenticated ? key : null,
                    ExtraPadding = parse.GetValue(padding),
                    Dscp = dscpValue,
                    ClassOfService = parse.GetValue(cos) || dscpValue != 0,
                    TimestampInformation = parse.GetValue(timestampInfo),
                    DirectMeasurement = parse.GetValue(direct),
                    FollowUpTelemetry = parse.GetValue(followUp),
                    Location = parse.GetValue(location),
                    AccessReport = accessReport,
                    HmacTlv = parse.GetValue(hmacTlv),
                    PtpTimestamps = parse.GetValue(ptp),
                };
                if (options.HmacTlv && !authenticated)
                {
                    // RFC 8972 §4.8: the HMAC TLV in unauthenticated mode, keyed like the authenticated mode.
                    options = options with { Key = null };
                }
                using ILoggerFactory logs = Logging.Create(parse.GetValue(verbose) ? LogLevel.Information : LogLevel.Warning);
                bool asJson = parse.GetValue(json);
                if (embedded)
                {
                    using KeyFile keys = KeyFile.Parse(key is null ? "" : KeyFile.FormatLine("*", key));
                    using var store = new StampKeyStore(keys);
                    using var reflector = new StampReflector(
                        new StampReflectorOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), Keys = authenticated ? store : null, Stateful = !parse.GetValue(stateless), PtpTimestamps = options.PtpTimestamps },
                        logs.CreateLogger("Ippm.Stamp"));
                    reflector.Start();
                    if (!asJson)
                    {
                        Console.Error.WriteLine($"ippm: no host given; measuring against an embedded STAMP reflector on {reflector.LocalEndPoint}");
                    }
                    return await MeasureAsync(reflector.LocalEndPoint, reflector.LocalEndPoint.ToString(), options, key, asJson, cancellationToken).ConfigureAwait(false);
                }
                IPEndPoint server = await EndpointParser.ResolveAsync(target!, StampLayout.DefaultPort, cancellationToken).ConfigureAwait(false);
                return await MeasureAsync(server, target!, options, key, asJson, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                return TwpingCommand.Fail($"cannot resolve {target}: {e.Message}", ExitCodes.Unreachable);
            }
            catch (FormatException e)
            {
                return TwpingCommand.Fail(e.Message, ExitCodes.Usage);
            }
            finally
            {
                if (key is not null)
                {
                    CryptographicOperations.ZeroMemory(key);
                }
            }
        });
        return command;
    }

    /// <summary>Unauthenticated HMAC TLV: the sender needs the key for the TLV only, so it is passed apart from the mode.</summary>
    private static Task<int> MeasureAsync(IPEndPoint server, string label, StampSenderOptions options, byte[]? key, bool json, CancellationToken cancellationToken) =>
        TwpingCommand.GuardAsync(label, cancellationToken, async () =>
        {
            StampSessionResult result = await StampMeasurement.RunAsync(server, options with { TlvKey = options.HmacTlv ? key : null }, cancellationToken).ConfigureAwait(false);
            if (result.Session.Replies.Count == 0 && result.Session.Sent > 0 && result.Session.BadHmac + result.Session.Malformed == 0)
            {
                Console.Error.WriteLine($"ippm: no reply from {label}");
            }
            StampReport report = StampReport.Create(label, result);
            Console.Out.Write(json ? report.ToJson() + Environment.NewLine : report.ToHumanReadable());
            return result.Session.Sent;
        });
}
