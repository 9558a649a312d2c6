using System.Net;
using System.Security.Cryptography;
using Ippm.Security;
using Ippm.Security.TwampLight;
using Ippm.Sessions.Stamp;
using Ippm.Sessions.Twamp;
using Ippm.Wire;
using Microsoft.Extensions.Logging;

namespace Ippm.Cli;

/// <summary>
/// <c>ippm twping --light</c>: TWAMP-Test packets to a reflector set up by other means (RFC 5357 Appendix I), in open
/// mode or, with <c>-A A|E -k FILE</c>, authenticated or encrypted with keys derived from the key file's line
/// (<see cref="TwampLightKeys"/>; the reflector's key file names this sender <c>light-A@ADDR</c> or <c>light-E@ADDR</c>).
/// </summary>
internal static class TwampLightCommand
{
    public static async Task<int> RunAsync(string? target, ClientOptionSet.Values values, SendSchedule schedule, int? paddingLength, ILoggerFactory logs, CancellationToken cancellationToken)
    {
        if (values.ViaIke)
        {
            return TwpingCommand.Fail("--light takes its key from -k (ippm has no IKEv2-derived TWAMP-Light keys).", ExitCodes.Usage);
        }
        SecurityMode mode = (SecurityMode)values.AcceptableModes;
        if (mode is not (SecurityMode.Open or SecurityMode.Authenticated or SecurityMode.Encrypted))
        {
            return TwpingCommand.Fail("--light has no mode negotiation: give exactly one of -A O, -A A or -A E (A and E need -k KEYFILE; the reflector must configure the same mode).", ExitCodes.Usage);
        }
        bool protectedMode = mode.ProtectsTestPackets();
        int padding = paddingLength ?? (protectedMode ? StampMeasurement.TwampLightProtectedDefaultPadding : StampMeasurement.TwampLightDefaultPadding);
        // Without HOST the embedded reflector and this sender share a throwaway key.
        byte[]? throwaway = protectedMode && values.Secret is null ? RandomNumberGenerator.GetBytes(32) : null;
        try
        {
            using TwampLightKeys? keys = protectedMode ? new TwampLightKeys(mode, values.Secret ?? throwaway) : null;
            if (target is null)
            {
                using KeyFile keyFile = KeyFile.Parse(protectedMode ? KeyFile.FormatLine($"light-{(mode == SecurityMode.Authenticated ? 'A' : 'E')}@*", values.Secret ?? throwaway) : "");
                using var store = new StampKeyStore(keyFile);
                using var reflector = new StampReflector(
                    new StampReflectorOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), Keys = protectedMode ? store : null },
                    logs.CreateLogger("Ippm.Stamp"));
                reflector.Start();
                if (!values.Json)
                {
                    Console.Error.WriteLine($"ippm: no host given; measuring against an embedded TWAMP-Light reflector on {reflector.LocalEndPoint}");
                }
                return await MeasureAsync(reflector.LocalEndPoint, reflector.LocalEndPoint.ToString(), keys, values, schedule, padding, cancellationToken).ConfigureAwait(false);
            }
            IPEndPoint server = await EndpointParser.ResolveAsync(target, TwpingCommand.DefaultPort, cancellationToken).ConfigureAwait(false);
            return await MeasureAsync(server, target, keys, values, schedule, padding, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (throwaway is not null)
            {
                CryptographicOperations.ZeroMemory(throwaway);
            }
        }
    }

    private static Task<int> MeasureAsync(IPEndPoint server, string label, TwampLightKeys? keys, ClientOptionSet.Values values, SendSchedule schedule, int padding, CancellationToken cancellationToken) =>
        TwpingCommand.GuardAsync(label, cancellationToken, async () =>
        {
            TwampSessionResult result = await StampMeasurement.RunTwampLightAsync(server, keys, values.Count, schedule, padding, values.Dscp, values.Timeout, cancellationToken).ConfigureAwait(false);
            StampReport report = StampReport.CreateTwampLight(label, result);
            Console.Out.Write(values.Json ? report.ToJson() + Environment.NewLine : report.ToHumanReadable());
            return result.Sent;
        });
}
