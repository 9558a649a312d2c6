using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Security.Cryptography;
using Ippm.Security;
using Ippm.Sessions.Engine;
using Ippm.Sessions.Time;
using Ippm.Sessions.Transport;
using Ippm.Sessions.Twamp;
using Ippm.Wire;
using Ippm.Wire.Stamp;

namespace Ippm.Sessions.Stamp;

/// <summary>What a STAMP Session-Sender sends: count and schedule as twping's, plus the RFC 8972 TLVs it asks for.</summary>
public sealed record StampSenderOptions
{
    public int Count { get; init; } = 100;
    public required SendSchedule Schedule { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>RFC 8972 §3 SSID; 0 means none.</summary>
    public ushort Ssid { get; init; }

    /// <summary>HMAC key octets: authenticated mode (RFC 8762 §4.2.2). The caller zeroes them.</summary>
    public byte[]? Key { get; init; }

    /// <summary>Key of the HMAC TLV in unauthenticated mode (RFC 8972 §4.8); in authenticated mode <see cref="Key"/> serves.</summary>
    public byte[]? TlvKey { get; init; }

    /// <summary>Octets of an Extra Padding TLV value (RFC 8972 §4.1); null for none.</summary>
    public int? ExtraPadding { get; init; }

    /// <summary>DSCP of test packets; with <see cref="ClassOfService"/> also asked of the reflector (DSCP1).</summary>
    public byte Dscp { get; init; }

    public bool ClassOfService { get; init; }
    public bool TimestampInformation { get; init; }
    public bool DirectMeasurement { get; init; }
    public bool FollowUpTelemetry { get; init; }
    public bool Location { get; init; }

    /// <summary>Access Report TLV (RFC 8972 §4.6): Access ID and Return Code, or null.</summary>
    public (byte AccessId, byte ReturnCode)? AccessReport { get; init; }

    /// <summary>HMAC TLV in unauthenticated mode (RFC 8972 §4.8: optional there, required with any other TLV when authenticated).</summary>
    public bool HmacTlv { get; init; }

    /// <summary>An unassigned TLV type to send (tests the reflector's U flag); null for none.</summary>
    public byte? UnknownTlvType { get; init; }

    public bool Authenticated => Key is not null;

    /// <summary>Send T1 in PTPv2 truncated format with Z = 1 (RFC 8762 §4.2.1); replies are decoded by their own Z bit.</summary>
    public bool PtpTimestamps { get; init; }
}

/// <summary>What the reflector said in its TLVs over the session (RFC 8972), aggregated for the report.</summary>
public sealed class StampTlvSummary
{
    public long RepliesWithTlvs { get; internal set; }
    public long Unrecognized { get; internal set; }
    public long Malformed { get; internal set; }
    public long IntegrityFailed { get; internal set; }

    /// <summary>Class of Service answers: DSCP2 / ECN the reflector received, RP, and the TOS the replies arrived with.</summary>
    public Dictionary<(byte Dscp2, byte Ecn, byte Rp), long> ClassOfService { get; } = [];
    public Dictionary<int, long> BackwardTrafficClass { get; } = [];

    public DirectMeasurementTlv? LastDirectMeasurement { get; internal set; }
    public TimestampInformationTlv? TimestampInformation { get; internal set; }
    public long FollowUpReports { get; internal set; }
    public (ushort DestinationPort, ushort SourcePort, string? Destination, string? Source)? Location { get; internal set; }
    public long AccessReportsEchoed { get; internal set; }
}

/// <summary>The outcome of a STAMP session: the same samples and counts twping reports, and the TLV answers.</summary>
public sealed record StampSessionResult(TwampSessionResult Session, StampTlvSummary Tlvs, ushort Ssid, int BackwardLength);

/// <summary>
/// The STAMP Session-Sender (RFC 8762 §4.2): sends on the schedule, timestamps replies (kernel T4, TTL and TOS) and
/// matches them by Session-Sender Sequence Number, whether the reflector is stateful or stateless. On Linux a session
/// of the shared <see cref="SessionEngine"/> (the loop's timer sends, its readiness receives), elsewhere or with
/// <c>IPPM_SESSION_ENGINE=0</c> a send thread and a receive thread; both through <see cref="StampSenderState"/>.
/// </summary>
public static class StampSessionSender
{
    private const int BatchSize = 64;

