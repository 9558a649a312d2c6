using System.Globalization;
using Ippm.Sessions.Telemetry;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Ippm.Service;

/// <summary>The OTLP transport (<c>--otlp-protocol</c>), with the words OTEL_EXPORTER_OTLP_PROTOCOL uses.</summary>
public enum OtlpProtocol
{
    HttpProtobuf,
    Grpc,
}

/// <summary>Where and how often the server pushes its meter over OTLP (<c>--otlp-endpoint</c>, <c>--otlp-protocol</c>, <c>--otlp-interval</c>).</summary>
public sealed record OtlpSettings(Uri Endpoint, OtlpProtocol Protocol, TimeSpan Interval)
{
    public const string DefaultProtocol = "http/protobuf";
    public const double DefaultIntervalSeconds = 60;

    /// <summary>
    /// The URL the exporter posts to. For http/protobuf a bare collector URL (<c>http://collector:4318</c>) gets the
    /// metrics path <c>/v1/metrics</c> (OTLP/HTTP's default); a URL with a path is used as given, so a collector behind
    /// a proxy path still works. gRPC URLs name the server only.
    /// </summary>
    public Uri ExportUrl => Protocol == OtlpProtocol.HttpProtobuf && Endpoint.AbsolutePath == "/" ? new Uri(Endpoint, "v1/metrics") : Endpoint;

    /// <returns>Null, or what is wrong with the flags.</returns>
    public static string? TryParse(string endpoint, string protocol, double intervalSeconds, out OtlpSettings? settings)
    {
        settings = null;
        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out Uri? uri) || uri.Scheme is not ("http" or "https") || uri.Host.Length == 0)
        {
            return $"--otlp-endpoint '{endpoint}' is not an http:// or https:// URL (e.g. http://collector:4318).";
        }
        OtlpProtocol? parsed = protocol.ToLowerInvariant() switch
        {
            "http/protobuf" => OtlpProtocol.HttpProtobuf,
            "grpc" => OtlpProtocol.Grpc,
            _ => null,
        };
        if (parsed is null)
        {
            return $"--otlp-protocol '{protocol}': use http/protobuf or grpc.";
        }
        // The SDK's periodic reader takes whole milliseconds; below 0.1 s a collector is flooded for nothing.
        if (!double.IsFinite(intervalSeconds) || intervalSeconds < 0.1 || intervalSeconds > 86_400)
        {
            return $"--otlp-interval {intervalSeconds.ToString(CultureInfo.InvariantCulture)}: give seconds between 0.1 and 86400.";
        }
        settings = new OtlpSettings(uri, parsed.Value, TimeSpan.FromSeconds(intervalSeconds));
        return null;
    }
}

/// <summary>
/// Pushes the server's meter to an OpenTelemetry collector with the SDK's OTLP exporter, every
/// <see cref="OtlpSettings.Interval"/> and once more when disposed. Cumulative temporality, as the Prometheus endpoint
/// reports, so both give the same numbers. A collector that is down costs one failed export per interval, logged by the
/// SDK's own event source, never a measurement.
/// </summary>
public sealed class OtlpExport : IDisposable
{
    private readonly MeterProvider _provider;

    private OtlpExport(MeterProvider provider, Uri url)
    {
        _provider = provider;
        Url = url;
    }

    public Uri Url { get; }

    public static OtlpExport Start(OtlpSettings settings) => Start(settings, ServerMetrics.MeterName);

    /// <summary>The same export for another meter (<c>ippm agent</c>'s <c>Ippm.Agent</c>).</summary>
    public static OtlpExport Start(OtlpSettings settings, string meterName)
    {
        Uri url = settings.ExportUrl;
        int intervalMs = (int)Math.Clamp(settings.Interval.TotalMilliseconds, 100, int.MaxValue);
        MeterProvider provider = Sdk.CreateMeterProviderBuilder()
            .ConfigureResource(r => r.AddService("ippm"))
            .AddMeter(meterName)
            .AddOtlpExporter((exporter, reader) =>
            {
                exporter.Endpoint = url;
                exporter.Protocol = settings.Protocol == OtlpProtocol.Grpc ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
                // A collector that does not answer holds up an export (and the final one at stop) for at most this.
                exporter.TimeoutMilliseconds = 10_000;
                reader.TemporalityPreference = MetricReaderTemporalityPreference.Cumulative;
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = intervalMs;
            })
            .Build();
        return new OtlpExport(provider, url);
    }

    public void Dispose() => _provider.Dispose();
}
