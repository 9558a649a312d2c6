using System.CommandLine;
using System.Net;
using System.Security.Cryptography;
using Ippm.Security;
using Ippm.Sessions.Server;
using Ippm.Sessions.Twamp;
using Ippm.Wire;
using Microsoft.Extensions.Logging;

namespace Ippm.Cli;

/// <summary>
/// <c>ippm demo</c>: the whole job in one command. Starts a server on loopback, makes a throwaway
/// passphrase, and measures with TWAMP in authenticated mode.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print one JSON object: { \"twamp\": <the object ippm twping --json prints> }." };
        var count = new Option<int>("-c", "--count") { Description = "Test packets.", DefaultValueFactory = _ => 100 };
        var command = new Command("demo", "Measure against an embedded loopback server in authenticated mode with a throwaway key.") { json, count };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using ILoggerFactory logs = Logging.Create(LogLevel.Warning);
            byte[] passphrase = RandomNumberGenerator.GetBytes(24);
            try
            {
                using KeyFile keys = KeyFile.Parse(KeyFile.FormatLine("demo", passphrase));
                await using var server = new IppmServer(new ServerOptions { TwampListen = new IPEndPoint(IPAddress.Loopback, 0), Keys = keys }, logs);
                server.Start();
                var options = new TwpingOptions
                {
                    Server = server.TwampEndPoint!,
                    AcceptableModes = (uint)SecurityMode.Authenticated,
                    Identity = "demo",
                    Secret = passphrase,
                    Count = parse.GetValue(count),
                    Schedule = new SendSchedule(0.01, Exponential: false),
                };
                TwampSessionResult result = await TwampMeasurement.RunAsync(options, cancellationToken).ConfigureAwait(false);
                TwampReport report = TwampReport.Create(server.TwampEndPoint!.ToString(), result);
                if (parse.GetValue(json))
                {
                    TwpingCommand.WriteJson(w =>
                    {
                        w.WriteStartObject();
                        w.WritePropertyName("twamp");
                        report.WriteJson(w);
                        w.WriteEndObject();
                    });
                }
                else
                {
                    Console.Out.WriteLine($"ippm demo: started a TWAMP server on {server.TwampEndPoint}, made a throwaway passphrase for identity 'demo',");
                    Console.Out.WriteLine($"and measured {result.Sent} packets in authenticated mode (PBKDF2 key, AES-CBC control stream, HMAC-SHA1 test packets).");
                    Console.Out.WriteLine();
                    Console.Out.Write(report.ToHumanReadable());
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