    /// <param name="engine">The engine to send on; null for <see cref="SessionEngine.Shared"/> (threads where there is none).</param>
    public static Task<StampSessionResult> RunAsync(UdpTestSocket socket, StampSenderOptions options, CancellationToken cancellationToken, SessionEngine? engine = null)
    {
        SessionEngine? chosen = socket.IsNative ? engine ?? SessionEngine.Shared : null;
        if (chosen is not null)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                return Task.FromCanceled<StampSessionResult>(cancellationToken);
            }
            var state = new StampSenderState(socket, options);
            return ScheduledSenderSession<StampSessionResult>.Start(chosen, socket, state, state.Result, options.Timeout, cancellationToken);
        }
        return Task.Factory.StartNew(() => Run(socket, options, cancellationToken), cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    /// <summary>Writes the TLV area every packet of the session carries, U = 1 on each (RFC 8972 §4); returns its length.</summary>
    public static int WriteTlvTemplate(StampSenderOptions options, Span<byte> tlvs, out int directMeasurementAt, out int hmacAt)
    {
        directMeasurementAt = -1;
        hmacAt = -1;
        int o = 0;
        const StampTlvFlags u = StampTlvFlags.Unrecognized;
        if (options.ClassOfService)
        {
            StampTlv.WriteHeader(tlvs[o..], u, StampTlvType.ClassOfService, ClassOfServiceTlv.Length);
            new ClassOfServiceTlv(options.Dscp, 0, 0, 0).Write(tlvs[(o + 4)..]);
            o += 4 + ClassOfServiceTlv.Length;
        }
        if (options.TimestampInformation)
        {
            StampTlv.WriteHeader(tlvs[o..], u, StampTlvType.TimestampInformation, TimestampInformationTlv.Length);
            tlvs.Slice(o + 4, TimestampInformationTlv.Length).Clear();
            o += 4 + TimestampInformationTlv.Length;
        }
        if (options.DirectMeasurement)
        {
            StampTlv.WriteHeader(tlvs[o..], u, StampTlvType.DirectMeasurement, DirectMeasurementTlv.Length);
            tlvs.Slice(o + 4, DirectMeasurementTlv.Length).Clear();
            directMeasurementAt = o;
            o += 4 + DirectMeasurementTlv.Length;
        }
        if (options.FollowUpTelemetry)
        {
            StampTlv.WriteHeader(tlvs[o..], u, StampTlvType.FollowUpTelemetry, FollowUpTelemetryTlv.Length);
            tlvs.Slice(o + 4, FollowUpTelemetryTlv.Length).Clear();
            o += 4 + FollowUpTelemetryTlv.Length;
        }
        if (options.Location)
        {
            StampTlv.WriteHeader(tlvs[o..], u, StampTlvType.Location, LocationTlv.RequestLength);
            LocationTlv.WriteRequest(tlvs[(o + 4)..]);
            o += 4 + LocationTlv.RequestLength;
        }
        if (options.AccessReport is { } report)
        {
            StampTlv.WriteHeader(tlvs[o..], u, StampTlvType.AccessReport, AccessReportTlv.Length);
            new AccessReportTlv(report.AccessId, report.ReturnCode).Write(tlvs[(o + 4)..]);
            o += 4 + AccessReportTlv.Length;
        }
        if (options.UnknownTlvType is { } unknown)
        {
            StampTlv.WriteHeader(tlvs[o..], u, (StampTlvType)unknown, 4);
            tlvs.Slice(o + 4, 4).Clear();
            o += 8;
        }
        bool onlyPadding = o == 0;
        if (options.HmacTlv || (options.Authenticated && !onlyPadding))
        {
            StampTlv.WriteHeader(tlvs[o..], u, StampTlvType.Hmac, StampLayout.HmacLength);
            tlvs.Slice(o + 4, StampLayout.HmacLength).Clear();
            hmacAt = o;
            o += 4 + StampLayout.HmacLength;
        }
        if (options.ExtraPadding is { } padding)
        {
            // After the HMAC TLV, where RFC 8972 §4.8 allows it, so the (pseudo-random) padding is not hashed.
            StampTlv.WriteHeader(tlvs[o..], u, StampTlvType.ExtraPadding, padding);
            RandomNumberGenerator.Fill(tlvs.Slice(o + 4, padding));
            o += 4 + padding;
        }
        return o;
    }

    private static StampSessionResult Run(UdpTestSocket socket, StampSenderOptions options, CancellationToken cancellationToken)
    {
        using var state = new StampSenderState(socket, options);
        long stopReceivingAt = long.MaxValue;
        var receiver = new Thread(() =>
        {
            using DatagramBatch batch = state.CreateReceiveBatch();
            while (Environment.TickCount64 < Interlocked.Read(ref stopReceivingAt) && !cancellationToken.IsCancellationRequested && state.UniqueReplies < options.Count)
            {
                state.AcceptReplies(batch, socket.ReceiveBatch(batch));
            }
        })
        { IsBackground = true, Name = "stamp-sender receive", Priority = ThreadPriority.AboveNormal };
        receiver.Start();

        try
        {
            using var outgoing = new DatagramBatch(BatchSize, state.PacketLength);
            state.PrepareOutgoing(outgoing);
            long startTicks = Stopwatch.GetTimestamp();
            while (!state.AllSent && !cancellationToken.IsCancellationRequested)
            {
                double elapsed = (Stopwatch.GetTimestamp() - startTicks) / (double)Stopwatch.Frequency;
                int burst = state.TakeDue(elapsed, BatchSize, 0);
                if (burst == 0)
                {
                    Wait(state.NextOffset - elapsed);
                    continue;
                }
                state.SendBurst(socket, outgoing, burst, wait: true);
            }
        }
        finally
        {
            Interlocked.Exchange(ref stopReceivingAt, Environment.TickCount64 + (long)options.Timeout.TotalMilliseconds);
            receiver.Join();
        }
        return state.Result();
    }

    /// <summary>
    /// Reads the reflector's TLVs (RFC 8972 §4, §4.8): the HMAC TLV is verified first; an I flag or a failed HMAC
    /// stops TLV processing, an M flag stops at that TLV, a U flag means the reflector did not understand it.
    /// </summary>
    public static void ReadReplyTlvs(ReadOnlySpan<byte> packet, int baseLength, StampAuthenticator? key, StampTlvSummary summary)
    {
        ReadOnlySpan<byte> tlvs = packet[baseLength..];
        summary.RepliesWithTlvs++;
        int offset = 0;
        int hmacAt = -1;
        bool integrityFlag = false;
        while (offset < tlvs.Length && StampTlv.TryRead(tlvs, offset, out StampTlv tlv) == OperationStatus.Done)
        {
            integrityFlag |= (tlv.Flags & StampTlvFlags.IntegrityFailed) != 0;
            if (tlv.KnownType == StampTlvType.Hmac && hmacAt < 0)
            {
                hmacAt = offset;
            }
            offset = tlv.End;
        }
        bool integrityOk = !integrityFlag;
        if (integrityOk && hmacAt >= 0)
        {
            integrityOk = key is not null && key.VerifyTlvMac(packet[..4], tlvs[..hmacAt], tlvs.Slice(hmacAt + 4, StampLayout.HmacLength));
        }
        if (!integrityOk)
        {
            summary.IntegrityFailed++;
            return;
        }
        offset = 0;
        while (offset < tlvs.Length)
        {
            if (StampTlv.TryRead(tlvs, offset, out StampTlv tlv) != OperationStatus.Done || (tlv.Flags & StampTlvFlags.Malformed) != 0)
            {
                summary.Malformed++;
                return;
            }
            if ((tlv.Flags & StampTlvFlags.Unrecognized) != 0)
            {
                summary.Unrecognized++;
                offset = tlv.End;
                continue;
            }
            ReadOnlySpan<byte> value = tlvs.Slice(tlv.ValueOffset, tlv.Length);
            switch (tlv.KnownType)
            {
                case StampTlvType.ClassOfService when tlv.Length == ClassOfServiceTlv.Length:
                    ClassOfServiceTlv cos = ClassOfServiceTlv.Read(value);
                    var k = (cos.Dscp2, cos.Ecn, cos.ReversePath);
                    summary.ClassOfService[k] = summary.ClassOfService.GetValueOrDefault(k) + 1;
                    break;
                case StampTlvType.DirectMeasurement when tlv.Length == DirectMeasurementTlv.Length:
                    summary.LastDirectMeasurement = DirectMeasurementTlv.Read(value);
                    break;
                case StampTlvType.TimestampInformation when tlv.Length >= TimestampInformationTlv.Length:
                    summary.TimestampInformation = TimestampInformationTlv.Read(value);
                    break;
                case StampTlvType.FollowUpTelemetry when tlv.Length == FollowUpTelemetryTlv.Length:
                    if (!FollowUpTelemetryTlv.Read(value).FollowUpTimestamp.IsZero)
                    {
                        summary.FollowUpReports++;
                    }
                    break;
                case StampTlvType.Location when tlv.Length >= LocationTlv.FixedLength:
                    summary.Location = ReadLocation(value);
                    break;
                case StampTlvType.AccessReport:
                    summary.AccessReportsEchoed++;
                    break;
                default:
                    break;
            }
            offset = tlv.End;
        }
    }

    private static (ushort, ushort, string?, string?) ReadLocation(ReadOnlySpan<byte> value)
    {
        string? destination = null, source = null;
        int offset = LocationTlv.FixedLength;
        while (offset < value.Length && StampTlv.TryRead(value, offset, out StampTlv sub) == OperationStatus.Done)
        {
            ReadOnlySpan<byte> v = value.Slice(sub.ValueOffset, sub.Length);
            switch ((LocationSubTlvType)sub.Type)
            {
                case LocationSubTlvType.DestinationIpv4Address when v.Length >= 4:
                    destination = new System.Net.IPAddress(v[..4]).ToString();
                    break;
                case LocationSubTlvType.DestinationIpv6Address when v.Length >= 16:
                    destination = new System.Net.IPAddress(v[..16]).ToString();
                    break;
                case LocationSubTlvType.SourceIpv4Address when v.Length >= 4:
                    source = new System.Net.IPAddress(v[..4]).ToString();
                    break;
                case LocationSubTlvType.SourceIpv6Address when v.Length >= 16:
                    source = new System.Net.IPAddress(v[..16]).ToString();
                    break;
                default:
                    break;
            }
            offset = sub.End;
        }
        return (BinaryPrimitives.ReadUInt16BigEndian(value), BinaryPrimitives.ReadUInt16BigEndian(value[2..]), destination, source);
    }

    private static void Wait(double seconds)
    {
        if (seconds > 0.002)
        {
            Thread.Sleep(TimeSpan.FromSeconds(seconds - 0.001));
        }
        else if (!Thread.Yield())
        {
            Thread.SpinWait(10);
        }
    }
}
