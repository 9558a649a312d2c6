using System.Globalization;
using System.Text;
using System.Text.Json;
using Ippm.Sessions.Reports;
using Ippm.Sessions.Twamp;
using Ippm.Statistics;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;

namespace Ippm.Sessions.Owamp;

/// <summary>
/// Statistics of one OWAMP direction (RFC 4656 §4.2; RFC 7679 one-way delay, RFC 7680 loss, RFC 4737
/// reordering, RFC 3393 IPDV). Delays are reported as measured: with unsynchronised clocks they can be
/// negative, which is counted and flagged rather than hidden.
/// </summary>
public sealed record OwampDirectionReport
{
    public required OwampDirectionData Data { get; init; }
    public required long Sent { get; init; }
    public required long Skipped { get; init; }
    public required long Received { get; init; }
    public required long Lost { get; init; }
    public required long Duplicates { get; init; }
    public required long Reordered { get; init; }
    public required DelayStatistics Delay { get; init; }
    public required DelayStatistics Ipdv { get; init; }
    public required long NegativeDelays { get; init; }
    public required bool ClocksSynchronized { get; init; }
    public required double MaxError { get; init; }
    public required (int Min, int Max)? Hops { get; init; }

    public double LossRatio => Sent == 0 ? 0 : (double)Lost / Sent;

    /// <summary>Send times of the first and last packet sent (scheduled times for lost ones); null when none was sent.</summary>
    public NtpTimestamp? FirstSend { get; init; }
    public NtpTimestamp? LastSend { get; init; }

    /// <summary>This direction's test ports (local, peer), for the JSON report.</summary>
    public (int Local, int Peer)? Ports { get; init; }

    public static OwampDirectionReport Create(OwampDirectionData data)
    {
        var skipped = new HashSet<uint>();
        foreach (SkipRange range in data.SkipRanges)
        {
            for (ulong s = range.First; s <= range.Last && s < data.NextSeqno; s++)
            {
                skipped.Add((uint)s);
            }
        }
        OwampDataRecord[] arrived = data.Records.Where(r => !r.IsLost && r.SequenceNumber < data.NextSeqno).ToArray();
        var firstBySeq = new Dictionary<uint, OwampDataRecord>();
        foreach (OwampDataRecord r in arrived)
        {
            firstBySeq.TryAdd(r.SequenceNumber, r);
        }
        long sent = data.NextSeqno - skipped.Count;
        long received = firstBySeq.Keys.Count(s => !skipped.Contains(s));
        SequenceAnalysis order = SequenceAnalysis.Analyze(data.NextSeqno, arrived.Select(r => r.SequenceNumber));
        static double Delay(OwampDataRecord r) => NtpTimestamp.DifferenceSeconds(r.ReceiveTime, r.SendTime);
        int[] hops = arrived.Select(r => 255 - r.Ttl).ToArray();
        OwampDataRecord[] sentRecords = data.Records.Where(r => r.SequenceNumber < data.NextSeqno).ToArray();
        return new OwampDirectionReport
        {
            FirstSend = sentRecords.Length == 0 ? null : sentRecords.MinBy(r => r.SendTime.Value)!.SendTime,
            LastSend = sentRecords.Length == 0 ? null : sentRecords.MaxBy(r => r.SendTime.Value)!.SendTime,
            Data = data,
            Sent = sent,
            Skipped = skipped.Count,
            Received = received,
            Lost = sent - received,
            Duplicates = order.Duplicates,
            Reordered = order.Reordered,
            Delay = DelayStatistics.From(firstBySeq.Values.Select(Delay)),
            Ipdv = DelayStatistics.From(Ippm.Statistics.Ipdv.Compute(firstBySeq.ToDictionary(p => p.Key, p => Delay(p.Value)))),
            NegativeDelays = firstBySeq.Values.Count(r => Delay(r) < 0),
            ClocksSynchronized = arrived.Length > 0 && arrived.All(r => r.SendError.IsSynchronized && r.ReceiveError.IsSynchronized),
            MaxError = arrived.Length == 0 ? double.NaN : arrived.Max(r => r.SendError.Seconds + r.ReceiveError.Seconds),
            Hops = hops.Length == 0 ? null : (hops.Min(), hops.Max()),
        };
    }

