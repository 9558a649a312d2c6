using System.Net;
using Ippm.Sessions.Stamp;
using Ippm.Sessions.Twamp;
using Ippm.Wire;
using Microsoft.Extensions.Logging;

namespace Ippm.Cli;

/// <summary><c>ippm twping --light</c>: TWAMP-Test packets to a reflector set up by other means (RFC 5357 Appendix I).</summary>
internal static class TwampLightCommand
{
    public static async Task<int> RunAsync(string? target, ClientOptionSet.Values values, SendSchedule schedule, int? paddingLength, ILoggerFactory logs, CancellationToken cancellationToken)
    {
        if (values.Secret is not null || values.ViaIke || values.AcceptableModes != (uint)SecurityMode.Open)
        {
            return TwpingCommand.Fail("--light runs in open mode only (ippm has no out-of-band TWAMP-Light keys; use ippm stamp -A A for authenticated measurements without TWAMP-Control).", ExitCodes.Usage);
        }
        int padding = paddingLength ?? StampMeasurement.TwampLightDefaultPadding;
        if (target is null)
        {
            using var reflector = new StampReflector(new StampReflectorOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0) }, logs.CreateLogger("Ippm.Stamp"));
            reflector.Start();
            if (!values.Json)
            {
                Console.Error.WriteLine($"ippm: no host given; measuring against an embedded TWAMP-Light reflector on {reflector.LocalEndPoint}");
            }
            return await MeasureAsync(reflector.LocalEndPoint, reflector.LocalEndPoint.ToString(), values, schedule, padding, cancellationToken).ConfigureAwait(false);
        }
        IPEndPoint server = await EndpointParser.ResolveAsync(target, TwpingCommand.DefaultPort, cancellationToken).ConfigureAwait(false);
        return await MeasureAsync(server, target, values, schedule, padding, cancellationToken).ConfigureAwait(false);
    }

    private static Task<int> MeasureAsync(IPEndPoint server, string label, ClientOptionSet.Values values, SendSchedule schedule, int padding, CancellationToken cancellationToken) =>
        TwpingCommand.GuardAsync(label, cancellationToken, async () =>
        {
            TwampSessionResult result = await StampMeasurement.RunTwampLightAsync(server, values.Count, schedule, padding, values.Dscp, values.Timeout, cancellationToken).ConfigureAwait(false);
            StampReport report = StampReport.CreateTwampLight(label, result);
            Console.Out.Write(values.Json ? report.ToJson() + Environment.NewLine : report.ToHumanReadable());
            return result.Sent;
        });
}
