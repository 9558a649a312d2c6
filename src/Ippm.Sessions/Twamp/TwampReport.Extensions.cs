using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Ippm.Sessions.Twamp;

/// <summary>
/// The parts of the report that the TWAMP extensions add: DSCP and ECN as sent, as the reflector received them
/// (RFC 7750) and as received back, with re-marking counted per direction; RFC 6038 reply sizes and reflected octets.
/// </summary>
public sealed partial class TwampReport
{
    /// <summary>One TOS value seen, and on how many packets.</summary>
    public readonly record struct TosCount(int Dscp, int Ecn, int Count);

    /// <summary>TOS octets the reflector reports having received (RFC 7750); empty when not negotiated.</summary>
    public IReadOnlyList<TosCount> ForwardTos => Tally(UniqueSamples().Select(s => s.ReflectorTos));

    /// <summary>TOS octets the replies arrived here with; empty when the platform cannot tell.</summary>
    public IReadOnlyList<TosCount> BackwardTos => Tally(UniqueSamples().Select(s => s.BackwardTos));

    /// <summary>Packets whose DSCP the reflector saw differ from the DSCP sent (forward re-marking).</summary>
    public int ForwardDscpRemarked => UniqueSamples().Count(s => s.ReflectorTos is byte t && t >> 2 != Result.SentTos >> 2);

    public int ForwardEcnChanged => UniqueSamples().Count(s => s.ReflectorTos is byte t && (t & 3) != (Result.SentTos & 3));

    /// <summary>Replies whose DSCP differs from the one the reflector was asked to send with (Type-P).</summary>
    public int BackwardDscpRemarked => UniqueSamples().Count(s => s.BackwardTos is byte t && t >> 2 != Result.RequestedDscp);

    /// <summary>Replies whose ECN is not Not-ECT, the codepoint the reflector sends.</summary>
    public int BackwardEcnChanged => UniqueSamples().Count(s => s.BackwardTos is byte t && (t & 3) != 0);

    private IEnumerable<TwampSample> UniqueSamples()
    {
        var seen = new HashSet<uint>();
        return Result.Replies.Where(s => seen.Add(s.SenderSequence));
    }

    private static TosCount[] Tally(IEnumerable<byte?> tos) =>
        tos.Where(t => t.HasValue).GroupBy(t => t!.Value).OrderByDescending(g => g.Count()).ThenBy(g => g.Key)
            .Select(g => new TosCount(g.Key >> 2, g.Key & 3, g.Count())).ToArray();

    private static string Describe(IReadOnlyList<TosCount> counts) => counts.Count == 0
        ? "unknown"
        : string.Join(", ", counts.Select(c => string.Create(CultureInfo.InvariantCulture, $"DSCP {c.Dscp} ECN {c.Ecn} x{c.Count}")));

    private void AppendExtensions(StringBuilder b)
    {
        var inv = CultureInfo.InvariantCulture;
        int sentDscp = Result.SentTos >> 2, sentEcn = Result.SentTos & 3;
        b.AppendLine(inv, $"DSCP/ECN sent: DSCP {sentDscp} ECN {sentEcn}; reflector asked to reply with DSCP {Result.RequestedDscp}");
        if (Result.DscpEcnMonitoring)
        {
            b.AppendLine(inv, $"DSCP/ECN at reflector (RFC 7750): {Describe(ForwardTos)}; re-marked forward: DSCP {ForwardDscpRemarked}, ECN {ForwardEcnChanged}");
        }
        else
        {
            b.AppendLine("DSCP/ECN at reflector: not reported (the server does not offer RFC 7750)");
        }
        b.AppendLine(inv, $"DSCP/ECN received back: {Describe(BackwardTos)}; re-marked backward: DSCP {BackwardDscpRemarked}, ECN {BackwardEcnChanged}");
        if (ForwardDscpRemarked + ForwardEcnChanged + BackwardDscpRemarked + BackwardEcnChanged > 0)
        {
            b.AppendLine("RE-MARKING DETECTED on the path");
        }
        if (Result.SymmetricalSize || Result.ReflectOctets > 0)
        {
            b.AppendLine(inv, $"RFC 6038: symmetrical size {(Result.SymmetricalSize ? "on" : "off")}, reply sizes {Result.MinReplyLength}..{Result.MaxReplyLength} octets, reflected octets {Result.ReflectOctets} (intact in {Result.ReflectedOctetsIntact} replies)");
        }
    }

    private void WriteExtensions(Utf8JsonWriter w)
    {
        w.WriteStartObject("dscp_ecn");
        w.WriteBoolean("monitoring", Result.DscpEcnMonitoring);
        w.WriteStartObject("sent");
        w.WriteNumber("dscp", Result.SentTos >> 2);
        w.WriteNumber("ecn", Result.SentTos & 3);
        w.WriteEndObject();
        w.WriteNumber("reflector_dscp", Result.RequestedDscp);
        if (Result.DscpEcnMonitoring)
        {
            WriteTos(w, "at_reflector", ForwardTos);
            w.WriteNumber("forward_dscp_remarked", ForwardDscpRemarked);
            w.WriteNumber("forward_ecn_changed", ForwardEcnChanged);
        }
        else
        {
            w.WriteNull("at_reflector");
            w.WriteNull("forward_dscp_remarked");
            w.WriteNull("forward_ecn_changed");
        }
        WriteTos(w, "received_back", BackwardTos);
        w.WriteNumber("backward_dscp_remarked", BackwardDscpRemarked);
        w.WriteNumber("backward_ecn_changed", BackwardEcnChanged);
        w.WriteBoolean("remarked", ForwardDscpRemarked + ForwardEcnChanged + BackwardDscpRemarked + BackwardEcnChanged > 0);
        w.WriteEndObject();
        w.WriteBoolean("symmetrical_size", Result.SymmetricalSize);
        w.WriteStartObject("reply_size");
        w.WriteNumber("min", Result.MinReplyLength);
        w.WriteNumber("max", Result.MaxReplyLength);
        w.WriteEndObject();
        w.WriteStartObject("reflect_octets");
        w.WriteNumber("requested", Result.ReflectOctets);
        w.WriteNumber("intact", Result.ReflectedOctetsIntact);
        w.WriteEndObject();
    }

    private static void WriteTos(Utf8JsonWriter w, string name, IReadOnlyList<TosCount> counts)
    {
        w.WriteStartArray(name);
        foreach (TosCount c in counts)
        {
            w.WriteStartObject();
            w.WriteNumber("dscp", c.Dscp);
            w.WriteNumber("ecn", c.Ecn);
            w.WriteNumber("count", c.Count);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }
}
