using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Ippm.Sessions.Owamp;
using Ippm.Sessions.Twamp;
using Ippm.Wire;
using Ippm.Wire.Test;

namespace Ippm.Agent;

/// <summary>
/// The archive's lines (format agreed with <c>ippm plot</c>; README "Continuous measurement"): one JSON object per
/// session or failed attempt, the agent's members first (<c>archive_version</c>, <c>test</c>, <c>target</c>,
/// <c>protocol</c>, <c>mode</c>, <c>start_time</c>, <c>end_time</c>, <c>outcome</c>, <c>error</c>), then every member of
/// the tool's <c>--json</c> report (docs/json-report.md) at the same level. The reports also carry <c>protocol</c> and
/// <c>mode</c>, with the same words; the agent's copy is the one kept. Per-packet lines go to a separate file.
/// </summary>
public static class SessionRecord
{
    public const int ArchiveVersion = 1;

    private static readonly JsonWriterOptions s_compact = new() { Indented = false };

    private static readonly HashSet<string> s_agentMembers =
        ["archive_version", "test", "target", "protocol", "mode", "start_time", "end_time", "outcome", "error"];

    /// <param name="report">The report's JSON object (<see cref="TwampReport.WriteJson"/>, <see cref="OwampReport.WriteJson"/>) or null.</param>
    public static byte[] Summary(AgentTest test, DateTimeOffset start, DateTimeOffset end, SessionOutcome outcome, string? error, Action<Utf8JsonWriter>? report)
    {
        var buffer = new ArrayBufferWriter<byte>(report is null ? 256 : 4096);
        using (var w = new Utf8JsonWriter(buffer, s_compact))
        {
            w.WriteStartObject();
            w.WriteNumber("archive_version", ArchiveVersion);
            w.WriteString("test", test.Name);
            w.WriteString("target", test.Target);
            w.WriteString("protocol", test.ProtocolLabel);
            w.WriteString("mode", test.ModeLabel);
            w.WriteString("start_time", Iso(start));
            w.WriteString("end_time", Iso(end));
            w.WriteString("outcome", outcome.Label());
            w.WriteString("error", error is null ? null : OneLine(error));
            if (report is not null)
            {
                var inner = new ArrayBufferWriter<byte>(4096);
                using (var r = new Utf8JsonWriter(inner, s_compact))
                {
                    report(r);
                }
                using JsonDocument doc = JsonDocument.Parse(inner.WrittenMemory);
                foreach (JsonProperty member in doc.RootElement.EnumerateObject())
                {
                    if (!s_agentMembers.Contains(member.Name))
                    {
                        member.WriteTo(w);
                    }
                }
            }
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>One line per TWAMP test packet: replied ones with T1–T4, error estimates and TTLs, lost ones marked.</summary>
    public static IEnumerable<byte[]> TwampPackets(AgentTest test, TwampSessionResult result)
    {
        var first = new Dictionary<uint, TwampSample>();
        foreach (TwampSample s in result.Replies)
        {
            first.TryAdd(s.SenderSequence, s);
        }
        string sid = result.Sid.ToString();
        for (uint seq = 0; seq < (uint)result.Sent; seq++)
        {
            yield return Line(w =>
            {
                Head(w, test, sid, null, seq);
                if (!first.TryGetValue(seq, out TwampSample s))
                {
                    w.WriteBoolean("lost", true);
                    return;
                }
                w.WriteBoolean("lost", false);
                w.WriteString("send_time", Ntp(s.T1));
                w.WriteNumber("round_trip_ms", Math.Round(
                    (NtpTimestamp.DifferenceSeconds(s.T4, s.T1) - NtpTimestamp.DifferenceSeconds(s.T3, s.T2)) * 1000, 6));
                w.WriteString("t1", Ntp(s.T1));
                w.WriteString("t2", Ntp(s.T2));
                w.WriteString("t3", Ntp(s.T3));
                w.WriteString("t4", Ntp(s.T4));
                Error(w, "sender_error_ms", s.SenderError);
                Error(w, "reflector_error_ms", s.ReflectorError);
                Ttl(w, "forward_ttl", s.ForwardTtl);
                Ttl(w, "backward_ttl", s.BackwardTtl);
            });
        }
    }

    /// <summary>One line per OWAMP record of each measured direction, as the receiver kept it (lost ones marked).</summary>
    public static IEnumerable<byte[]> OwampPackets(AgentTest test, OwampResult result)
    {
        foreach ((string direction, OwampDirectionData? data) in new[] { ("outbound", result.Outbound), ("inbound", result.Inbound) })
        {
            if (data is null)
            {
                continue;
            }
            string sid = data.Sid.ToString();
            foreach (OwampDataRecord r in data.Records)
            {
                if (r.SequenceNumber >= data.NextSeqno)
                {
                    continue;
                }
                yield return Line(w =>
                {
                    Head(w, test, sid, direction, r.SequenceNumber);
                    w.WriteBoolean("lost", r.IsLost);
                    w.WriteString("send_time", Ntp(r.SendTime));
                    w.WriteString("receive_time", r.IsLost ? null : Ntp(r.ReceiveTime));
                    if (!r.IsLost)
                    {
                        w.WriteNumber("delay_ms", Math.Round(NtpTimestamp.DifferenceSeconds(r.ReceiveTime, r.SendTime) * 1000, 6));
                    }
                    Error(w, "send_error_ms", r.SendError);
                    Error(w, "receive_error_ms", r.ReceiveError);
                    Ttl(w, "ttl", r.IsLost ? null : r.Ttl);
                });
            }
        }
    }

    private static void Head(Utf8JsonWriter w, AgentTest test, string sid, string? direction, uint seq)
    {
        w.WriteString("test", test.Name);
        w.WriteString("sid", sid);
        if (direction is not null)
        {
            w.WriteString("direction", direction);
        }
        w.WriteNumber("seq", seq);
    }

    private static byte[] Line(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer, s_compact))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static void Error(Utf8JsonWriter w, string name, ErrorEstimate e)
    {
        if (e.IsValid)
        {
            w.WriteNumber(name, Math.Round(e.Seconds * 1000, 6));
        }
        else
        {
            w.WriteNull(name);
        }
        w.WriteBoolean(name.Replace("error_ms", "synchronized", StringComparison.Ordinal), e.IsSynchronized);
    }

    private static void Ttl(Utf8JsonWriter w, string name, byte? ttl)
    {
        if (ttl is { } t)
        {
            w.WriteNumber(name, t);
        }
        else
        {
            w.WriteNull(name);
        }
    }

    public static string Iso(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);

    /// <summary>An NTP timestamp as ISO 8601 UTC with 100 ns resolution (what DateTime holds).</summary>
    private static string Ntp(NtpTimestamp t) => t.ToDateTimeOffset().UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ", CultureInfo.InvariantCulture);

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");
}
