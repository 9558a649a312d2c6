using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Ippm.Sessions.Telemetry;

/// <summary>
/// The server's instruments (System.Diagnostics.Metrics, meter <see cref="MeterName"/>); an exporter is attached by the
/// host (<c>--metrics-listen</c>). Every label has a small fixed set of values (no addresses, identities or SIDs).
/// Test packets are never counted one by one: a session adds its totals when it ends, so the per-packet loops do not
/// change at all.
/// </summary>
public static class ServerMetrics
{
    public const string MeterName = "Ippm.Server";

    private static readonly Meter s_meter = new(MeterName, "1.0");

    private static readonly Counter<long> s_connections = s_meter.CreateCounter<long>(
        "ippm.control.connections", "{connection}", "Control connections by protocol, mode and the Accept value of Server-Start");

    private static readonly UpDownCounter<long> s_activeSessions = s_meter.CreateUpDownCounter<long>(
        "ippm.sessions.active", "{session}", "Test sessions accepted and not yet ended");

    private static readonly Counter<long> s_sessions = s_meter.CreateCounter<long>(
        "ippm.sessions", "{session}", "Request-Session answers by protocol and Accept value");

    private static readonly Counter<long> s_reflected = s_meter.CreateCounter<long>(
        "ippm.test.packets.reflected", "{packet}", "TWAMP test packets reflected");

    private static readonly Counter<long> s_received = s_meter.CreateCounter<long>(
        "ippm.test.packets.received", "{packet}", "OWAMP test packets received");

    private static readonly Counter<long> s_malformed = s_meter.CreateCounter<long>(
        "ippm.test.datagrams.malformed", "{datagram}", "Test datagrams too short or otherwise unreadable");

    private static readonly Counter<long> s_badHmac = s_meter.CreateCounter<long>(
        "ippm.test.datagrams.bad_hmac", "{datagram}", "Protected test datagrams whose HMAC did not verify");

    private static readonly Counter<long> s_refusals = s_meter.CreateCounter<long>(
        "ippm.policy.refusals", "{refusal}", "Requests refused by the limits policy or a per-source share, by limit");

    private static readonly Counter<long> s_reloads = s_meter.CreateCounter<long>(
        "ippm.reloads", "{reload}", "Configuration reloads (SIGHUP) by outcome");

    private static readonly Counter<long> s_ikeSetups = s_meter.CreateCounter<long>(
        "ippm.ike.setups", "{sa}", "IKE SA set-ups by outcome");

    private static readonly KeyValuePair<string, object?> s_twamp = new("protocol", "twamp");
    private static readonly KeyValuePair<string, object?> s_owamp = new("protocol", "owamp");

    private static Func<long>? s_ikeSasActive;
    private static Func<long>? s_storeBytes;

    static ServerMetrics()
    {
        s_meter.CreateObservableUpDownCounter("ippm.ike.sas.active", () => s_ikeSasActive?.Invoke() ?? 0, "{sa}", "Established IKE SAs");
        s_meter.CreateObservableGauge("ippm.owamp.store.size", () => s_storeBytes?.Invoke() ?? 0, "By", "Octets of OWAMP sessions stored in the data directory");
    }

    /// <summary>Where the IKE SA count comes from (the host's SA database).</summary>
    public static void ObserveIkeSas(Func<long>? count) => s_ikeSasActive = count;

    /// <summary>Where the OWAMP store size comes from.</summary>
    public static void ObserveStoreSize(Func<long>? bytes) => s_storeBytes = bytes;

    private static KeyValuePair<string, object?> Protocol(bool twamp) => twamp ? s_twamp : s_owamp;

    /// <param name="accept">"0" for an accepted connection, "refused" when Server-Start refused it or the client declined.</param>
    public static void ControlConnection(bool twamp, string mode, string accept)
    {
        var tags = new TagList { Protocol(twamp), { "mode", mode }, { "accept", accept } };
        s_connections.Add(1, tags);
    }

    public static void SessionAnswered(bool twamp, byte accept)
    {
        var tags = new TagList { Protocol(twamp), { "accept", AcceptLabel(accept) } };
        s_sessions.Add(1, tags);
    }

    public static void SessionStarted(bool twamp) => s_activeSessions.Add(1, Protocol(twamp));

    public static void SessionEnded(bool twamp) => s_activeSessions.Add(-1, Protocol(twamp));

    /// <summary>A session's totals, added once when it ends.</summary>
    public static void SessionTotals(bool twamp, long packets, long malformed, long badHmac)
    {
        if (packets > 0)
        {
            (twamp ? s_reflected : s_received).Add(packets);
        }
        if (malformed > 0)
        {
            s_malformed.Add(malformed, Protocol(twamp));
        }
        if (badHmac > 0)
        {
            s_badHmac.Add(badHmac, Protocol(twamp));
        }
    }

    /// <param name="reason">A limits-file attribute (allow_open_mode, bandwidth, disk, test_sessions) or a server share (<see cref="Fairness.ShareRefusal"/>).</param>
    public static void PolicyRefusal(string reason) => s_refusals.Add(1, new KeyValuePair<string, object?>("reason", reason));

    /// <param name="outcome">ok or failed.</param>
    public static void Reload(string outcome) => s_reloads.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    /// <param name="outcome">A label of Ippm.Ikev2's IkeSetupOutcome: established, rekeyed, authentication_failed, identity_refused, no_proposal_chosen, invalid_ke, invalid_syntax or abandoned.</param>
    public static void IkeSetup(string outcome) => s_ikeSetups.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    private static string AcceptLabel(byte accept) => accept switch
    {
        0 => "0",
        1 => "1",
        2 => "2",
        3 => "3",
        4 => "4",
        5 => "5",
        6 => "6",
        _ => "other",
    };
}
