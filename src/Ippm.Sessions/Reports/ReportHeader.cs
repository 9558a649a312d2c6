using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Ippm.Sessions.Control;
using Ippm.Wire;

namespace Ippm.Sessions.Reports;

/// <summary>
/// What twping and owping reports share, written the same way by both: the heading, the mode and key line, and the
/// JSON members that say what was asked for and between which endpoints (docs/json-report.md).
/// </summary>
public sealed record ReportHeader
{
    public required string Tool { get; init; }
    public required string Server { get; init; }
    public required SecurityMode Mode { get; init; }
    public KeySource KeySource { get; init; }
    public (ulong SpiI, ulong SpiR)? IkeSpis { get; init; }
    public string? PeerIdentity { get; init; }
    public bool Interrupted { get; init; }

    /// <summary>Who stopped the measurement early: the server (it ended the test) rather than the user.</summary>
    public bool EndedByServer { get; init; }

    public MeasurementRequest? Request { get; init; }
    public IPEndPoint? LocalControl { get; init; }
    public IPEndPoint? PeerControl { get; init; }
    public int? LocalTestPort { get; init; }
    public int? PeerTestPort { get; init; }

    /// <summary>Where the key came from, in words; open mode needs none, and says so once.</summary>
    public static string DescribeKeySource(KeySource source, (ulong SpiI, ulong SpiR)? spis) => source switch
    {
        KeySource.Ikev2 when spis is { } s => $"key from IKEv2 SA {s.SpiI:x16}/{s.SpiR:x16} (RFC 7717)",
        KeySource.Ikev2 => "key from IKEv2 (RFC 7717)",
        KeySource.Passphrase => "key from passphrase",
        _ => "no key",
    };

    /// <summary>The word for a key source in JSON and logs.</summary>
    public static string KeySourceWord(KeySource source) => source switch
    {
        KeySource.Passphrase => "passphrase",
        KeySource.Ikev2 => "ikev2",
        _ => "none",
    };

    /// <summary><c>--- twping statistics to HOST ---</c> and the lines every section of both tools starts with.</summary>
    public void AppendHeading(StringBuilder b, string direction, SessionId sid, NtpTimestamp? first, NtpTimestamp? last)
    {
        var inv = CultureInfo.InvariantCulture;
        b.AppendLine(inv, $"--- {Tool} statistics {direction} {Server} ---");
        b.AppendLine(inv, $"mode:\t{Mode.Name()}, {DescribeKeySource(KeySource, IkeSpis)}");
        if (PeerIdentity is not null)
        {
            b.AppendLine(inv, $"peer identity:\t{Control.ControlHandshake.LogSafe(PeerIdentity)}{(KeySource == KeySource.Ikev2 ? " (IKEv2, verified)" : "")}");
        }
        b.AppendLine(inv, $"SID:\t{sid}");
        if (first is { } f && last is { } l)
        {
            b.AppendLine(inv, $"first:\t{Timestamp(f)}");
            b.AppendLine(inv, $"last:\t{Timestamp(l)}");
        }
        if (Interrupted)
        {
            b.AppendLine(EndedByServer
                ? "interrupted: the server ended the test (Stop-Sessions); the figures cover the packets sent until then"
                : "interrupted: sending stopped early; the figures cover the packets sent until then");
        }
    }

    /// <summary>The members before the statistics, in this order, for both tools.</summary>
    public void WriteJson(Utf8JsonWriter w)
    {
        w.WriteString("protocol", Tool == "twping" ? "twamp" : "owamp");
        w.WriteString("server", Server);
        w.WriteString("mode", Mode.Name());
        w.WriteString("key_source", KeySourceWord(KeySource));
        if (IkeSpis is { } s)
        {
            w.WriteString("spi_i", s.SpiI.ToString("x16", CultureInfo.InvariantCulture));
            w.WriteString("spi_r", s.SpiR.ToString("x16", CultureInfo.InvariantCulture));
        }
        w.WriteString("peer_identity", PeerIdentity);
        w.WriteBoolean("interrupted", Interrupted);
        w.WriteString("interrupted_by", !Interrupted ? null : EndedByServer ? "server" : "user");
        w.WriteStartObject("request");
        if (Request is { } r)
        {
            w.WriteNumber("count", r.Count);
            WriteNumberOrNull(w, "interval_s", r.IntervalSeconds);
            w.WriteString("schedule", r.Schedule);
            w.WriteNumber("padding", r.Padding);
            w.WriteNumber("dscp", r.Dscp);
            WriteNumberOrNull(w, "timeout_s", r.Timeout.TotalSeconds);
        }
        w.WriteEndObject();
        WriteEndpoint(w, "local", LocalControl, LocalTestPort);
        WriteEndpoint(w, "peer", PeerControl, PeerTestPort);
    }

    private static void WriteEndpoint(Utf8JsonWriter w, string name, IPEndPoint? control, int? testPort)
    {
        w.WriteStartObject(name);
        IPAddress? address = control?.Address;
        w.WriteString("address", address is null ? null : (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString());
        if (control is null)
        {
            w.WriteNull("control_port");
        }
        else
        {
            w.WriteNumber("control_port", control.Port);
        }
        if (testPort is { } port)
        {
            // TWAMP's one test session; OWAMP's directions carry their own ports.
            w.WriteNumber("test_port", port);
        }
        w.WriteEndObject();
    }

    public static string Timestamp(NtpTimestamp t) =>
        t.ToDateTimeOffset().ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);

    /// <summary>Milliseconds for people: three decimals, and never "-0" (a value that rounds to zero is zero).</summary>
    public static string Ms(double seconds)
    {
        if (!double.IsFinite(seconds))
        {
            return "n/a";
        }
        double ms = Math.Round(seconds * 1000, 3);
        return (ms == 0 ? 0 : ms).ToString("0.###", CultureInfo.InvariantCulture);
    }

    /// <summary>A JSON number rounded to 6 decimals (never -0), or null when not finite.</summary>
    public static void WriteNumberOrNull(Utf8JsonWriter w, string name, double value)
    {
        if (double.IsFinite(value))
        {
            double rounded = Math.Round(value, 6);
            w.WriteNumber(name, rounded == 0 ? 0 : rounded);
        }
        else
        {
            w.WriteNull(name);
        }
    }
}
