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

    public override string ToString() => $"{IntervalSeconds}{(Exponential ? "e" : "f")}";
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
    TimeSpan Timeout);

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
        CancellationToken cancellationToken)
    {
        return Task.Factory.StartNew(
            () => Run(socket, sid, mode, createCipher, count, schedule, paddingLength, timeout, cancellationToken),
            cancellationToken,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
    }

    private static TwampSessionResult Run(
        UdpTestSocket socket, SessionId sid, SecurityMode mode, Func<TestPacketCipher>? createCipher, int count,
        SendSchedule schedule, int paddingLength, TimeSpan timeout, CancellationToken cancellationToken)
    {
        bool protectedLayout = mode.ProtectsTestPackets();
        var sendTimes = new ulong[count];
        var sendErrors = new ErrorEstimate[count];
        var replies = new List<TwampSample>(count);
        long late = 0, malformed = 0, badHmac = 0;
        int uniqueReplies = 0;
        var seen = new bool[count];
        long sentCount = 0;
        long stopReceivingAt = long.MaxValue;
        using var receiveCipher = createCipher?.Invoke();
        using var sendCipher = createCipher?.Invoke();
        SystemClock clock = SystemClock.Instance;

        var receiver = new Thread(() =>
        {
            byte[] buffer = new byte[65536];
            int reflectorHeader = TestPacketLayout.ReflectorHeader(protectedLayout);
            while (Environment.TickCount64 < Interlocked.Read(ref stopReceivingAt) && !cancellationToken.IsCancellationRequested)
            {
                if (!socket.TryReceive(buffer, out ReceivedDatagram datagram) || datagram.Length == 0)
                {
                    continue;
                }
                Span<byte> packet = buffer.AsSpan(0, datagram.Length);
                if (datagram.Length < reflectorHeader)
                {
                    malformed++;
                    continue;
                }
                if (receiveCipher is not null && !receiveCipher.TryUnprotect(packet, TestPacketLayout.ReflectorHmacOffset))
                {
                    badHmac++;
                    continue;
                }
                ReflectorPacket.TryRead(packet, protectedLayout, out ReflectorPacket reply);
                uint seq = reply.SenderSequenceNumber;
                if (seq >= Interlocked.Read(ref sentCount))
                {
                    malformed++;
                    continue;
                }
                var t1 = new NtpTimestamp(Volatile.Read(ref sendTimes[seq]));
                if (NtpTimestamp.DifferenceSeconds(datagram.ReceiveTime, t1) > timeout.TotalSeconds)
                {
                    late++;
                    continue;
                }
                replies.Add(new TwampSample(
                    seq, reply.SequenceNumber, t1, reply.ReceiveTimestamp, reply.Timestamp, datagram.ReceiveTime,
                    sendErrors[seq], reply.ErrorEstimate, reply.SenderTtl, datagram.Ttl));
                if (!seen[seq])
                {
                    seen[seq] = true;
                    if (++uniqueReplies == count)
                    {
                        break;
                    }
                }
            }
        })
        { IsBackground = true, Name = "twamp-sender receive", Priority = ThreadPriority.AboveNormal };
        receiver.Start();

        int header = TestPacketLayout.SenderHeader(protectedLayout);
        byte[] packetBuffer = new byte[header + paddingLength];
        Random.Shared.NextBytes(packetBuffer.AsSpan(header));
        long startTicks = System.Diagnostics.Stopwatch.GetTimestamp();
        double offsetSeconds = 0;
        var random = new Random();
        for (int seq = 0; seq < count && !cancellationToken.IsCancellationRequested; seq++)
        {
            if (seq > 0)
            {
                offsetSeconds += schedule.Exponential ? -schedule.IntervalSeconds * Math.Log(1.0 - random.NextDouble()) : schedule.IntervalSeconds;
            }
            WaitUntil(startTicks, offsetSeconds);
            Span<byte> packet = packetBuffer;
            packet[..(protectedLayout ? TestPacketLayout.SenderHmacOffset : header)].Clear();
            SenderPacket.WriteSequenceNumber(packet, (uint)seq);
            NtpTimestamp now = clock.Now();
            ErrorEstimate error = clock.ErrorEstimate;
            SenderPacket.WriteTimestamp(packet, protectedLayout, now, error);
            sendCipher?.Protect(packet, TestPacketLayout.SenderHmacOffset);
            sendErrors[seq] = error;
            Volatile.Write(ref sendTimes[seq], now.Value);
            Interlocked.Increment(ref sentCount);
            try
            {
                socket.Send(packet);
            }
            catch (System.Net.Sockets.SocketException)
            {
                // An ICMP error reported on the connected socket; the packet counts as sent and lost.
            }
        }
        Interlocked.Exchange(ref stopReceivingAt, Environment.TickCount64 + (long)timeout.TotalMilliseconds);
        receiver.Join();
        int sent = (int)Interlocked.Read(ref sentCount);
        return new TwampSessionResult(
            sid, mode, sent, replies, late, malformed, badHmac,
            new NtpTimestamp(sent > 0 ? sendTimes[0] : 0), new NtpTimestamp(sent > 0 ? sendTimes[sent - 1] : 0),
            packetBuffer.Length, timeout);
    }

    private static void WaitUntil(long startTicks, double offsetSeconds)
    {
        long target = startTicks + (long)(offsetSeconds * System.Diagnostics.Stopwatch.Frequency);
        while (true)
        {
            long remaining = target - System.Diagnostics.Stopwatch.GetTimestamp();
            if (remaining <= 0)
            {
                return;
            }
            double remainingMs = remaining * 1000.0 / System.Diagnostics.Stopwatch.Frequency;
            if (remainingMs > 2)
            {
                Thread.Sleep((int)(remainingMs - 1));
            }
            else
            {
                Thread.SpinWait(20);
            }
        }
    }
}
