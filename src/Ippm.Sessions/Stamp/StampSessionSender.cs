using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Security.Cryptography;
using Ippm.Security;
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

    public bool AnyTlv => ExtraPadding is not null || ClassOfService || TimestampInformation || DirectMeasurement || FollowUpTelemetry
        || Location || AccessReport is not null || HmacTlv || UnknownTlvType is not null;
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
/// The STAMP Session-Sender (RFC 8762 §4.2): one thread sends on the schedule, another timestamps replies (kernel
/// T4, TTL and TOS) and matches them by Session-Sender Sequence Number, whether the reflector is stateful or stateless.
/// </summary>
public static class StampSessionSender
{
    private const int BatchSize = 64;

    public static Task<StampSessionResult> RunAsync(UdpTestSocket socket, StampSenderOptions options, CancellationToken cancellationToken) =>
        Task.Factory.StartNew(() => Run(socket, options, cancellationToken), cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

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

    public static int TlvLength(StampSenderOptions options) => WriteTlvTemplate(options, new byte[70_000], out _, out _);

    private static StampSessionResult Run(UdpTestSocket socket, StampSenderOptions options, CancellationToken cancellationToken)
    {
        int count = options.Count;
        bool auth = options.Authenticated;
        int baseLength = StampLayout.BaseLength(auth);
        byte[] template = new byte[70_000];
        int tlvLength = WriteTlvTemplate(options, template, out int directAt, out int hmacAt);
        int packetLength = baseLength + tlvLength;
        var sendTimes = new ulong[count];
        var sendErrors = new ErrorEstimate[count];
        var replies = new List<TwampSample>(Math.Min(count, 1 << 20));
        var summary = new StampTlvSummary();
        long late = 0, malformed = 0, badHmac = 0;
        int uniqueReplies = 0;
        var seen = new bool[count];
        long sentCount = 0;
        long stopReceivingAt = long.MaxValue;
        int backwardLength = 0;
        byte[]? macKey = options.Key ?? options.TlvKey;
        using var sendKey = macKey is null ? null : new StampAuthenticator(macKey);
        using var receiveKey = macKey is null ? null : new StampAuthenticator(macKey);
        SystemClock clock = SystemClock.Instance;
        socket.EnableTrafficClassAndLocalAddress();
        if (options.Dscp != 0)
        {
            socket.SetDscp(options.Dscp);
        }

        var receiver = new Thread(() =>
        {
            using var batch = new DatagramBatch(BatchSize, Math.Max(2048, packetLength + 64), addressed: socket.IsNative);
            double timeoutSeconds = options.Timeout.TotalSeconds;
            while (Environment.TickCount64 < Interlocked.Read(ref stopReceivingAt) && !cancellationToken.IsCancellationRequested && uniqueReplies < count)
            {
                int received = socket.ReceiveBatch(batch);
                long sentSoFar = Interlocked.Read(ref sentCount);
                for (int i = 0; i < received; i++)
                {
                    Span<byte> packet = batch.Datagram(i);
                    if (StampReflectorPacket.TryRead(packet, auth, out StampReflectorPacket reply) != OperationStatus.Done)
                    {
                        if (packet.Length > 0)
                        {
                            malformed++;
                        }
                        continue;
                    }
                    if (auth && !receiveKey!.Verify(packet))
                    {
                        badHmac++;
                        continue;
                    }
                    uint seq = reply.SenderSequenceNumber;
                    if (seq >= sentSoFar)
                    {
                        malformed++;
                        continue;
                    }
                    var t1 = new NtpTimestamp(Volatile.Read(ref sendTimes[seq]));
                    NtpTimestamp t4 = batch.ReceiveTime(i);
                    if (NtpTimestamp.DifferenceSeconds(t4, t1) > timeoutSeconds)
                    {
                        late++;
                        continue;
                    }
                    backwardLength = packet.Length;
                    if (packet.Length > baseLength)
                    {
                        ReadReplyTlvs(packet, baseLength, receiveKey, summary);
                    }
                    if (batch.Addressed && batch.TrafficClass(i) >= 0)
                    {
                        int tc = batch.TrafficClass(i);
                        summary.BackwardTrafficClass[tc] = summary.BackwardTrafficClass.GetValueOrDefault(tc) + 1;
                    }
                    byte ttl = batch.Ttl(i);
                    // The reflector's Error Estimate says in which format its T2 and T3 are (Z bit, RFC 8762 §4.3.1).
                    bool ptpReply = reply.ErrorEstimate.IsPtpFormat;
                    replies.Add(new TwampSample(
                        seq, reply.SequenceNumber, t1,
                        StampTimestamp.Decode(reply.ReceiveTimestamp.Value, ptpReply), StampTimestamp.Decode(reply.Timestamp.Value, ptpReply), t4,
                        sendErrors[seq], reply.ErrorEstimate, reply.SenderTtl, ttl == 0 ? null : ttl));
                    if (!seen[seq])
                    {
                        seen[seq] = true;
                        uniqueReplies++;
                    }
                }
            }
        })
        { IsBackground = true, Name = "stamp-sender receive", Priority = ThreadPriority.AboveNormal };
        receiver.Start();

        var lateness = new float[count];
        try
        {
            using var outgoing = new DatagramBatch(BatchSize, packetLength);
            for (int i = 0; i < BatchSize; i++)
            {
                template.AsSpan(0, tlvLength).CopyTo(outgoing.Slot(i)[baseLength..]);
                outgoing.SetLength(i, packetLength);
            }
            var random = new Random();
            long startTicks = Stopwatch.GetTimestamp();
            double nextOffset = 0;
            int seqNext = 0;
            while (seqNext < count && !cancellationToken.IsCancellationRequested)
            {
                double elapsed = (Stopwatch.GetTimestamp() - startTicks) / (double)Stopwatch.Frequency;
                int burst = 0;
                while (seqNext + burst < count && burst < BatchSize && nextOffset <= elapsed)
                {
                    lateness[seqNext + burst] = (float)(elapsed - nextOffset);
                    burst++;
                    nextOffset += options.Schedule.Exponential ? -options.Schedule.IntervalSeconds * Math.Log(1.0 - random.NextDouble()) : options.Schedule.IntervalSeconds;
                }
                if (burst == 0)
                {
                    Wait(nextOffset - elapsed);
                    continue;
                }
                // T1 is read once for everything already due, right before the packets are signed and sent.
                NtpTimestamp now = clock.Now();
                ErrorEstimate error = clock.ErrorEstimate;
                for (int b = 0; b < burst; b++)
                {
                    int seq = seqNext + b;
                    Span<byte> packet = outgoing.Slot(b)[..packetLength];
                    new StampSenderPacket((uint)seq, new NtpTimestamp(StampTimestamp.Encode(now, options.PtpTimestamps)), StampTimestamp.WithFormat(error, options.PtpTimestamps), options.Ssid).Write(packet, auth);
                    Span<byte> tlvs = packet[baseLength..];
                    if (directAt >= 0)
                    {
                        // S_TxC: in-profile packets sent so far, this one included (RFC 8972 §4.5).
                        BinaryPrimitives.WriteUInt32BigEndian(tlvs[(directAt + 4)..], (uint)(seq + 1));
                    }
                    if (hmacAt >= 0 && sendKey is not null)
                    {
                        sendKey.ComputeTlvMac(packet[..4], tlvs[..hmacAt], tlvs.Slice(hmacAt + 4, StampLayout.HmacLength));
                    }
                    if (auth)
                    {
                        sendKey!.Sign(packet);
                    }
                    sendErrors[seq] = error;
                    Volatile.Write(ref sendTimes[seq], now.Value);
                }
                Interlocked.Add(ref sentCount, burst);
                socket.SendBatch(outgoing, burst);
                seqNext += burst;
            }
        }
        finally
        {
            Interlocked.Exchange(ref stopReceivingAt, Environment.TickCount64 + (long)options.Timeout.TotalMilliseconds);
            receiver.Join();
        }
        int sent = (int)Interlocked.Read(ref sentCount);
        Array.Sort(lateness, 0, sent);
        var session = new TwampSessionResult(
            default, auth ? SecurityMode.Authenticated : SecurityMode.Open, sent, replies, late, malformed, badHmac,
            new NtpTimestamp(sent > 0 ? sendTimes[0] : 0), new NtpTimestamp(sent > 0 ? sendTimes[sent - 1] : 0),
            packetLength, options.Timeout)
        {
            ScheduleError = sent == 0 ? (double.NaN, double.NaN) : (lateness[(sent - 1) / 2], lateness[(int)Math.Ceiling(0.99 * sent) - 1]),
            KeySource = auth ? Control.KeySource.Passphrase : Control.KeySource.None,
        };
        return new StampSessionResult(session, summary, options.Ssid, backwardLength);
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
