using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ippm.Sessions.Twamp;
using Ippm.Wire.Stamp;

namespace Ippm.Sessions.Stamp;

/// <summary>
/// The STAMP report: twping's statistics (computed by <see cref="TwampReport"/> from the same samples, so both
/// tools agree figure for figure) under a STAMP heading, plus what the reflector answered in its TLVs.
/// </summary>
public sealed class StampReport
{
    public required string Server { get; init; }
    public required string Protocol { get; init; }
    public required TwampReport Statistics { get; init; }
    public StampSessionResult? Stamp { get; init; }

    public static StampReport Create(string server, StampSessionResult result) => new()
    {
        Server = server,
        Protocol = "stamp",
        Statistics = TwampReport.Create(server, result.Session),
        Stamp = result,
    };

    public static StampReport CreateTwampLight(string server, TwampSessionResult result) => new()
    {
        Server = server,
        Protocol = "twamp-light",
        Statistics = TwampReport.Create(server, result),
    };

    /// <summary>STAMP's names (RFC 8762 §4.2); TWAMP-Light adds encrypted (RFC 5357 Appendix I).</summary>
    private static string ModeName(Wire.SecurityMode mode) => mode switch
    {
        Wire.SecurityMode.Authenticated => "authenticated",
        Wire.SecurityMode.Encrypted => "encrypted",
        _ => "unauthenticated",
    };

    public string ToHumanReadable()
    {
        var inv = CultureInfo.InvariantCulture;
        var b = new StringBuilder();
        string mode = ModeName(Statistics.Result.Mode);
        b.AppendLine(inv, $"--- {Protocol} statistics to {Server} ---");
        b.AppendLine(inv, $"mode:\t{mode}");
        if (Stamp is not null)
        {
            b.AppendLine(inv, $"SSID:\t{Stamp.Ssid}");
        }
        // TwampReport's lines are the common statistics, but not its heading, mode and SID (STAMP has neither a TWAMP
        // mode nor a SID) nor its RFC 7750 lines (STAMP reports class of service through its own TLV, below).
        foreach (string line in Statistics.ToHumanReadable().Split('\n'))
        {
            if (line.Length > 0 && !line.StartsWith("---", StringComparison.Ordinal) && !line.StartsWith("SID:", StringComparison.Ordinal)
                && !line.StartsWith("mode:", StringComparison.Ordinal) && !line.StartsWith("DSCP/ECN", StringComparison.Ordinal)
                && !line.StartsWith("RE-MARKING", StringComparison.Ordinal))
            {
                b.AppendLine(line);
            }
        }
        if (Stamp is { Tlvs: var t } && t.RepliesWithTlvs > 0)
        {
            b.AppendLine(inv, $"TLVs: {t.RepliesWithTlvs} replies carried TLVs; {t.Unrecognized} unrecognized, {t.Malformed} malformed, {t.IntegrityFailed} failed integrity");
            foreach (KeyValuePair<(byte Dscp2, byte Ecn, byte Rp), long> c in t.ClassOfService)
            {
                b.AppendLine(inv, $"class of service: reflector received DSCP {c.Key.Dscp2} ECN {c.Key.Ecn}, {(c.Key.Rp == 0 ? "replied with the requested DSCP" : "could not use the requested DSCP (RP=1)")} ({c.Value} replies)");
            }
            foreach (KeyValuePair<int, long> tc in t.BackwardTrafficClass)
            {
                b.AppendLine(inv, $"replies arrived with DSCP {tc.Key >> 2} ECN {tc.Key & 3} ({tc.Value} replies)");
            }
            if (t.LastDirectMeasurement is { } d)
            {
                b.AppendLine(inv, $"direct measurement (last reply): sender sent {d.SenderTransmitted}, reflector received {d.ReflectorReceived}, reflector sent {d.ReflectorTransmitted}");
            }
            if (t.TimestampInformation is { } ti)
            {
                b.AppendLine(inv, $"reflector timestamps: in sync {ti.SyncSourceIn} method {ti.TimestampIn}, out sync {ti.SyncSourceOut} method {ti.TimestampOut}");
            }
            if (t.Location is { } l)
            {
                b.AppendLine(inv, $"location: reflector saw {l.Source}:{l.SourcePort} -> {l.Destination}:{l.DestinationPort}");
            }
            if (t.FollowUpReports > 0)
            {
                b.AppendLine(inv, $"follow-up telemetry: {t.FollowUpReports} reports");
            }
        }
        return b.ToString();
    }

    public string ToJson()
    {
        JsonNode root = JsonNode.Parse(Statistics.ToJson())!;
        root["protocol"] = Protocol;
        root["mode"] = ModeName(Statistics.Result.Mode);
        root.AsObject().Remove("sid");
        root["key_source"] = Wire.SecurityModes.ProtectsTestPackets(Statistics.Result.Mode) ? "key_file" : "none";
        if (Stamp is { } s)
        {
            root["ssid"] = s.Ssid;
            StampTlvSummary t = s.Tlvs;
            var tlvs = new JsonObject
            {
                ["replies_with_tlvs"] = t.RepliesWithTlvs,
                ["unrecognized"] = t.Unrecognized,
                ["malformed"] = t.Malformed,
                ["integrity_failed"] = t.IntegrityFailed,
                ["class_of_service"] = new JsonArray(t.ClassOfService.Select(c => (JsonNode)new JsonObject
                {
                    ["dscp2"] = c.Key.Dscp2, ["ecn"] = c.Key.Ecn, ["rp"] = c.Key.Rp, ["replies"] = c.Value,
                }).ToArray()),
                ["backward_traffic_class"] = new JsonArray(t.BackwardTrafficClass.Select(c => (JsonNode)new JsonObject
                {
                    ["dscp"] = c.Key >> 2, ["ecn"] = c.Key & 3, ["replies"] = c.Value,
                }).ToArray()),
                ["follow_up_reports"] = t.FollowUpReports,
                ["access_reports_echoed"] = t.AccessReportsEchoed,
            };
            if (t.LastDirectMeasurement is { } d)
            {
                tlvs["direct_measurement"] = new JsonObject { ["s_txc"] = d.SenderTransmitted, ["r_rxc"] = d.ReflectorReceived, ["r_txc"] = d.ReflectorTransmitted };
            }
            if (t.TimestampInformation is { } ti)
            {
                tlvs["timestamp_information"] = new JsonObject
                {
                    ["sync_src_in"] = ti.SyncSourceIn, ["timestamp_in"] = ti.TimestampIn, ["sync_src_out"] = ti.SyncSourceOut, ["timestamp_out"] = ti.TimestampOut,
                };
            }
            if (t.Location is { } l)
            {
                tlvs["location"] = new JsonObject
                {
                    ["destination_port"] = l.DestinationPort, ["source_port"] = l.SourcePort, ["destination"] = l.Destination, ["source"] = l.Source,
                };
            }
            root["tlvs"] = tlvs;
            root["reply_size"] = s.BackwardLength;
        }
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}
