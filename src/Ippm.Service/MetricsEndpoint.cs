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

    private MetricsEndpoint(MeterProvider provider, IPEndPoint endPoint, string url)
    {
        _provider = provider;
        EndPoint = endPoint;
        Url = url;
    }

    /// <summary>The address and port served (the port the system chose when asked for port 0).</summary>
    public IPEndPoint EndPoint { get; }

    public string Url { get; }

    public static MetricsEndpoint Start(IPEndPoint listen) => Start(listen, ServerMetrics.MeterName);

    /// <summary>The same endpoint for other meters (<c>ippm agent</c>: <c>Ippm.Agent</c> and the runtime's <c>System.Runtime</c>).</summary>
    /// <remarks>
    /// HttpListener cannot bind port 0, so for port 0 the endpoint asks the system for a free port, releases it and starts
    /// the listener there, trying another port if something took that one in between (the race stays in here, with a retry,
    /// rather than in whoever starts ippm).
    /// </remarks>
    public static MetricsEndpoint Start(IPEndPoint listen, params string[] meterNames)
    {
        if (listen.Port != 0)
        {
            return StartOn(listen, meterNames);
        }
        const int attempts = 20;
        for (int attempt = 1; ; attempt++)
        {
            var chosen = new IPEndPoint(listen.Address, FreePort(listen.Address));
            try
            {
                return StartOn(chosen, meterNames);
            }
            catch (InvalidOperationException e) when (attempt < attempts && e.InnerException is HttpListenerException { ErrorCode: (int)SocketError.AddressAlreadyInUse or 98 })
            {
            }
        }
    }

    private static int FreePort(IPAddress address)
    {
        using var probe = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (address.Equals(IPAddress.IPv6Any))
        {
            probe.DualMode = true;
        }
        probe.Bind(new IPEndPoint(address, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    private static MetricsEndpoint StartOn(IPEndPoint listen, string[] meterNames)
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
        return new MetricsEndpoint(provider, listen, prefix + "metrics");
    }

    public void Dispose() => _provider.Dispose();
}
