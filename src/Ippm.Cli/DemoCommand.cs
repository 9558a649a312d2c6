using System.CommandLine;
using System.Net;
using System.Security.Cryptography;
using Ippm.Ikev2.Crypto;
using Ippm.Ikev2.Exchanges;
using Ippm.Ikev2.Identity;
using Ippm.Ikev2.SaDatabase;
using Ippm.Security;
using Ippm.Sessions.Owamp;
using Ippm.Sessions.Server;
using Ippm.Sessions.Twamp;
using Ippm.Wire;
using Ippm.Wire.Control;
using Microsoft.Extensions.Logging;

namespace Ippm.Cli;

/// <summary>
/// <c>ippm demo</c>: the whole mission in one command. Starts a TWAMP and OWAMP server with an IKEv2 responder
/// on loopback, makes a throwaway CA and two certificates, sets up a certificate-authenticated IKE SA and
/// measures with both protocols in authenticated mode keyed from that SA (RFC 7717).
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print one JSON object: { \"key_source\": \"ikev2\", \"twamp\": <as ippm twping --json>, \"owamp\": <as ippm owping --json> }." };
        var count = new Option<int>("-c", "--count") { Description = "Test packets per measurement (and per OWAMP direction).", DefaultValueFactory = _ => 100 };
        var command = new Command("demo", "Set up a certificate-authenticated IKEv2 SA with an embedded loopback server and measure TWAMP and OWAMP keyed from it (RFC 7717).") { json, count };
        command.SetAction(async (parse, cancellationToken) =>
        {
            int packets = parse.GetValue(count);
            if (packets is < 1 or > 100_000)
            {
                return TwpingCommand.Fail("-c must be between 1 and 100000.", ExitCodes.Usage);
            }
            using ILoggerFactory logs = Logging.Create(LogLevel.Warning);
            using ThrowawayPki pki = ThrowawayPki.Create();
            using var database = new IkeSaDatabase();
            await using var responder = new IkeResponder(
                new IkeResponderOptions
                {
                    Listen = new IPEndPoint(IPAddress.Loopback, 0),
                    Credentials = new IkeCredentials { Certificate = pki.Server, TrustedCas = [pki.Ca] },
                    AllowedPeers = new IkePeerPolicy([IkeIdentityPattern.Parse(ThrowawayPki.ClientName)]),
                },
                database,
                logs.CreateLogger("Ippm.Ike"));
            responder.Start();
            await using var server = new IppmServer(
                new ServerOptions
                {
                    TwampListen = new IPEndPoint(IPAddress.Loopback, 0),
                    OwampListen = new IPEndPoint(IPAddress.Loopback, 0),
                    IkeSecrets = IkeSecretSource.FromDatabase(database, Rfc7717KeyDerivation.Pbkdf2),
                },
                logs);
            server.Start();
            TwampReport? twamp = null;
            OwampReport? owamp = null;
            IkeSaEntry? sa = null;
            int exit;
            try
            {
                await using ClientIkeSa ike = await ClientIkeSa.EstablishAsync(
                    responder.LocalEndPoint,
                    new IkeInitiatorOptions
                    {
                        Credentials = new IkeCredentials { Certificate = pki.Client, TrustedCas = [pki.Ca] },
                        ExpectedPeer = IkeIdentityPattern.Parse(ThrowawayPki.ServerName),
                    },
                    Rfc7717KeyDerivation.Pbkdf2,
                    cancellationToken).ConfigureAwait(false);
                sa = ike.Entry;
                exit = await TwpingCommand.GuardAsync("the embedded server", cancellationToken, async () =>
                {
                    TwampSessionResult twampResult = await TwampMeasurement.RunAsync(
                        new TwpingOptions
                        {
                            Server = server.TwampEndPoint!,
                            AcceptableModes = (uint)SecurityMode.Authenticated,
                            Ike = ike.Secret,
                            Count = packets,
                            Schedule = new SendSchedule(0.005, Exponential: false),
                            Timeout = TimeSpan.FromSeconds(1),
                        },
                        cancellationToken).ConfigureAwait(false);
                    twamp = TwampReport.Create(server.TwampEndPoint!.ToString(), twampResult);
                    OwampResult owampResult = await OwampMeasurement.RunAsync(
                        new OwpingOptions
                        {
                            Server = server.OwampEndPoint!,
                            AcceptableModes = (uint)SecurityMode.Authenticated,
                            Ike = ike.Secret,
                            Count = packets,
                            Schedule = [new ScheduleSlot(ScheduleSlotType.Exponential, NtpTimestamp.FromSeconds(0.005))],
                            Timeout = TimeSpan.FromSeconds(1),
                            StartDelay = TimeSpan.FromSeconds(0.6),
                        },
                        cancellationToken).ConfigureAwait(false);
                    owamp = OwampReport.Create(server.OwampEndPoint!.ToString(), owampResult);
                }).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IkeRefusedException or IkeTimeoutException)
            {
                return TwpingCommand.Fail($"IKEv2 with the embedded responder failed: {e.Message}", ExitCodes.Refused);
            }
            if (exit != ExitCodes.Success)
            {
                return exit;
            }
            if (parse.GetValue(json))
            {
                TwpingCommand.WriteJson(w =>
                {
                    w.WriteStartObject();
                    w.WriteString("key_source", "ikev2");
                    w.WriteString("ike_suite", sa!.Suite.ToString());
                    w.WriteString("ike_peer", sa.PeerIdentity);
                    w.WritePropertyName("twamp");
                    twamp!.WriteJson(w);
                    w.WritePropertyName("owamp");
                    owamp!.WriteJson(w);
                    w.WriteEndObject();
                });
            }
            else
            {
                Console.Out.WriteLine("ippm demo: made a throwaway CA and two certificates in memory, set up a certificate-authenticated,");
                Console.Out.WriteLine($"childless IKEv2 SA {sa!.SpiI:x16}/{sa.SpiR:x16} ({sa.Suite}) with an embedded server on loopback, and measured");
                Console.Out.WriteLine("TWAMP and OWAMP in authenticated mode keyed from prf(SK_d, \"IPPM\") of that SA (RFC 7717) - no passphrase anywhere.");
                Console.Out.WriteLine();
                Console.Out.Write(twamp!.ToHumanReadable());
                Console.Out.WriteLine();
                Console.Out.Write(owamp!.ToHumanReadable());
            }
            return ExitCodes.Success;
        });
        return command;
    }
}
