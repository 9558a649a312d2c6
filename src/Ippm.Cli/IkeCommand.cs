using System.CommandLine;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Ippm.Ikev2.Crypto;
using Ippm.Ikev2.Exchanges;
using Ippm.Ikev2.Messages;
using Ippm.Ikev2.SaDatabase;
using Microsoft.Extensions.Logging;

namespace Ippm.Cli;

/// <summary>
/// <c>ippm ike initiate|respond</c>: run the IKEv2 layer alone (childless IKE SAs, RFC 6023/7296).
/// <c>--show-keys</c> prints SK_d and prf(SK_d,"IPPM"): for debugging and interop checks ONLY; key material
/// appears nowhere else.
/// </summary>
internal static class IkeCommand
{
    public const int DefaultPort = 500;

    public static Command Create()
    {
        var command = new Command("ike", "Set up childless IKEv2 SAs (RFC 7296, RFC 6023) whose SK_d keys RFC 7717 O/TWAMP sessions.")
        {
            CreateInitiate(),
            CreateRespond(),
        };
        return command;
    }

    private sealed record CommonOptions(
        Option<FileInfo?> PskFile, Option<FileInfo?> Cert, Option<FileInfo?> Key, Option<FileInfo?> Ca, Option<string?> LocalId,
        Option<string?> RemoteId, Option<string?> Proposal, Option<bool> Json, Option<bool> ShowKeys, Option<bool> RsaPss, Option<bool> Verbose)
    {
        public static CommonOptions Create() => new(
            new Option<FileInfo?>("--psk-file") { Description = "File holding the pre-shared key (auth method 2); one trailing newline is ignored." },
            new Option<FileInfo?>("--cert") { Description = "Our X.509 certificate (PEM or DER) for signature auth (RFC 7427)." },
            new Option<FileInfo?>("--key") { Description = "Private key of --cert (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC)." },
            new Option<FileInfo?>("--ca") { Description = "CA certificate(s) (PEM) that peer certificates must chain to; the system store is never used." },
            new Option<string?>("--local-id") { Description = "Our IKE identity: IP address, FQDN, user@fqdn or a DN (C=.., O=.., CN=..). Default: the certificate's subject DN, else our IP address." },
            new Option<string?>("--remote-id") { Description = "Required identity of the peer (sent as IDr by the initiator)." },
            new Option<string?>("--proposal") { Description = $"IKE proposals in strongSwan syntax, comma separated (e.g. aes256-sha256-modp2048,aes128gcm16-prfsha256-ecp256,aes256gcm16-prfsha384-x25519). Default: {IkeProposalSpec.DefaultList}" },
            new Option<bool>("--json") { Description = "Print each established SA as one JSON line: spi_i, spi_r (16 hex digits, wire order), prf, peer identity." },
            new Option<bool>("--show-keys") { Description = "DEBUG/INTEROP ONLY: also print sk_d and ippm_key = prf(SK_d,\"IPPM\") in hex. Never use in production." },
            new Option<bool>("--rsa-pss") { Description = "Sign with RSASSA-PSS instead of PKCS#1 v1.5 (RSA keys)." },
            new Option<bool>("-v", "--verbose") { Description = "Log protocol events to standard error." });

        public void AddTo(Command command)
        {
            command.Add(PskFile);
            command.Add(Cert);
            command.Add(Key);
            command.Add(Ca);
            command.Add(LocalId);
            command.Add(RemoteId);
            command.Add(Proposal);
            command.Add(Json);
            command.Add(ShowKeys);
            command.Add(RsaPss);
            command.Add(Verbose);
        }
    }

