using System.Diagnostics;
using System.Net;
using Ippm.Security;
using Ippm.Sessions.Time;
using Ippm.Sessions.Transport;
using Ippm.Wire;
using Ippm.Wire.Test;

namespace Ippm.Sessions.Twamp;

/// <summary>How a Session-Sender spaces its packets.</summary>
public sealed record SendSchedule(double IntervalSeconds, bool Exponential)
{
    /// <summary>Parses twping's <c>-i</c>: seconds with an optional <c>f</c> (fixed) or <c>e</c> (exponential, default) suffix.</summary>
    public static bool TryParse(string text, out SendSchedule? schedule)
    {
        schedule = null;
        text = text.Trim();
        bool exponential = true;
        if (text.EndsWith('f') || text.EndsWith('F'))
        {
            exponential = false;
            text = text[..^1];
        }
        else if (text.EndsWith('e') || text.EndsWith('E'))
        {
            text = text[..^1];
        }
        if (!double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double seconds)
            || !(seconds >= 0) || seconds > 3600)
        {
            return false;
        }
        schedule = new SendSchedule(seconds, exponential);
        return true;
    }

    public override string ToString() => IntervalSeconds.ToString("0.######", System.Globalization.CultureInfo.InvariantCulture) + (Exponential ? "e" : "f");
}

/// <summary>What one TWAMP test session measured.</summary>
public sealed record TwampSessionResult(
    SessionId Sid,
    SecurityMode Mode,
    int Sent,
    IReadOnlyList<TwampSample> Replies,
    long Late,
    long Malformed,
    long BadHmac,
    NtpTimestamp FirstSend,
    NtpTimestamp LastSend,
    int SenderPacketLength,
    TimeSpan Timeout)
{
    /// <summary>How late packets left against their schedule: median and 99th percentile, seconds.</summary>
    public (double P50, double P99) ScheduleError { get; init; }

    /// <summary>Where the control keys came from (RFC 7717: an IKEv2 SA, with its SPIs).</summary>
    public Control.KeySource KeySource { get; init; }

    public (ulong SpiI, ulong SpiR)? IkeSpis { get; init; }

    /// <summary>The server's authenticated IKE identity (RFC 7717); null when the key is not from IKE.</summary>
    public string? PeerIdentity { get; init; }
    /// <summary>The TOS octet test packets left with (DSCP &lt;&lt; 2 | ECN) and the one the reflector was asked to use.</summary>
    public byte SentTos { get; init; }

    /// <summary>RFC 7750 was negotiated: every sample carries the TOS the reflector received.</summary>
    public bool DscpEcnMonitoring { get; init; }

    /// <summary>The DSCP requested of the reflector through Type-P (its replies should leave with it).</summary>
    public byte RequestedDscp { get; init; }

    /// <summary>RFC 6038 Symmetrical Size was negotiated.</summary>
    public bool SymmetricalSize { get; init; }

    /// <summary>RFC 6038 Reflect Octets: how many octets were asked back, and how many replies returned them intact.</summary>
    public int ReflectOctets { get; init; }

    public long ReflectedOctetsIntact { get; init; }

    /// <summary>Sizes of the replies received (octets of UDP payload); 0 when none arrived.</summary>
    public int MinReplyLength { get; init; }

    public int MaxReplyLength { get; init; }

    /// <summary>Sending stopped early (Ctrl+C): <see cref="Sent"/> counts what left, and only that is reported.</summary>
    public bool Interrupted { get; init; }

    /// <summary>The server ended the test (Stop-Sessions or closed connection) before all packets were sent.</summary>
    public bool EndedByServer { get; init; }

    public IPEndPoint? LocalControl { get; init; }
    public IPEndPoint? PeerControl { get; init; }
    public IPEndPoint? LocalTest { get; init; }
    public IPEndPoint? PeerTest { get; init; }

    /// <summary>What the user asked for, for the report.</summary>
    public Control.MeasurementRequest? Request { get; init; }

    /// <summary>T1 of every packet sent, by sequence number (32.32 values), so a lost packet's raw line (twping -R) shows when it left.</summary>
    public IReadOnlyList<ulong>? SendTimes { get; init; }
}

