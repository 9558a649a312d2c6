using System.CommandLine;
using System.Net;
using Ippm.Agent;
using Ippm.Policy;
using Ippm.Service;
using Microsoft.Extensions.Logging;

namespace Ippm.Cli;

/// <summary><c>ippm agent --config FILE</c>: continuous measurement (the powstream / pScheduler role). Parses and prints only; the work is Ippm.Agent's.</summary>
internal static class AgentCommand
{
    public static Command Create()
    {
        var config = new Option<FileInfo>("--config") { Description = "The agent's configuration: global keys (archive, rotation, retry) and one [test NAME] section per test.", Required = true };
        var metricsListen = new Option<string?>("--metrics-listen") { Description = "Serve the per-test series in Prometheus format at http://ADDR:PORT/metrics (wins over metrics-listen in the file)." };
        var otlpEndpoint = new Option<string?>("--otlp-endpoint") { Description = "Also push the series to this OpenTelemetry collector (OTLP), e.g. http://collector:4318." };
        var otlpProtocol = new Option<string>("--otlp-protocol") { Description = "OTLP transport: http/protobuf or grpc.", DefaultValueFactory = _ => OtlpSettings.DefaultProtocol };
        otlpProtocol.AcceptOnlyFromAmong("http/protobuf", "grpc");
        var otlpInterval = new Option<double>("--otlp-interval") { Description = "Seconds between OTLP pushes.", DefaultValueFactory = _ => OtlpSettings.DefaultIntervalSeconds };
        var logLevel = new Option<LogLevel>("--log-level") { Description = "Trace, Debug, Information, Warning, Error.", DefaultValueFactory = _ => LogLevel.Information };
        var logFormat = new Option<string>("--log-format") { Description = "auto, simple, json, or systemd.", DefaultValueFactory = _ => "auto" };
        logFormat.AcceptOnlyFromAmong("auto", "simple", "json", "systemd");
        var command = new Command("agent", "Measure a list of tests continuously: a JSON Lines archive, Prometheus/OTLP series, SIGHUP reload.")
        {
            config, metricsListen, otlpEndpoint, otlpProtocol, otlpInterval, logLevel, logFormat,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using ILoggerFactory logs = ServiceLogging.Create(parse.GetValue(logLevel), parse.GetValue(logFormat)!);
            ILogger log = logs.CreateLogger("Ippm.Agent");
            string path = parse.GetValue(config)!.FullName;
            AgentConfig loaded;
            try
            {
                loaded = AgentConfigFile.Load(path);
            }
            catch (Exception e) when (e is PolicyFormatException or IOException or UnauthorizedAccessException)
            {
                return TwpingCommand.Fail(e.Message, ExitCodes.Usage);
            }
            IPEndPoint? metricsEndPoint = null;
            if ((parse.GetValue(metricsListen) ?? loaded.MetricsListen) is string metricsText && !EndpointParser.TryParseListen(metricsText, 9464, out metricsEndPoint))
            {
                return TwpingCommand.Fail($"--metrics-listen '{metricsText}' is not ADDR:PORT.", ExitCodes.Usage);
            }
            OtlpSettings? otlp = null;
            if (parse.GetValue(otlpEndpoint) is string otlpText && OtlpSettings.TryParse(otlpText, parse.GetValue(otlpProtocol)!, parse.GetValue(otlpInterval), out otlp) is string otlpError)
            {
                return TwpingCommand.Fail(otlpError, ExitCodes.Usage);
            }
            using MetricsEndpoint? metrics = metricsEndPoint is null ? null : MetricsEndpoint.Start(metricsEndPoint, AgentMetrics.MeterName, "System.Runtime");
            if (metrics is not null)
            {
                log.LogInformation("metrics at {Url}", metrics.Url);
            }
            using OtlpExport? otlpExport = otlp is null ? null : OtlpExport.Start(otlp, AgentMetrics.MeterName);
            if (otlpExport is not null)
            {
                log.LogInformation("metrics pushed over OTLP to {Url} every {Seconds} s", otlpExport.Url.GetComponents(UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.UriEscaped), otlp!.Interval.TotalSeconds);
            }
            await using var agent = new MeasurementAgent(loaded, logs);
            var service = new AgentService(agent, path, log);
            await service.RunAsync(cancellationToken).ConfigureAwait(false);
            return ExitCodes.Success;
        });
        return command;
    }
}
