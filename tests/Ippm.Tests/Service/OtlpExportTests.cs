using System.Buffers.Binary;
using System.IO.Compression;
using System.Net;
using System.Text;
using System.Threading.Channels;
using Ippm.Sessions.Twamp;
using Ippm.Tests.Cli;

namespace Ippm.Tests.Service;

/// <summary>
/// <c>ippm server</c> pushes its meter over OTLP/HTTP: a loopback HTTP listener stands in for the collector, and the
/// test decodes the protobuf itself (field numbers from opentelemetry-proto's metrics.proto) to find the reflected
/// packet count of a real TWAMP measurement.
/// </summary>
public sealed class OtlpExportTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly string _dir = Directory.CreateTempSubdirectory("ippm-otlp-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task OtlpHttp_CollectorReceivesTheReflectedPacketsOfARealMeasurement()
    {
        await using var collector = FakeCollector.Start();
        int collectorPort = collector.Port;
        // The endpoint and interval from the configuration file (keys are the flags), the protocol from its default.
        string config = Path.Combine(_dir, "ippm-server.conf");
        File.WriteAllText(config, $"""
            twamp-listen = 127.0.0.1:0
            otlp-endpoint = http://127.0.0.1:{collectorPort}
            otlp-interval = 0.5
            """);
        using var server = new ServerProcess("server", "--config", config);
        await server.WaitForLogAsync("ready (pid", Timeout);
        int twampPort = await server.TwampPortAsync(Timeout);
        Assert.Contains($"metrics pushed over OTLP (http/protobuf) to http://127.0.0.1:{collectorPort}/v1/metrics every 0.5 s", server.Log, StringComparison.Ordinal);

        TwampSessionResult result = await TwampMeasurement.RunAsync(
            new TwpingOptions { Server = new IPEndPoint(IPAddress.Loopback, twampPort), Count = 37, Schedule = new SendSchedule(0.01, Exponential: false) },
            CancellationToken.None).WaitAsync(Timeout);
        Assert.Equal(37, result.Replies.Count);

        // Each push carries the cumulative totals; wait (bounded) for one that includes the finished session.
        OtlpPost? seen = null;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline && seen is null)
        {
            OtlpPost post = await collector.Posts.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
            if (post.Sum("ippm.test.packets.reflected") is { Value: 37 })
            {
                seen = post;
            }
        }
        Assert.True(seen is not null, "no OTLP export carried ippm.test.packets.reflected = 37;\n" + server.Log);
        Assert.Equal("/v1/metrics", seen.Path);
        Assert.Equal("application/x-protobuf", seen.ContentType);
        Assert.Equal("ippm", seen.ServiceName);
        Assert.Equal("Ippm.Server", seen.Scope);
        OtlpSum reflected = seen.Sum("ippm.test.packets.reflected")!;
        Assert.True(reflected.Monotonic);
        Assert.Equal(2, reflected.Temporality); // AGGREGATION_TEMPORALITY_CUMULATIVE
        OtlpSum sessions = seen.Sum("ippm.sessions")!;
        Assert.Equal(1, sessions.Points.Single(p => p.Attributes.GetValueOrDefault("accept") == "0" && p.Attributes.GetValueOrDefault("protocol") == "twamp").Value);
        Assert.False(server.HasExited);
    }

    [Theory]
    [InlineData("--otlp-endpoint", "ftp://collector:4318", "is not an http:// or https:// URL")]
    [InlineData("--otlp-interval", "0", "give seconds between 0.1 and 86400")]
    [InlineData("--otlp-protocol", "json", "json")]
    public async Task BadOtlpSettings_RefuseToStart(string flag, string value, string expected)
    {
        string[] args = ["server", "--twamp-listen", "127.0.0.1:0", "--otlp-endpoint", "http://127.0.0.1:4318"];
        args = flag == "--otlp-endpoint" ? [.. args[..^2], flag, value] : [.. args, flag, value];
        var (exit, _, stderr) = await IppmProcess.RunAsync(Timeout, args);
        Assert.Equal(1, exit);
        Assert.Contains(expected, stderr, StringComparison.Ordinal);
    }

    internal sealed record OtlpPoint(IReadOnlyDictionary<string, string> Attributes, long Value);

    internal sealed record OtlpSum(bool Monotonic, int Temporality, List<OtlpPoint> Points)
    {
        public long Value => Points.Sum(p => p.Value);
    }

    internal sealed record OtlpPost(string Path, string? ContentType, string? ServiceName, string? Scope, Dictionary<string, OtlpSum> Sums)
    {
        public OtlpSum? Sum(string name) => Sums.GetValueOrDefault(name);
    }

    /// <summary>A loopback OTLP/HTTP receiver: answers every POST with 200 and an empty ExportMetricsServiceResponse.</summary>
    internal sealed class FakeCollector : IAsyncDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Channel<OtlpPost> _posts = Channel.CreateBounded<OtlpPost>(new BoundedChannelOptions(256) { FullMode = BoundedChannelFullMode.DropOldest });
        private Task _loop = Task.CompletedTask;

        public ChannelReader<OtlpPost> Posts => _posts.Reader;

        public int Port { get; private init; }

        /// <summary>
        /// Starts on a free loopback port. HttpListener cannot bind port 0, so a port is picked and, should another program
        /// take it first, another one (the race stays in the test's own process, with a retry).
        /// </summary>
        public static FakeCollector Start()
        {
            for (int attempt = 1; ; attempt++)
            {
                var collector = new FakeCollector { Port = IppmProcess.FreeTcpPort() };
                collector._listener.Prefixes.Add($"http://127.0.0.1:{collector.Port}/");
                try
                {
                    collector._listener.Start();
                }
                catch (HttpListenerException) when (attempt < 20)
                {
                    collector._listener.Close();
                    continue;
                }
                collector._loop = Task.Run(collector.RunAsync);
                return collector;
            }
        }

        private async Task RunAsync()
        {
            // Bounded: a test never needs more than a few hundred pushes.
            for (int i = 0; i < 1000 && _listener.IsListening; i++)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }
                using var body = new MemoryStream();
                Stream input = context.Request.Headers["Content-Encoding"] == "gzip" ? new GZipStream(context.Request.InputStream, CompressionMode.Decompress) : context.Request.InputStream;
                await input.CopyToAsync(body);
                context.Response.StatusCode = 200;
                context.Response.ContentType = "application/x-protobuf";
                context.Response.ContentLength64 = 0;
                context.Response.Close();
                _posts.Writer.TryWrite(OtlpDecoder.Decode(context.Request.Url!.AbsolutePath, context.Request.ContentType, body.ToArray()));
            }
        }

        public async ValueTask DisposeAsync()
        {
            // Close alone: after Stop, the managed HttpListener's Close removes its prefixes again and binds the port
            // once more to do it, which fails when another program took the port in between (seen under stress).
            _listener.Close();
            await _loop.WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    /// <summary>
    /// Just enough protobuf for ExportMetricsServiceRequest: resource_metrics = 1 { resource = 1 { attributes = 1 },
    /// scope_metrics = 2 { scope = 1 { name = 1 }, metrics = 2 { name = 1, sum = 7 { data_points = 1,
    /// aggregation_temporality = 2, is_monotonic = 3 } } } }; NumberDataPoint { as_int = 6 (sfixed64), as_double = 4,
    /// attributes = 7 }; KeyValue { key = 1, value = 2 { string_value = 1 } }.
    /// </summary>
    private static class OtlpDecoder
    {
        public static OtlpPost Decode(string path, string? contentType, byte[] body)
        {
            var sums = new Dictionary<string, OtlpSum>(StringComparer.Ordinal);
            string? service = null, scope = null;
            foreach (var (_, resourceMetrics) in Messages(body, 1))
            {
                foreach (var (number, value) in Fields(resourceMetrics))
                {
                    if (number == 1 && value is ReadOnlyMemory<byte> resource)
                    {
                        foreach (var (_, kv) in Messages(resource, 1))
                        {
                            (string key, string? text) = KeyValue(kv);
                            if (key == "service.name")
                            {
                                service = text;
                            }
                        }
                    }
                    else if (number == 2 && value is ReadOnlyMemory<byte> scopeMetrics)
                    {
                        foreach (var (n, v) in Fields(scopeMetrics))
                        {
                            if (n == 1 && v is ReadOnlyMemory<byte> scopeMessage)
                            {
                                scope = Text(Fields(scopeMessage).FirstOrDefault(f => f.Number == 1).Value);
                            }
                            else if (n == 2 && v is ReadOnlyMemory<byte> metric)
                            {
                                ReadMetric(metric, sums);
                            }
                        }
                    }
                }
            }
            return new OtlpPost(path, contentType, service, scope, sums);
        }

        private static void ReadMetric(ReadOnlyMemory<byte> metric, Dictionary<string, OtlpSum> sums)
        {
            string? name = null;
            OtlpSum? sum = null;
            foreach (var (n, v) in Fields(metric))
            {
                if (n == 1)
                {
                    name = Text(v);
                }
                else if (n == 7 && v is ReadOnlyMemory<byte> sumMessage)
                {
                    var points = new List<OtlpPoint>();
                    bool monotonic = false;
                    int temporality = 0;
                    foreach (var (sn, sv) in Fields(sumMessage))
                    {
                        switch (sn)
                        {
                            case 1 when sv is ReadOnlyMemory<byte> point:
                                points.Add(ReadPoint(point));
                                break;
                            case 2 when sv is ulong t:
                                temporality = (int)t;
                                break;
                            case 3 when sv is ulong m:
                                monotonic = m != 0;
                                break;
                        }
                    }
                    sum = new OtlpSum(monotonic, temporality, points);
                }
            }
            if (name is not null && sum is not null)
            {
                sums[name] = sum;
            }
        }

        private static OtlpPoint ReadPoint(ReadOnlyMemory<byte> point)
        {
            var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
            long value = 0;
            foreach (var (n, v) in Fields(point))
            {
                switch (n)
                {
                    case 6 when v is ulong fixed64:
                        value = unchecked((long)fixed64);
                        break;
                    case 4 when v is ulong bits:
                        value = (long)BitConverter.UInt64BitsToDouble(bits);
                        break;
                    case 7 when v is ReadOnlyMemory<byte> kv:
                        (string key, string? text) = KeyValue(kv);
                        attributes[key] = text ?? "";
                        break;
                }
            }
            return new OtlpPoint(attributes, value);
        }

        private static (string Key, string? Text) KeyValue(ReadOnlyMemory<byte> kv)
        {
            string key = "";
            string? text = null;
            foreach (var (n, v) in Fields(kv))
            {
                if (n == 1)
                {
                    key = Text(v) ?? "";
                }
                else if (n == 2 && v is ReadOnlyMemory<byte> any)
                {
                    text = Text(Fields(any).FirstOrDefault(f => f.Number == 1).Value);
                }
            }
            return (key, text);
        }

        private static string? Text(object? value) => value is ReadOnlyMemory<byte> bytes ? Encoding.UTF8.GetString(bytes.Span) : null;

        private static IEnumerable<(int Number, ReadOnlyMemory<byte> Body)> Messages(ReadOnlyMemory<byte> message, int number) =>
            Fields(message).Where(f => f.Number == number && f.Value is ReadOnlyMemory<byte>).Select(f => (f.Number, (ReadOnlyMemory<byte>)f.Value!));

        /// <summary>The fields of one message: varints and fixed64 as ulong, fixed32 as uint, length-delimited as bytes.</summary>
        private static List<(int Number, object? Value)> Fields(ReadOnlyMemory<byte> message)
        {
            var fields = new List<(int, object?)>();
            int at = 0;
            ReadOnlySpan<byte> span = message.Span;
            while (at < span.Length)
            {
                ulong key = Varint(span, ref at);
                int number = (int)(key >> 3);
                switch ((int)(key & 7))
                {
                    case 0:
                        fields.Add((number, Varint(span, ref at)));
                        break;
                    case 1:
                        fields.Add((number, BinaryPrimitives.ReadUInt64LittleEndian(span[at..])));
                        at += 8;
                        break;
                    case 2:
                        int length = checked((int)Varint(span, ref at));
                        fields.Add((number, message.Slice(at, length)));
                        at += length;
                        break;
                    case 5:
                        fields.Add((number, BinaryPrimitives.ReadUInt32LittleEndian(span[at..])));
                        at += 4;
                        break;
                    default:
                        throw new FormatException($"protobuf wire type {key & 7} at offset {at}");
                }
            }
            return fields;
        }

        private static ulong Varint(ReadOnlySpan<byte> span, ref int at)
        {
            ulong value = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                byte b = span[at++];
                value |= (ulong)(b & 0x7F) << shift;
                if ((b & 0x80) == 0)
                {
                    return value;
                }
            }
            throw new FormatException("varint longer than 10 octets");
        }
    }
}
