using System.Net;
using System.Net.Sockets;
using Ippm.Sessions.Telemetry;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Ippm.Service;

/// <summary>
/// <c>--metrics-listen ADDR:PORT</c>: the OpenTelemetry SDK reads the server's meter and serves it in the Prometheus
/// text format at <c>http://ADDR:PORT/metrics</c> (HttpListener, outside the measurement threads). The exporter answers
/// scrapes from a cached collection, so a flood of scrapes costs the test threads nothing.
/// </summary>
public sealed class MetricsEndpoint : IDisposable
{
    private readonly MeterProvider _provider;

    private MetricsEndpoint(MeterProvider provider, string url)
    {
        _provider = provider;
        Url = url;
    }

    public string Url { get; }

    public static MetricsEndpoint Start(IPEndPoint listen) => Start(listen, ServerMetrics.MeterName);

    /// <summary>The same endpoint for other meters (<c>ippm agent</c>: <c>Ippm.Agent</c> and the runtime's <c>System.Runtime</c>).</summary>
    public static MetricsEndpoint Start(IPEndPoint listen, params string[] meterNames)
    {
        string host = listen.Address.Equals(IPAddress.Any) || listen.Address.Equals(IPAddress.IPv6Any) ? "+"
            : listen.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{listen.Address}]" : listen.Address.ToString();
        string prefix = $"http://{host}:{listen.Port}/";
        MeterProvider provider = Sdk.CreateMeterProviderBuilder()
            .ConfigureResource(r => r.AddService("ippm"))
            .AddMeter(meterNames)
            .AddPrometheusHttpListener(o =>
            {
                o.Host = host;
                o.Port = listen.Port;
            })
            .Build();
        return new MetricsEndpoint(provider, prefix + "metrics");
    }

    public void Dispose() => _provider.Dispose();
}