    public void WriteJson(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("sid", Data.Sid.ToString());
        if (Ports is { } p)
        {
            w.WriteNumber("local_port", p.Local);
            w.WriteNumber("peer_port", p.Peer);
        }
        w.WriteString("first_send", FirstSend is { } f ? f.ToDateTimeOffset().ToString("O", CultureInfo.InvariantCulture) : null);
        w.WriteString("last_send", LastSend is { } l ? l.ToDateTimeOffset().ToString("O", CultureInfo.InvariantCulture) : null);
        w.WriteNumber("sent", Sent);
        w.WriteNumber("received", Received);
        w.WriteNumber("lost", Lost);
        w.WriteNumber("loss_percent", LossRatio * 100);
        w.WriteNumber("duplicates", Duplicates);
        w.WriteNumber("reordered", Reordered);
        w.WriteNumber("skipped", Skipped);
        w.WriteNumber("malformed", Data.Malformed);
        w.WriteNumber("bad_hmac", Data.BadHmac);
        TwampReport.WriteDelay(w, "delay_ms", Delay);
        TwampReport.WriteDelay(w, "ipdv_ms", Ipdv);
        w.WriteNumber("negative_delays", NegativeDelays);
        w.WriteBoolean("clocks_synchronized", ClocksSynchronized);
        TwampReport.WriteNumberOrNull(w, "error_ms", MaxError * 1000);
        if (Hops is { } h)
        {
            w.WriteStartObject("hops");
            w.WriteNumber("min", h.Min);
            w.WriteNumber("max", h.Max);
            w.WriteEndObject();
        }
        else
        {
            w.WriteNull("hops");
        }
        w.WriteEndObject();
    }

    public void AppendHuman(StringBuilder b, ReportHeader header, string direction)
    {
        var inv = CultureInfo.InvariantCulture;
        static string Ms(double s) => ReportHeader.Ms(s);
        header.AppendHeading(b, direction, Data.Sid, FirstSend, LastSend);
        b.AppendLine(inv, $"{Sent} sent, {Lost} lost ({LossRatio * 100:0.000}%), {Duplicates} duplicates, {Reordered} reordered{(Skipped > 0 ? $", {Skipped} skipped" : "")}");
        string flag = ClocksSynchronized ? "" : " [clocks unsynchronised]";
        b.AppendLine(inv, $"one-way delay min/median/max = {Ms(Delay.Min)}/{Ms(Delay.Median)}/{Ms(Delay.Max)} ms, p95 {Ms(Delay.P95)} ms, (err={Ms(MaxError)} ms){flag}");
        if (NegativeDelays > 0)
        {
            b.AppendLine(inv, $"{NegativeDelays} packet(s) arrived before they were sent by the clocks' account: the clocks disagree");
        }
        b.AppendLine(inv, $"one-way jitter = {Ms(Delay.Jitter)} ms (P95-P50), IPDV min/median/max = {Ms(Ipdv.Min)}/{Ms(Ipdv.Median)}/{Ms(Ipdv.Max)} ms");
        b.AppendLine(inv, $"hops = {(Hops is { } h ? (h.Min == h.Max ? $"{h.Min} (consistently)" : $"takes {h.Min}..{h.Max} hops") : "unknown")}");
        if (Data.Malformed + Data.BadHmac > 0)
        {
            b.AppendLine(inv, $"discarded: {Data.Malformed} malformed, {Data.BadHmac} bad HMAC");
        }
    }
}

/// <summary>An owping report: outbound (client → server) and inbound (server → client).</summary>
public sealed class OwampReport
{
    public required string Server { get; init; }
    public required OwampResult Result { get; init; }
    public OwampDirectionReport? Outbound { get; init; }
    public OwampDirectionReport? Inbound { get; init; }

    public static OwampReport Create(string server, OwampResult result) => new()
    {
        Server = server,
        Result = result,
        Outbound = result.Outbound is null ? null : OwampDirectionReport.Create(result.Outbound) with { Ports = result.OutboundPorts },
        Inbound = result.Inbound is null ? null : OwampDirectionReport.Create(result.Inbound) with { Ports = result.InboundPorts },
    };

    /// <summary>The heading and the JSON members both tools share.</summary>
    public ReportHeader Header => new()
    {
        Tool = "owping",
        Server = Server,
        Mode = Result.Mode,
        KeySource = Result.KeySource,
        IkeSpis = Result.IkeSpis,
        PeerIdentity = Result.PeerIdentity,
        Interrupted = Result.Interrupted,
        EndedByServer = Result.EndedByServer,
        Request = Result.Request,
        LocalControl = Result.LocalControl,
        PeerControl = Result.PeerControl,
    };

    public void WriteJson(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        Header.WriteJson(w);
        w.WriteNumber("packet_size", Result.PacketLength);
        w.WritePropertyName("outbound");
        if (Outbound is null)
        {
            w.WriteNullValue();
        }
        else
        {
            Outbound.WriteJson(w);
        }
        w.WritePropertyName("inbound");
        if (Inbound is null)
        {
            w.WriteNullValue();
        }
        else
        {
            Inbound.WriteJson(w);
        }
        w.WriteEndObject();
    }

    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            WriteJson(writer);
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    public string ToHumanReadable()
    {
        var b = new StringBuilder();
        ReportHeader header = Header;
        Outbound?.AppendHuman(b, header, "to");
        if (Outbound is not null && Inbound is not null)
        {
            b.AppendLine();
        }
        Inbound?.AppendHuman(b, header, "from");
        return b.ToString();
    }
}
