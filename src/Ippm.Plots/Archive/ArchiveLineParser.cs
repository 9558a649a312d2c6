using System.Globalization;
using System.Text.Json;

namespace Ippm.Plots.Archive;

/// <summary>
/// Parses one archive line (format version 1, /README.md "ippm plot"): the agent's members
/// (<c>archive_version</c>, <c>test</c>, <c>target</c>, <c>protocol</c>, <c>mode</c>, <c>start_time</c>,
/// <c>end_time</c>, <c>outcome</c>, <c>error</c>) plus, with figures, the members of twping's or owping's
/// <c>--json</c> report (docs/json-report.md). Members this reader does not know are ignored, so later agents
/// may add some; a member it needs that is missing or of the wrong type refuses the line with the reason.
/// </summary>
public static class ArchiveLineParser
{
    public const int SupportedVersion = 1;

    public static ArchiveRecord Parse(string line, ArchiveLocation location)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            throw new ArchiveFormatException(location, $"not a JSON object ({FirstSentence(e.Message)})");
        }
        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new ArchiveFormatException(location, $"a line must be a JSON object, not {Describe(root.ValueKind)}");
            }
            var reader = new MemberReader(root, location);
            double version = reader.RequiredNumber("archive_version");
            if (version != SupportedVersion)
            {
                throw new ArchiveFormatException(location,
                    $"archive_version {version.ToString(CultureInfo.InvariantCulture)} is not understood (this ippm reads version {SupportedVersion})");
            }
            string test = reader.RequiredString("test");
            string target = reader.RequiredString("target");
            string protocol = reader.RequiredString("protocol");
            string mode = reader.RequiredString("mode");
            DateTimeOffset start = reader.RequiredTime("start_time");
            DateTimeOffset end = reader.RequiredTime("end_time");
            if (end < start)
            {
                throw new ArchiveFormatException(location, "end_time is before start_time");
            }
            string outcome = reader.RequiredString("outcome");
            string? error = reader.OptionalString("error");

            bool isOk = outcome == ArchiveOutcomes.Ok;
            IReadOnlyList<DirectionFigures> directions = [];
            if (isOk || HasFigures(root, protocol))
            {
                directions = protocol == "owamp" ? ReadOwamp(reader, location) : [ReadRoundTrip(reader)];
            }
            return new ArchiveRecord(location, test, target, protocol, mode, start, end, outcome, error, directions);
        }
    }

    /// <summary>An interrupted (or otherwise unfinished) session may still carry a report's figures.</summary>
    private static bool HasFigures(JsonElement root, string protocol) => protocol == "owamp"
        ? IsObject(root, "outbound") || IsObject(root, "inbound")
        : IsObject(root, "round_trip_ms");

    private static bool IsObject(JsonElement root, string name) =>
        root.TryGetProperty(name, out JsonElement value) && value.ValueKind == JsonValueKind.Object;

    // twping's report (and STAMP's, which wraps it): the figures sit at the top level.
    private static DirectionFigures ReadRoundTrip(MemberReader reader) => ReadDirection(reader, Direction.RoundTrip, "round_trip_ms");

    // owping's report: outbound / inbound objects, null when that direction was not measured.
    private static List<DirectionFigures> ReadOwamp(MemberReader reader, ArchiveLocation location)
    {
        var directions = new List<DirectionFigures>(2);
        foreach ((string name, Direction direction) in new[] { ("outbound", Direction.Outbound), ("inbound", Direction.Inbound) })
        {
            MemberReader? member = reader.OptionalObject(name);
            if (member is not null)
            {
                directions.Add(ReadDirection(member, direction, "delay_ms"));
            }
        }
        if (directions.Count == 0)
        {
            throw new ArchiveFormatException(location, "an OWAMP line with figures needs outbound or inbound (both are missing or null)");
        }
        return directions;
    }

    private static DirectionFigures ReadDirection(MemberReader reader, Direction direction, string delayName)
    {
        MemberReader delay = reader.RequiredObject(delayName);
        return new DirectionFigures(
            direction,
            reader.RequiredCount("sent"),
            reader.RequiredCount("lost"),
            reader.NullableNumber("loss_percent"),
            reader.OptionalCount("duplicates"),
            reader.OptionalCount("reordered"),
            new DelaySummary(
                delay.RequiredCount("count"),
                delay.NullableNumber("min"),
                delay.NullableNumber("median"),
                delay.NullableNumber("max"),
                delay.NullableNumber("mean"),
                delay.NullableNumber("p90"),
                delay.NullableNumber("p95"),
                delay.NullableNumber("p99")));
    }

    private static string FirstSentence(string message)
    {
        int end = message.IndexOf(". ", StringComparison.Ordinal);
        return end < 0 ? message.TrimEnd('.') : message[..end];
    }

    internal static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    /// <summary>Typed access to an object's members; every refusal names the member (with its path).</summary>
    private sealed class MemberReader(JsonElement element, ArchiveLocation location, string path = "")
    {
        public string RequiredString(string name)
        {
            JsonElement value = Required(name);
            if (value.ValueKind != JsonValueKind.String || value.GetString() is not { Length: > 0 } text)
            {
                throw Wrong(name, "a non-empty string", value);
            }
            return text;
        }

        public string? OptionalString(string name)
        {
            if (!element.TryGetProperty(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
            {
                return null;
            }
            return value.ValueKind == JsonValueKind.String ? value.GetString() : throw Wrong(name, "null or a string", value);
        }

        public DateTimeOffset RequiredTime(string name)
        {
            string text = RequiredString(name);
            if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out DateTimeOffset time))
            {
                throw new ArchiveFormatException(location, $"{path}{name} is not an ISO 8601 time: '{text}'");
            }
            return time.ToUniversalTime();
        }

        public double RequiredNumber(string name)
        {
            JsonElement value = Required(name);
            return value.ValueKind == JsonValueKind.Number ? value.GetDouble() : throw Wrong(name, "a number", value);
        }

        public double? NullableNumber(string name)
        {
            JsonElement value = Required(name);
            return value.ValueKind switch
            {
                JsonValueKind.Null => null,
                JsonValueKind.Number => value.GetDouble(),
                _ => throw Wrong(name, "a number or null", value),
            };
        }

        public long RequiredCount(string name)
        {
            JsonElement value = Required(name);
            if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out long count) || count < 0)
            {
                throw Wrong(name, "a whole number ≥ 0", value);
            }
            return count;
        }

        public long OptionalCount(string name) => element.TryGetProperty(name, out _) ? RequiredCount(name) : 0;

        public MemberReader RequiredObject(string name)
        {
            JsonElement value = Required(name);
            return value.ValueKind == JsonValueKind.Object
                ? new MemberReader(value, location, $"{path}{name}.")
                : throw Wrong(name, "an object", value);
        }

        public MemberReader? OptionalObject(string name)
        {
            if (!element.TryGetProperty(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
            {
                return null;
            }
            return value.ValueKind == JsonValueKind.Object
                ? new MemberReader(value, location, $"{path}{name}.")
                : throw Wrong(name, "null or an object", value);
        }

        private JsonElement Required(string name) => element.TryGetProperty(name, out JsonElement value)
            ? value
            : throw new ArchiveFormatException(location, $"member {path}{name} is missing");

        private ArchiveFormatException Wrong(string name, string expected, JsonElement value) =>
            new(location, $"{path}{name} must be {expected}, not {Describe(value.ValueKind)}");
    }
}
