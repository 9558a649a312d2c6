using System.Diagnostics;
using Ippm.Security;
using Ippm.Sessions.Transport;
using Ippm.Wire;
using Ippm.Wire.Test;

namespace Ippm.Sessions.Bench;

/// <summary>What a closed-loop load run measured.</summary>
public sealed record LoadResult(long Sent, long Received, TimeSpan Duration, double[] ProcessingSeconds)
{
    public long Lost => Math.Max(0, Sent - Received);
    public double RepliesPerSecond => Received / Duration.TotalSeconds;
}

/// <summary>
/// Keeps <c>inFlight</c> test packets outstanding against a reflector for a fixed time, replacing each reply
/// with a new packet (what udp-floor's udpblast does, batched with recvmmsg/sendmmsg). The same loop drives
/// ippm's reflector, any other TWAMP reflector, and the bare C echo, so their rates compare in one run.
/// </summary>
public static class ClosedLoopLoad
{
    private const int Batch = 64;

    /// <param name="packet">Builds sender packet <c>seq</c> in the span (already sized); null sends the template as is.</param>
    /// <param name="sampleProcessing">Reads T3 − T2 (seconds) from a reply, or null for a plain echo.</param>
    public static LoadResult Run(
        UdpTestSocket socket, int packetLength, int inFlight, TimeSpan duration,
        SpanAction? packet, Func<Span<byte>, double?>? sampleProcessing, CancellationToken cancellationToken)
    {
        using var outgoing = new DatagramBatch(Batch, packetLength);
        using var incoming = new DatagramBatch(Batch, Math.Max(2048, packetLength + 128));
        uint seq = 0;
        long sent = 0, received = 0;
        var samples = new List<double>(1 << 16);

        int Fill(int count)
        {
            for (int i = 0; i < count; i++)
            {
                Span<byte> slot = outgoing.Slot(i)[..packetLength];
                packet?.Invoke(slot, seq++);
                outgoing.SetLength(i, packetLength);
            }
            return count;
        }

        long start = Stopwatch.GetTimestamp();
        long end = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        for (int left = inFlight; left > 0; left -= Batch)
        {
            int n = Fill(Math.Min(Batch, left));
            socket.SendBatch(outgoing, n);
            sent += n;
        }
        while (Stopwatch.GetTimestamp() < end && !cancellationToken.IsCancellationRequested)
        {
            int n = socket.ReceiveBatch(incoming);
            if (n == 0)
            {
                // A lost datagram would shrink the window for good: refill one slot, as udpblast does.
                socket.SendBatch(outgoing, Fill(1));
                sent++;
                continue;
            }
            received += n;
            if (sampleProcessing is not null && samples.Count < 4_000_000)
            {
                for (int i = 0; i < n; i += inFlight > 4 ? 4 : 1)
                {
                    if (sampleProcessing(incoming.Datagram(i)) is double p)
                    {
                        samples.Add(p);
                    }
                }
            }
            socket.SendBatch(outgoing, Fill(n));
            sent += n;
        }
        TimeSpan elapsed = Stopwatch.GetElapsedTime(start);
        // Drain what is still in flight so that only true losses count as lost.
        long drainEnd = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 2;
        while (received < sent && Stopwatch.GetTimestamp() < drainEnd)
        {
            received += socket.ReceiveBatch(incoming);
        }
        return new LoadResult(sent, received, elapsed, [.. samples]);
    }

    public delegate void SpanAction(Span<byte> packet, uint sequence);

    /// <summary>The packet a plain echo (the kernel floor) gets: its sequence number first, the rest as it is.</summary>
    public static readonly SpanAction SequenceOnly = static (packet, seq) => System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(packet, seq);

    /// <summary>A packet builder for TWAMP sender packets in the given mode (timestamp now, protected when needed).</summary>
    public static SpanAction TwampSender(SecurityMode mode, TestPacketCipher? cipher)
    {
        bool protectedLayout = mode.ProtectsTestPackets();
        int clear = protectedLayout ? TestPacketLayout.SenderHmacOffset : TestPacketLayout.SenderOpenHeader;
        var clock = Time.SystemClock.Instance;
        return (packet, seq) =>
        {
            packet[..clear].Clear();
            new SenderPacket(seq, clock.Now(), clock.ErrorEstimate).Write(packet, protectedLayout);
            cipher?.Protect(packet, TestPacketLayout.SenderHmacOffset);
        };
    }

    /// <summary>Reads T3 − T2 from a reflected packet; in encrypted mode only after decrypting a copy.</summary>
    public static Func<Span<byte>, double?> TwampProcessingTime(SecurityMode mode, TestPacketCipher? cipher)
    {
        bool protectedLayout = mode.ProtectsTestPackets();
        byte[] copy = new byte[TestPacketLayout.ReflectorProtectedHeader];
        return reply =>
        {
            if (reply.Length < TestPacketLayout.ReflectorHeader(protectedLayout))
            {
                return null;
            }
            Span<byte> view = reply;
            if (mode == SecurityMode.Encrypted)
            {
                reply[..TestPacketLayout.ReflectorProtectedHeader].CopyTo(copy);
                if (!cipher!.TryUnprotect(copy, TestPacketLayout.ReflectorHmacOffset))
                {
                    return null;
                }
                view = copy;
            }
            ReflectorPacket.TryRead(view, protectedLayout, out ReflectorPacket p);
            return NtpTimestamp.DifferenceSeconds(p.Timestamp, p.ReceiveTimestamp);
        };
    }
}
