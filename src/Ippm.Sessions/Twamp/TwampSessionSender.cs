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
/// The TWAMP Session-Sender (RFC 5357 §4.1). On Linux it is a <see cref="Engine.ScheduledSenderSession{TResult}"/> on a loop of the
/// shared <see cref="Engine.SessionEngine"/>: packets leave on the loop's timer, replies are read on the loop's
/// epoll readiness. Without the engine (not Linux, <c>IPPM_SESSION_ENGINE=0</c>, a socket that cannot batch) a send
/// loop on its own thread follows the schedule and a receive loop on another timestamps replies as they arrive.
/// Both match replies by Sender Sequence Number through the same <see cref="TwampSenderState"/>.
/// </summary>
public static class TwampSessionSender
{
    /// <param name="engine">The engine to send on; null for <see cref="Engine.SessionEngine.Shared"/> (threads where there is none).</param>
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
        int reflectOctets = 0,
        Engine.SessionEngine? engine = null)
    {
        TwampTestFormat f = format ?? new TwampTestFormat(mode.ProtectsTestPackets(), false, false);
        Engine.SessionEngine? chosen = socket.IsNative ? engine ?? Engine.SessionEngine.Shared : null;
        if (chosen is not null)
        {
            var state = new TwampSenderState(sid, mode, createCipher, count, schedule, paddingLength, timeout, f, reflectOctets);
            return Engine.ScheduledSenderSession<TwampSessionResult>.Start(chosen, socket, state, state.Result, timeout, cancellationToken);
        }
        // The token stops sending only; the thread always runs, so replies in flight are still collected.
        return Task.Factory.StartNew(
            () => Run(socket, sid, mode, createCipher, count, schedule, paddingLength, timeout, f, reflectOctets, cancellationToken),
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
    }

    private const int BatchSize = TwampSenderState.BatchSize;

    private static TwampSessionResult Run(
        UdpTestSocket socket, SessionId sid, SecurityMode mode, Func<TestPacketCipher>? createCipher, int count,
        SendSchedule schedule, int paddingLength, TimeSpan timeout, TwampTestFormat format, int reflectOctets, CancellationToken cancellationToken)
    {
        using var state = new TwampSenderState(sid, mode, createCipher, count, schedule, paddingLength, timeout, format, reflectOctets);
        long stopReceivingAt = long.MaxValue;
        int expectedReplies = count;

        var receiver = new Thread(() =>
        {
            using var batch = new DatagramBatch(BatchSize, state.ReceiveSlotSize);
            bool[] valid = new bool[BatchSize];
            while (Environment.TickCount64 < Interlocked.Read(ref stopReceivingAt) && state.UniqueReplies < Volatile.Read(ref expectedReplies))
            {
                int received = socket.ReceiveBatch(batch);
                state.AcceptReplies(batch, received, valid);
            }
        })
        { IsBackground = true, Name = "twamp-sender receive", Priority = ThreadPriority.AboveNormal };
        receiver.Start();

        try
        {
            using var outgoing = new DatagramBatch(BatchSize, state.PacketLength);
            TestPacketCipher.PacketAccessor outgoingPacket = i => outgoing.Datagram(i);
            state.PrepareOutgoing(outgoing);
            long startTicks = Stopwatch.GetTimestamp();
            while (!state.AllSent && !cancellationToken.IsCancellationRequested)
            {
                // Everything already due leaves in one sendmmsg; T1 is read once, right before that call.
                double elapsed = (Stopwatch.GetTimestamp() - startTicks) / (double)Stopwatch.Frequency;
                int burst = state.TakeDue(elapsed, BatchSize);
                if (burst == 0)
                {
                    Wait(state.NextOffset - elapsed);
                    continue;
                }
                state.SendBurst(socket, outgoing, outgoingPacket, burst, wait: true);
            }
        }
        finally
        {
            // Also when sending failed or was stopped: wait for the replies to what left, at most the timeout; the
            // receive thread must not outlive the ciphers and buffers it uses.
            Volatile.Write(ref expectedReplies, state.SentCount);
            Interlocked.Exchange(ref stopReceivingAt, Environment.TickCount64 + (long)timeout.TotalMilliseconds);
            receiver.Join();
        }
        return state.Result();
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
