using System.Globalization;
using System.Text.Json;

namespace Ippm.Plots.Archive;

/// <summary>One per-packet delay from <c>NAME.packets.jsonl</c>; <see cref="DelayMs"/> is null for a lost packet.</summary>
public sealed record PacketDelay(string Test, Direction Direction, DateTimeOffset? SendTime, double? DelayMs);

/// <summary>
/// Reads the per-packet file the agent may write beside its archive. Each line is a JSON object with
/// <c>test</c> (string) and the packet's delay in milliseconds as <c>round_trip_ms</c> (TWAMP/STAMP) or
/// <c>delay_ms</c> (OWAMP, with <c>direction</c> <c>outbound</c> or <c>inbound</c>), null or absent with
/// <c>lost: true</c> for a lost packet; <c>send_time</c> (ISO 8601) is used for <c>--since</c>/<c>--until</c> when
/// present. Other members are ignored. Lines carrying neither delay member nor <c>lost</c> are refused with
/// file:line like archive lines.
/// </summary>
public static class PacketRecords
{
    public static List<PacketDelay> Read(string file, bool skipBad, List<ArchiveFormatException> skipped)
    {
        var packets = new List<PacketDelay>();
        using TextReader reader = ArchiveSources.Open(file);
        int lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            try
            {
                packets.Add(Parse(line, new ArchiveLocation(file, lineNumber)));
            }
            catch (ArchiveFormatException e) when (skipBad)
            {
                skipped.Add(e);
            }
        }
        return packets;
    }

    public static PacketDelay Parse(string line, ArchiveLocation location)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line);
        }
        catch (JsonException)
        {
            throw new ArchiveFormatException(location, "not a JSON object");
        }
        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new ArchiveFormatException(location, $"a per-packet line must be a JSON object, not {ArchiveLineParser.Describe(root.ValueKind)}");
            }
            if (!root.TryGetProperty("test", out JsonElement test) || test.ValueKind != JsonValueKind.String || test.GetString() is not { Length: > 0 } testName)
            {
                throw new ArchiveFormatException(location, "a per-packet line needs test (a non-empty string)");
            }
            Direction direction = Direction.RoundTrip;
            string delayMember = "round_trip_ms";
            if (root.TryGetProperty("direction", out JsonElement d) && d.ValueKind == JsonValueKind.String)
            {
                direction = d.GetString() switch
                {
                    "outbound" => Direction.Outbound,
                    "inbound" => Direction.Inbound,
                    "round_trip" => Direction.RoundTrip,
                    string other => throw new ArchiveFormatException(location, $"direction '{other}' is not outbound, inbound or round_trip"),
                    _ => Direction.RoundTrip,
                };
            }
            if (direction != Direction.RoundTrip || (!root.TryGetProperty(delayMember, out _) && root.TryGetProperty("delay_ms", out _)))
            {
                delayMember = "delay_ms";
            }
            bool lost = root.TryGetProperty("lost", out JsonElement l) && l.ValueKind == JsonValueKind.True;
            double? delay = null;
            if (root.TryGetProperty(delayMember, out JsonElement value) && value.ValueKind != JsonValueKind.Null)
            {
                delay = value.ValueKind == JsonValueKind.Number
                    ? value.GetDouble()
                    : throw new ArchiveFormatException(location, $"{delayMember} must be a number or null, not {ArchiveLineParser.Describe(value.ValueKind)}");
            }
            else if (!lost && !root.TryGetProperty(delayMember, out _))
            {
                throw new ArchiveFormatException(location, "a per-packet line needs round_trip_ms or delay_ms (null, or lost: true, for a lost packet)");
            }
            DateTimeOffset? sendTime = null;
            if (root.TryGetProperty("send_time", out JsonElement t) && t.ValueKind == JsonValueKind.String
                && DateTimeOffset.TryParse(t.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out DateTimeOffset parsed))
            {
                sendTime = parsed.ToUniversalTime();
            }
            return new PacketDelay(testName, direction, sendTime, lost ? null : delay);
        }
    }
}