/// <summary>
/// The TWAMP Session-Sender (RFC 5357 §4.1): a send loop on its own thread following the schedule, and a
/// receive loop on another that timestamps replies as they arrive and matches them by Sender Sequence Number.
/// </summary>
public static class TwampSessionSender
{
    public static Task<TwampSessionResult> RunAsync(
        UdpTestSocket socket,
        SessionId sid,
        SecurityMode mode,
        Func<TestPacketCipher>? createCipher,
        int count,
        SendSchedule schedule,
        int paddingLength,
        TimeSpan timeout,
        CancellationToken cancellationToken,
        TwampTestFormat? format = null,
        int reflectOctets = 0)
    {
        TwampTestFormat f = format ?? new TwampTestFormat(mode.ProtectsTestPackets(), false, false);
        // The token stops sending only; the thread always runs, so replies in flight are still collected.
        return Task.Factory.StartNew(
            () => Run(socket, sid, mode, createCipher, count, schedule, paddingLength, timeout, f, reflectOctets, cancellationToken),
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
    }

    private const int BatchSize = 64;

    private static TwampSessionResult Run(
        UdpTestSocket socket, SessionId sid, SecurityMode mode, Func<TestPacketCipher>? createCipher, int count,
        SendSchedule schedule, int paddingLength, TimeSpan timeout, TwampTestFormat format, int reflectOctets, CancellationToken cancellationToken)
    {
        bool protectedLayout = mode.ProtectsTestPackets();
        int senderHmacOffset = format.SenderHmacOffset;
        int dscpEcnOffset = format.DscpEcnOffset;
        long reflectedIntact = 0;
        int minReply = int.MaxValue, maxReply = 0;
        byte[] padding = new byte[paddingLength];
        Random.Shared.NextBytes(padding);
        var sendTimes = new ulong[count];
        var sendErrors = new ErrorEstimate[count];
        var replies = new List<TwampSample>(Math.Min(count, 1 << 20));
        long late = 0, malformed = 0, badHmac = 0;
        int uniqueReplies = 0;
        var seen = new bool[count];
        long sentCount = 0;
        long stopReceivingAt = long.MaxValue;
        int expectedReplies = count;
        using var receiveCipher = createCipher?.Invoke();
        using var sendCipher = createCipher?.Invoke();
        SystemClock clock = SystemClock.Instance;
        int header = format.SenderHeader;
        int packetLength = header + paddingLength;

        var receiver = new Thread(() =>
        {
            int reflectorHeader = format.ReflectorHeader;
            using var batch = new DatagramBatch(BatchSize, Math.Max(2048, packetLength + reflectorHeader));
            bool[] valid = new bool[BatchSize];
            TestPacketCipher.PacketAccessor receivedPacket = i => batch.Datagram(i);
            double timeoutSeconds = timeout.TotalSeconds;
            while (Environment.TickCount64 < Interlocked.Read(ref stopReceivingAt) && uniqueReplies < Volatile.Read(ref expectedReplies))
            {
                int received = socket.ReceiveBatch(batch);
                long sentSoFar = Interlocked.Read(ref sentCount);
                receiveCipher?.TryUnprotectMany(receivedPacket, received, TestPacketLayout.ReflectorHmacOffset, valid);
                for (int i = 0; i < received; i++)
                {
                    Span<byte> packet = batch.Datagram(i);
                    if (packet.Length < reflectorHeader)
                    {
                        if (packet.Length > 0)
                        {
                            malformed++;
                        }
                        continue;
                    }
                    if (receiveCipher is not null && !valid[i])
                    {
                        badHmac++;
                        continue;
                    }
                    ReflectorPacket.TryRead(packet, protectedLayout, out ReflectorPacket reply);
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
                    byte ttl = batch.Ttl(i);
                    replies.Add(new TwampSample(
                        seq, reply.SequenceNumber, t1, reply.ReceiveTimestamp, reply.Timestamp, t4,
                        sendErrors[seq], reply.ErrorEstimate, reply.SenderTtl, ttl == 0 ? null : ttl,
                        dscpEcnOffset >= 0 ? packet[dscpEcnOffset] : null, batch.Tos(i)));
                    minReply = Math.Min(minReply, packet.Length);
                    maxReply = Math.Max(maxReply, packet.Length);
                    if (reflectOctets > 0 && packet.Length >= reflectorHeader + reflectOctets
                        && packet.Slice(reflectorHeader, reflectOctets).SequenceEqual(padding.AsSpan(0, reflectOctets)))
                    {
                        reflectedIntact++;
                    }
                    if (!seen[seq])
                    {
                        seen[seq] = true;
                        uniqueReplies++;
                    }
                }
            }
        })
        { IsBackground = true, Name = "twamp-sender receive", Priority = ThreadPriority.AboveNormal };
        receiver.Start();

        var lateness = new float[count];
        try
        {
            using var outgoing = new DatagramBatch(BatchSize, packetLength);
            TestPacketCipher.PacketAccessor outgoingPacket = i => outgoing.Datagram(i);
            for (int i = 0; i < BatchSize; i++)
            {
                padding.CopyTo(outgoing.Slot(i)[header..]);
                outgoing.SetLength(i, packetLength);
            }
            var random = new Random();
            long startTicks = Stopwatch.GetTimestamp();
            double nextOffset = 0;
            int seqNext = 0;
            while (seqNext < count && !cancellationToken.IsCancellationRequested)
            {
                // Everything already due leaves in one sendmmsg; T1 is read once, right before that call.
                double elapsed = (Stopwatch.GetTimestamp() - startTicks) / (double)Stopwatch.Frequency;
                int burst = 0;
                while (seqNext + burst < count && burst < BatchSize && nextOffset <= elapsed)
                {
                    lateness[seqNext + burst] = (float)(elapsed - nextOffset);
                    burst++;
                    nextOffset += schedule.Exponential ? -schedule.IntervalSeconds * Math.Log(1.0 - random.NextDouble()) : schedule.IntervalSeconds;
                }
                if (burst == 0)
                {
                    Wait(nextOffset - elapsed);
                    continue;
                }
                NtpTimestamp now = clock.Now();
                ErrorEstimate error = clock.ErrorEstimate;
                for (int b = 0; b < burst; b++)
                {
                    int seq = seqNext + b;
                    Span<byte> packet = outgoing.Slot(b)[..packetLength];
                    packet[..(protectedLayout ? senderHmacOffset : header)].Clear();
                    SenderPacket.WriteSequenceNumber(packet, (uint)seq);
                    SenderPacket.WriteTimestamp(packet, protectedLayout, now, error);
                    sendErrors[seq] = error;
                    Volatile.Write(ref sendTimes[seq], now.Value);
                }
                sendCipher?.ProtectMany(outgoingPacket, burst, senderHmacOffset);
                Interlocked.Add(ref sentCount, burst);
                socket.SendBatch(outgoing, burst);
                seqNext += burst;
            }
        }
        finally
        {
            // Also when sending failed or was stopped: wait for the replies to what left, at most the timeout; the
            // receive thread must not outlive the ciphers and buffers it uses.
            Volatile.Write(ref expectedReplies, (int)Interlocked.Read(ref sentCount));
            Interlocked.Exchange(ref stopReceivingAt, Environment.TickCount64 + (long)timeout.TotalMilliseconds);
            receiver.Join();
        }
        int sent = (int)Interlocked.Read(ref sentCount);
        Array.Sort(lateness, 0, sent);
        return new TwampSessionResult(
            sid, mode, sent, replies, late, malformed, badHmac,
            new NtpTimestamp(sent > 0 ? sendTimes[0] : 0), new NtpTimestamp(sent > 0 ? sendTimes[sent - 1] : 0),
            packetLength, timeout)
        {
            ScheduleError = sent == 0 ? (double.NaN, double.NaN) : (lateness[(sent - 1) / 2], lateness[(int)Math.Ceiling(0.99 * sent) - 1]),
            DscpEcnMonitoring = format.DscpEcn,
            SymmetricalSize = format.SymmetricalSize,
            ReflectOctets = reflectOctets,
            ReflectedOctetsIntact = reflectedIntact,
            MinReplyLength = maxReply == 0 ? 0 : minReply,
            MaxReplyLength = maxReply,
            SendTimes = new ArraySegment<ulong>(sendTimes, 0, sent),
        };
    }

    /// <summary>Sleeps while the next packet is far off; yields (not spins) when it is close, so the receive
    /// thread and a local reflector keep their share of a small machine.</summary>
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
