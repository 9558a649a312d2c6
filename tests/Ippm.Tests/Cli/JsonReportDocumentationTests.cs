using System.Text.Json;
using System.Text.RegularExpressions;

namespace Ippm.Tests.Cli;

/// <summary>Every JSON member twping and owping emit is documented in docs/json-report.md (its tables are parsed).</summary>
public sealed partial class JsonReportDocumentationTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private static Dictionary<string, HashSet<string>> DocumentedSections()
    {
        string path = Path.Combine(FindRepositoryRoot(), "docs", "json-report.md");
        var sections = new Dictionary<string, HashSet<string>>();
        HashSet<string>? current = null;
        foreach (string line in File.ReadLines(path))
        {
            if (line.StartsWith("## ", StringComparison.Ordinal))
            {
                current = sections[line[3..].Trim()] = [];
            }
            else if (current is not null && MemberRow().Match(line) is { Success: true } m)
            {
                current.Add(m.Groups["name"].Value);
            }
        }
        return sections;
    }

    private static string FindRepositoryRoot()
    {
        for (DirectoryInfo? d = new(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "Ippm.slnx")))
            {
                return d.FullName;
            }
        }
        throw new DirectoryNotFoundException("Ippm.slnx not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"^\| `(?<name>[^`]+)` \|")]
    private static partial Regex MemberRow();

    private static bool IsDelay(JsonElement e) => e.ValueKind == JsonValueKind.Object && e.TryGetProperty("median", out _) && e.TryGetProperty("jitter", out _);

    /// <summary>Members of <paramref name="element"/> (dotted paths below <paramref name="prefix"/>) missing from <paramref name="table"/>.</summary>
    private static IEnumerable<string> Undocumented(JsonElement element, string prefix, HashSet<string> table, Dictionary<string, HashSet<string>> all, string? nestedTable = null)
    {
        foreach (JsonProperty p in element.EnumerateObject())
        {
            string name = prefix + p.Name;
            bool documented = table.Contains(name) || table.Any(t => t.StartsWith(name + ".", StringComparison.Ordinal));
            if (IsDelay(p.Value))
            {
                if (!table.Contains(name))
                {
                    yield return name;
                }
                foreach (string missing in Undocumented(p.Value, "", all["Delay statistics"], all))
                {
                    yield return $"{name}.{missing}";
                }
            }
            else if (nestedTable is not null && p.Name is "outbound" or "inbound" && p.Value.ValueKind == JsonValueKind.Object)
            {
                if (!documented)
                {
                    yield return name;
                }
                foreach (string missing in Undocumented(p.Value, "", all[nestedTable], all))
                {
                    yield return $"{name}.{missing}";
                }
            }
            else if (p.Value.ValueKind == JsonValueKind.Object)
            {
                foreach (string missing in Undocumented(p.Value, name + ".", table, all))
                {
                    yield return missing;
                }
            }
            else if (!documented)
            {
                yield return name;
            }
        }
    }

    [Fact]
    public async Task EveryMemberOfEveryReport_IsInTheDocumentation()
    {
        Dictionary<string, HashSet<string>> doc = DocumentedSections();
        Assert.Contains("twping report", doc.Keys);
        Assert.Contains("owping report", doc.Keys);

        var twping = await IppmProcess.RunAsync(Timeout, "twping", "-A", "A", "-c", "5", "-i", "0.01", "--json");
        Assert.True(twping.ExitCode == 0, twping.Stderr);
        var owping = await IppmProcess.RunAsync(Timeout, "owping", "-A", "A", "-c", "5", "-i", "0.01", "-L", "1", "--json");
        Assert.True(owping.ExitCode == 0, owping.Stderr);
        var error = await IppmProcess.RunAsync(Timeout, "twping", "--json", "-c", "0");
        Assert.Equal(1, error.ExitCode);

        using JsonDocument t = JsonDocument.Parse(twping.Stdout);
        using JsonDocument o = JsonDocument.Parse(owping.Stdout);
        using JsonDocument e = JsonDocument.Parse(error.Stdout);
        Assert.Empty(Undocumented(t.RootElement, "", doc["twping report"], doc));
        Assert.Empty(Undocumented(o.RootElement, "", doc["owping report"], doc, nestedTable: "owping direction"));
        Assert.Empty(Undocumented(e.RootElement, "", doc["Error object"], doc));
        // And the check can fail: a member the documentation does not know is found.
        using JsonDocument extra = JsonDocument.Parse("""{"sent": 1, "surprise": 2, "round_trip_ms": {"median": 1, "jitter": 0, "wobble": 3}}""");
        Assert.Equal(["surprise", "round_trip_ms.wobble"], Undocumented(extra.RootElement, "", doc["twping report"], doc));
    }

    [Fact]
    public async Task Reports_CarryTheRequestEndpointsAndTimestamps_InBothTools()
    {
        var twping = await IppmProcess.RunAsync(Timeout, "twping", "-c", "7", "-i", "0.02f", "-s", "40", "-D", "10", "-L", "1.5", "--json");
        Assert.True(twping.ExitCode == 0, twping.Stderr);
        using JsonDocument t = JsonDocument.Parse(twping.Stdout);
        JsonElement request = t.RootElement.GetProperty("request");
        Assert.Equal(7, request.GetProperty("count").GetInt32());
        Assert.Equal(0.02, request.GetProperty("interval_s").GetDouble());
        Assert.Equal("0.02f", request.GetProperty("schedule").GetString());
        Assert.Equal(40, request.GetProperty("padding").GetInt32());
        Assert.Equal(10, request.GetProperty("dscp").GetInt32());
        Assert.Equal(1.5, request.GetProperty("timeout_s").GetDouble());
        Assert.Equal("127.0.0.1", t.RootElement.GetProperty("peer").GetProperty("address").GetString());
        Assert.Equal(JsonValueKind.Null, t.RootElement.GetProperty("peer_identity").ValueKind);

        DateTimeOffset before = DateTimeOffset.UtcNow;
        var owping = await IppmProcess.RunAsync(Timeout, "owping", "-c", "6", "-i", "0.02f,0f", "-L", "1", "--json");
        DateTimeOffset after = DateTimeOffset.UtcNow;
        Assert.True(owping.ExitCode == 0, owping.Stderr);
        using JsonDocument o = JsonDocument.Parse(owping.Stdout);
        Assert.Equal("0.02f,0f", o.RootElement.GetProperty("request").GetProperty("schedule").GetString());
        Assert.Equal(0.01, o.RootElement.GetProperty("request").GetProperty("interval_s").GetDouble());
        Assert.Equal("none", o.RootElement.GetProperty("key_source").GetString());
        foreach (string direction in new[] { "outbound", "inbound" })
        {
            JsonElement d = o.RootElement.GetProperty(direction);
            DateTimeOffset first = d.GetProperty("first_send").GetDateTimeOffset();
            DateTimeOffset last = d.GetProperty("last_send").GetDateTimeOffset();
            // Six packets in pairs 20 ms apart, sent during this run: a late sender catches up in a burst, so the
            // spacing is the machine's; the order and the run's own bounds are not.
            Assert.True(before <= first && first <= last && last <= after, $"{direction}: {first:O} .. {last:O} outside the run {before:O} .. {after:O}");
            Assert.True(d.GetProperty("local_port").GetInt32() > 0);
            Assert.True(d.GetProperty("peer_port").GetInt32() > 0);
        }
    }
}
