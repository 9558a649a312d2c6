using System.Globalization;
using System.Text.Json.Nodes;

namespace Ippm.Tests.Plots;

/// <summary>
/// Archives for the plot tests: the recorded one (real twping/owping reports, Fixtures/record.py) and synthetic
/// lines whose figures are chosen by hand, so every expected table value below is known without ippm's code.
/// </summary>
internal static class PlotArchives
{
    public static string Recorded => Path.Combine(AppContext.BaseDirectory, "Plots", "Fixtures", "recorded.jsonl");

    public static readonly DateTimeOffset T0 = new(2026, 11, 30, 10, 0, 0, TimeSpan.Zero);

    public static string Iso(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    public static JsonObject Header(string test, string target, string protocol, string mode, DateTimeOffset start, double seconds, string outcome = "ok", string? error = null) => new()
    {
        ["archive_version"] = 1,
        ["test"] = test,
        ["target"] = target,
        ["protocol"] = protocol,
        ["mode"] = mode,
        ["start_time"] = Iso(start),
        ["end_time"] = Iso(start.AddSeconds(seconds)),
        ["outcome"] = outcome,
        ["error"] = error,
    };

    public static JsonObject Delay(double min, double median, double p95, double max, int count = 100) => new()
    {
        ["count"] = count,
        ["min"] = min,
        ["median"] = median,
        ["max"] = max,
        ["mean"] = median,
        ["p90"] = p95,
        ["p95"] = p95,
        ["p99"] = max,
        ["jitter"] = p95 - median,
    };

    public static JsonObject Twamp(DateTimeOffset start, long sent, long lost, long reordered, double min, double median, double p95, double max, string test = "synthetic-twamp")
    {
        JsonObject line = Header(test, "192.0.2.7:862", "twamp", "encrypted", start, 10);
        line["sent"] = sent;
        line["received"] = sent - lost;
        line["lost"] = lost;
        line["loss_percent"] = sent == 0 ? 0 : lost * 100.0 / sent;
        line["duplicates"] = 0;
        line["reordered"] = reordered;
        line["round_trip_ms"] = Delay(min, median, p95, max, (int)(sent - lost));
        line["a_member_from_a_later_agent"] = new JsonObject { ["anything"] = 1 };
        return line;
    }

    public static JsonObject OwDirection(long sent, long lost, double min, double median, double p95, double max) => new()
    {
        ["sent"] = sent,
        ["received"] = sent - lost,
        ["lost"] = lost,
        ["loss_percent"] = lost * 100.0 / sent,
        ["duplicates"] = 0,
        ["reordered"] = 0,
        ["delay_ms"] = Delay(min, median, p95, max, (int)(sent - lost)),
    };

    /// <summary>
    /// synthetic-twamp: four sessions, 300 packets sent, 10 lost (3.333 %), 2 reordered, one failed (timeout);
    /// smallest minimum 0.9, medians 1.5/2.5/3.5 (median 2.5), p95s 2/4/6 (nearest-rank p95 6), largest max 7.
    /// synthetic-owamp: two sessions; outbound 200 sent, 4 lost (2 %), minima 10/11, medians 12/14, p95s 15/20,
    /// maxima 16/25; inbound 200 sent, 0 lost, minima 20/21, medians 22/23, p95s 24/26, maxima 30/31; one refused.
    /// </summary>
    public static List<JsonObject> Synthetic() =>
    [
        Twamp(T0, 100, 0, 0, 1.0, 1.5, 2.0, 2.5),
        Twamp(T0.AddMinutes(5), 100, 10, 2, 1.2, 2.5, 4.0, 5.0),
        Header("synthetic-twamp", "192.0.2.7:862", "twamp", "encrypted", T0.AddMinutes(10), 10, "timeout", "no answer from 192.0.2.7:862 within 10 s"),
        Twamp(T0.AddMinutes(15), 100, 0, 0, 0.9, 3.5, 6.0, 7.0),
        Ow(T0.AddMinutes(1), OwDirection(100, 0, 10, 12, 15, 16), OwDirection(100, 0, 20, 22, 24, 30)),
        Ow(T0.AddMinutes(6), OwDirection(100, 4, 11, 14, 20, 25), OwDirection(100, 0, 21, 23, 26, 31)),
        Header("synthetic-owamp", "[2001:db8::5]:861", "owamp", "open", T0.AddMinutes(11), 2, "refused", "the server refused the session (Accept=1)"),
    ];

    private static JsonObject Ow(DateTimeOffset start, JsonObject outbound, JsonObject inbound)
    {
        JsonObject line = Header("synthetic-owamp", "[2001:db8::5]:861", "owamp", "open", start, 20);
        line["outbound"] = outbound;
        line["inbound"] = inbound;
        return line;
    }

    public static string Write(string directory, string name, IEnumerable<JsonObject> lines)
    {
        string path = Path.Combine(directory, name);
        File.WriteAllLines(path, lines.Select(l => l.ToJsonString()));
        return path;
    }
}

/// <summary>A temporary directory removed after the test.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "ippm-plot-" + Guid.NewGuid().ToString("N"));

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
