using System.CommandLine;
using System.Net;
using System.Security.Cryptography;
using Ippm.Security;
using Ippm.Sessions.Owamp;
using Ippm.Sessions.Server;
using Ippm.Sessions.Twamp;
using Ippm.Wire;
using Ippm.Wire.Control;
using Microsoft.Extensions.Logging;

namespace Ippm.Cli;

/// <summary>
/// <c>ippm demo</c>: the whole job in one command. Starts a TWAMP and OWAMP server on loopback, makes a
/// throwaway passphrase, and measures with both protocols in authenticated mode.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print one JSON object: { \"twamp\": <as ippm twping --json>, \"owamp\": <as ippm owping --json> }." };
        var count = new Option<int>("-c", "--count") { Description = "Test packets per measurement (and per OWAMP direction).", DefaultValueFactory = _ => 100 };
        var command = new Command("demo", "Measure TWAMP and OWAMP against an embedded loopback server in authenticated mode with a throwaway key.") { json, count };
        command.SetAction(async (parse, cancellationToken) =>
        {
            int packets = parse.GetValue(count);
            if (packets is < 1 or > 100_000)
            {
                return TwpingCommand.Fail("-c must be between 1 and 100000.", ExitCodes.Usage);
            }
            using ILoggerFactory logs = Logging.Create(LogLevel.Warning);
            byte[] passphrase = RandomNumberGenerator.GetBytes(24);
            try
            {
                using KeyFile keys = KeyFile.Parse(KeyFile.FormatLine("demo", passphrase));
                await using var server = new IppmServer(
                    new ServerOptions
                    {
                        TwampListen = new IPEndPoint(IPAddress.Loopback, 0),
                        OwampListen = new IPEndPoint(IPAddress.Loopback, 0),
                        Keys = keys,
                    },
                    logs);
                server.Start();
                TwampReport? twamp = null;
                OwampReport? owamp = null;
                int exit = await TwpingCommand.GuardAsync("the embedded server", cancellationToken, async () =>
                {
                    TwampSessionResult twampResult = await TwampMeasurement.RunAsync(
                        new TwpingOptions
                        {
                            Server = server.TwampEndPoint!,
                            AcceptableModes = (uint)SecurityMode.Authenticated,
                            Identity = "demo",
                            Secret = passphrase,
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
                            Identity = "demo",
                            Secret = passphrase,
                            Count = packets,
                            Schedule = [new ScheduleSlot(ScheduleSlotType.Exponential, NtpTimestamp.FromSeconds(0.005))],
                            Timeout = TimeSpan.FromSeconds(1),
                            StartDelay = TimeSpan.FromSeconds(0.2),
                        },
                        cancellationToken).ConfigureAwait(false);
                    owamp = OwampReport.Create(server.OwampEndPoint!.ToString(), owampResult);
                }).ConfigureAwait(false);
                if (exit != ExitCodes.Success)
                {
                    return exit;
                }
                if (parse.GetValue(json))
                {
                    TwpingCommand.WriteJson(w =>
                    {
                        w.WriteStartObject();
                        w.WriteString("key_source", "passphrase");
                        w.WritePropertyName("twamp");
                        twamp!.WriteJson(w);
                        w.WritePropertyName("owamp");
                        owamp!.WriteJson(w);
                        w.WriteEndObject();
                    });
                }
                else
                {
                    Console.Out.WriteLine($"ippm demo: started TWAMP ({server.TwampEndPoint}) and OWAMP ({server.OwampEndPoint}) servers on loopback, made a");
                    Console.Out.WriteLine("throwaway passphrase for identity 'demo', and measured in authenticated mode: PBKDF2 key, AES-CBC");
                    Console.Out.WriteLine("control stream with HMAC-SHA1, per-session test keys from the SID.");
                    Console.Out.WriteLine();
                    Console.Out.Write(twamp!.ToHumanReadable());
                    Console.Out.WriteLine();
                    Console.Out.Write(owamp!.ToHumanReadable());
                }
                return ExitCodes.Success;
            }
            finally
            {
                CryptographicOperations.ZeroMemory(passphrase);
            }
        });
        return command;
    }
}