    private static Command CreateInitiate()
    {
        var host = new Argument<string>("host") { Description = "IKE responder as HOST[:PORT] (port 500 by default)." };
        var timeout = new Option<double>("--timeout") { Description = "Seconds to wait for each exchange: resends after 0.5, 1, 2, ... s, gives up when this much time has passed.", DefaultValueFactory = _ => 16 };
        var count = new Option<int>("--count") { Description = "Set up N SAs one after another in this process (each printed, then deleted) and report the setup time median/p90.", DefaultValueFactory = _ => 1 };
        var common = CommonOptions.Create();
        var command = new Command("initiate", "Establish one childless IKE SA with a responder, print it, then delete it.") { host, timeout, count };
        common.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            using ILoggerFactory logs = Logging.Create(parse.GetValue(common.Verbose) ? LogLevel.Debug : LogLevel.Warning);
            if (Load(parse, common, out IkeCredentials? credentials, out IReadOnlyList<IkeProposalSpec>? proposals, out IdPayload? localId, out IdPayload? remoteId) is string error)
            {
                return TwpingCommand.Fail(error, ExitCodes.Usage);
            }
            using (credentials)
            {
                string target = parse.GetValue(host)!;
                IPEndPoint remote;
                try
                {
                    remote = await EndpointParser.ResolveAsync(target, DefaultPort, cancellationToken).ConfigureAwait(false);
                }
                catch (FormatException e)
                {
                    return TwpingCommand.Fail(e.Message, ExitCodes.Usage);
                }
                double seconds = parse.GetValue(timeout);
                if (!(seconds is > 0 and <= 3600))
                {
                    return TwpingCommand.Fail("--timeout must be between 0 and 3600 seconds.", ExitCodes.Usage);
                }
                var options = new IkeInitiatorOptions
                {
                    Credentials = credentials!,
                    Proposals = proposals!,
                    LocalId = localId,
                    RemoteId = remoteId,
                    Retransmit = RetransmitPolicy.WithinBudget(TimeSpan.FromSeconds(seconds)),
                };
                int n = parse.GetValue(count);
                if (n is < 1 or > 100_000)
                {
                    return TwpingCommand.Fail("--count must be between 1 and 100000.", ExitCodes.Usage);
                }
                bool json = parse.GetValue(common.Json);
                bool showKeys = parse.GetValue(common.ShowKeys);
                ILogger logger = logs.CreateLogger("ippm.ike");
                var setupMs = new List<double>(n);
                try
                {
                    for (int i = 0; i < n; i++)
                    {
                        long started = System.Diagnostics.Stopwatch.GetTimestamp();
                        await using IkeInitiatorSession session = await IkeInitiator.ConnectAsync(remote, options, null, logger, cancellationToken).ConfigureAwait(false);
                        double ms = System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                        setupMs.Add(ms);
                        Print(session.Entry, json, showKeys, ms);
                        try
                        {
                            using var deleteTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                            deleteTimeout.CancelAfter(TimeSpan.FromSeconds(3));
                            await session.DeleteAsync(deleteTimeout.Token).ConfigureAwait(false);
                        }
                        catch (Exception e) when (e is IkeTimeoutException or OperationCanceledException)
                        {
                            Console.Error.WriteLine("ippm: the responder did not acknowledge the Delete.");
                        }
                    }
                    if (n > 1)
                    {
                        PrintSummary(setupMs, json);
                    }
                    return ExitCodes.Success;
                }
                catch (IkePeerIdentityMismatchException e)
                {
                    return TwpingCommand.Fail($"wrong peer: the responder authenticated as '{e.Actual}', but --remote-id '{e.Expected}' was expected.", ExitCodes.IdentityMismatch);
                }
                catch (IkeRefusedException e)
                {
                    return TwpingCommand.Fail($"IKE SA refused ({NotifyName(e.Notify)}): {e.Message}", ExitCodes.Refused);
                }
                catch (IkeTimeoutException e)
                {
                    return TwpingCommand.Fail(e.Message, ExitCodes.Unreachable);
                }
                catch (System.Net.Sockets.SocketException e)
                {
                    return TwpingCommand.Fail($"cannot reach {target}: {e.Message}", ExitCodes.Unreachable);
                }
                catch (OperationCanceledException)
                {
                    return TwpingCommand.Fail("interrupted.", ExitCodes.Cancelled);
                }
            }
        });
        return command;
    }

    private static Command CreateRespond()
    {
        var listen = new Option<string>("--listen") { Description = "ADDR:PORT to answer IKE on (e.g. 127.0.0.1:15500).", Required = true };
        var common = CommonOptions.Create();
        var command = new Command("respond", "Answer IKE_SA_INIT/IKE_AUTH until Ctrl+C, printing each established SA.") { listen };
        common.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            using ILoggerFactory logs = Logging.Create(parse.GetValue(common.Verbose) ? LogLevel.Debug : LogLevel.Information);
            if (!EndpointParser.TryParseListen(parse.GetValue(listen)!, DefaultPort, out IPEndPoint? endPoint))
            {
                return TwpingCommand.Fail($"--listen '{parse.GetValue(listen)}': expected ADDR:PORT.", ExitCodes.Usage);
            }
            if (Load(parse, common, out IkeCredentials? credentials, out IReadOnlyList<IkeProposalSpec>? proposals, out IdPayload? localId, out IdPayload? remoteId) is string error)
            {
                return TwpingCommand.Fail(error, ExitCodes.Usage);
            }
            using (credentials)
            {
                using var database = new IkeSaDatabase();
                bool json = parse.GetValue(common.Json);
                bool showKeys = parse.GetValue(common.ShowKeys);
                IkeResponder responder;
                try
                {
                    responder = new IkeResponder(new IkeResponderOptions
                    {
                        Listen = endPoint!,
                        Credentials = credentials!,
                        Proposals = proposals!,
                        LocalId = localId,
                        RemoteId = remoteId,
                    }, database, logs.CreateLogger("ippm.ike"));
                }
                catch (System.Net.Sockets.SocketException e)
                {
                    return TwpingCommand.Fail($"cannot listen on {endPoint}: {e.Message}", ExitCodes.Unreachable);
                }
                await using (responder)
                {
                    var gate = new object();
                    responder.Established += entry =>
                    {
                        lock (gate)
                        {
                            Print(entry, json, showKeys);
                        }
                    };
                    responder.Start();
                    Console.Error.WriteLine($"ippm: IKE responder listening on {responder.LocalEndPoint}");
                    try
                    {
                        await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                    }
                }
                return ExitCodes.Success;
            }
        });
        return command;
    }

    private static string NotifyName(NotifyType type) => type switch
    {
        NotifyType.AuthenticationFailed => "AUTHENTICATION_FAILED",
        NotifyType.NoProposalChosen => "NO_PROPOSAL_CHOSEN",
        NotifyType.InvalidKePayload => "INVALID_KE_PAYLOAD",
        NotifyType.InvalidSyntax => "INVALID_SYNTAX",
        NotifyType.UnsupportedCriticalPayload => "UNSUPPORTED_CRITICAL_PAYLOAD",
        _ => type.ToString(),
    };

    /// <summary>Setup time (first IKE_SA_INIT sent until IKE_AUTH verified) over the SAs of one --count run.</summary>
    private static void PrintSummary(List<double> setupMs, bool json)
    {
        double[] sorted = [.. setupMs.Order()];
        double Quantile(double q) => sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
        double median = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
        string F(double v) => v.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture);
        if (json)
        {
            Console.Out.WriteLine($"{{\"count\":{sorted.Length},\"setup_ms_median\":{F(median)},\"setup_ms_p90\":{F(Quantile(0.9))},\"setup_ms_min\":{F(sorted[0])},\"setup_ms_max\":{F(sorted[^1])}}}");
        }
        else
        {
            Console.Out.WriteLine($"{sorted.Length} IKE SAs set up one after another: median {F(median)} ms, p90 {F(Quantile(0.9))} ms, min {F(sorted[0])} ms, max {F(sorted[^1])} ms");
        }
    }

    private static void Print(IkeSaEntry entry, bool json, bool showKeys, double? setupMs = null)
    {
        string spiI = IkeHeader.FormatSpi(entry.SpiI);
        string spiR = IkeHeader.FormatSpi(entry.SpiR);
        string? skD = showKeys ? Convert.ToHexStringLower(entry.SkD) : null;
        string? ippm = null;
        if (showKeys)
        {
            byte[] s = entry.DeriveIppmSecret();
            ippm = Convert.ToHexStringLower(s);
            CryptographicOperations.ZeroMemory(s);
        }
        if (json)
        {
            using var buffer = new MemoryStream();
            using (var w = new Utf8JsonWriter(buffer))
            {
                w.WriteStartObject();
                w.WriteString("spi_i", spiI);
                w.WriteString("spi_r", spiR);
                w.WriteString("prf", Prf.Name(entry.Prf));
                w.WriteString("proposal", entry.Suite.ToString());
                w.WriteString("role", entry.Role == IkeSaRole.Initiator ? "initiator" : "responder");
                w.WriteString("peer", entry.Peer.ToString());
                w.WriteString("peer_id", entry.PeerIdentity);
                if (setupMs is double ms)
                {
                    w.WriteNumber("setup_ms", Math.Round(ms, 2));
                }
                if (showKeys)
                {
                    w.WriteString("sk_d", skD);
                    w.WriteString("ippm_key", ippm);
                }
                w.WriteEndObject();
            }
            Console.Out.WriteLine(Encoding.UTF8.GetString(buffer.ToArray()));
        }
        else
        {
            string took = setupMs is double ms ? $" in {ms.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture)} ms" : "";
            Console.Out.WriteLine($"IKE SA {spiI}_i {spiR}_r established with {entry.Peer} ({entry.PeerIdentity}), {entry.Suite}, {Prf.Name(entry.Prf)}{took}");
            if (showKeys)
            {
                Console.Out.WriteLine($"  sk_d     {skD}   (debug/interop only)");
                Console.Out.WriteLine($"  ippm_key {ippm}");
            }
        }
        Console.Out.Flush();
    }

    private static string? Load(
        ParseResult parse, CommonOptions common, out IkeCredentials? credentials, out IReadOnlyList<IkeProposalSpec>? proposals, out IdPayload? localId, out IdPayload? remoteId)
    {
        credentials = null;
        proposals = null;
        localId = null;
        remoteId = null;
        FileInfo? psk = parse.GetValue(common.PskFile);
        FileInfo? cert = parse.GetValue(common.Cert);
        FileInfo? key = parse.GetValue(common.Key);
        FileInfo? ca = parse.GetValue(common.Ca);
        try
        {
            proposals = parse.GetValue(common.Proposal) is string p ? IkeProposalSpec.ParseList(p) : IkeProposalSpec.Default;
            localId = parse.GetValue(common.LocalId) is string l ? IkeIdentity.Parse(l) : null;
            remoteId = parse.GetValue(common.RemoteId) is string r ? IkeIdentity.Parse(r) : null;
        }
        catch (Exception e) when (e is FormatException or CryptographicException)
        {
            return e.Message;
        }
        return IkeCredentialFiles.TryLoad(psk, cert, key, ca, parse.GetValue(common.RsaPss), out credentials);
    }
}
