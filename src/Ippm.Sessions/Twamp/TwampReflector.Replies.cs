using Ippm.Sessions.Engine;
using Ippm.Sessions.Transport;
using Ippm.Wire;
using Ippm.Wire.Test;

namespace Ippm.Sessions.Twamp;

// The reflector's one code path per batch, in three steps so that a shared port can run each step for several sessions
// around one Timestamp and one sendmmsg: PrepareReplies, FinishReplies, (the send), CountSent.
public sealed partial class TwampReflector
{
    /// <summary>
    /// Checks the received datagrams <paramref name="datagrams"/> (slots of <paramref name="buffers"/>.Received) and
    /// writes a reply for each good one into the send slots from <paramref name="firstReply"/> on, all but the
    /// Timestamp (and, in mode E, the encryption): <see cref="FinishReplies"/> adds those right before the send.
    /// Records in <see cref="BatchBuffers.ReplySources"/> which datagram each reply answers. The one code path of the
    /// dedicated thread, the session's own socket on the engine and a shared port. Returns the replies written.
    /// </summary>
    internal int PrepareReplies(BatchBuffers buffers, ReadOnlySpan<int> datagrams, int firstReply)
    {
        DatagramBatch received = buffers.Received;
        DatagramBatch replies = buffers.Send;
        int[] candidate = buffers.Indices;
        Span<bool> valid = buffers.Flags;
        TwampTestFormat format = _features.Format;
        int senderHeader = format.SenderHeader;
        int reflectorHeader = format.ReflectorHeader;
        int dscpEcnOffset = format.DscpEcnOffset;
        int clearLength = _protectedLayout ? TestPacketLayout.ReflectorHmacOffset : reflectorHeader;
        int ready = firstReply;
        long malformed = 0, badHmac = 0, oversized = 0, overBandwidth = 0;
        if (BandwidthLimit != 0)
        {
            long nowTicks = System.Diagnostics.Stopwatch.GetTimestamp();
            _bucketBits = Math.Min(BandwidthLimit, _bucketBits + ((double)BandwidthLimit * (nowTicks - _bucketTicks) / System.Diagnostics.Stopwatch.Frequency));
            _bucketTicks = nowTicks;
        }
        int candidates = 0;
        foreach (int i in datagrams)
        {
            int length = received.Length(i);
            if (received.Truncated(i) || length > _slotSize)
            {
                // Reflecting the truncated part would answer with a packet the sender never sent.
                oversized++;
                Log.Oversized(_logger, Sid, _slotSize);
                continue;
            }
            if (length < senderHeader)
            {
                if (length > 0)
                {
                    malformed++;
                    Log.ShortPacket(_logger, Sid, length, senderHeader);
                }
                continue;
            }
            candidate[candidates++] = i;
        }
        if (_cipher is not null)
        {
            _cipher.TryUnprotectMany(buffers.ReceivedByIndex, candidates, format.SenderHmacOffset, valid);
        }
        for (int c = 0; c < candidates; c++)
        {
            int i = candidate[c];
            if (_cipher is not null && !valid[c])
            {
                badHmac++;
                Log.BadHmac(_logger, Sid, received.Length(i));
                continue;
            }
            Span<byte> packet = received.Datagram(i);
            int length = packet.Length;
            // Reply size is max(received, reflector header) and its padding is the sender's padding
            // from its first octet (perfSONAR's symmetric sizing); with Symmetrical Size the sender's header
            // already equals ours, so the reply has exactly the sender's size (RFC 6038 §4.2). Reflect Octets
            // asks for a padding length of its own (RFC 6038 §4.1).
            int replyLength = _requestedReplyPadding >= 0 && !format.SymmetricalSize
                ? reflectorHeader + _requestedReplyPadding
                : Math.Max(length, reflectorHeader);
            replyLength = Math.Min(replyLength, _replySlotSize);
            if (BandwidthLimit != 0)
            {
                double bits = (replyLength + _wireOverhead) * 8.0;
                if (bits > _bucketBits)
                {
                    overBandwidth++;
                    continue;
                }
                _bucketBits -= bits;
            }
            Span<byte> r = replies.Slot(ready)[..replyLength];
            r[..clearLength].Clear();
            int replyPadding = replyLength - reflectorHeader;
            int copied = Math.Min(replyPadding, length - senderHeader);
            packet.Slice(senderHeader, copied).CopyTo(r[reflectorHeader..]);
            r[(reflectorHeader + copied)..].Clear();
            byte ttl = received.Ttl(i);
            ReflectorPacket.CopySenderFields(packet, r, _protectedLayout, ttl == 0 ? (byte)255 : ttl);
            if (dscpEcnOffset >= 0)
            {
                // RFC 7750 §3: the DSCP and ECN the test packet arrived with, straight from the IP header.
                r[dscpEcnOffset] = received.Tos(i) ?? 0;
            }
            ReflectorPacket.WriteReceiveTimestamp(r, _protectedLayout, received.ReceiveTime(i));
            ReflectorPacket.WriteSequenceNumber(r, _sequence++);
            replies.SetLength(ready, replyLength);
            buffers.ReplySources[ready] = i;
            ready++;
        }
        int written = ready - firstReply;
        if (_mode == SecurityMode.Authenticated)
        {
            // Mode A protects block 0 only; the Timestamp (octets 16-23) stays clear and is written last.
            buffers.SendOffset = firstReply;
            _cipher!.ProtectMany(buffers.SendSlot, written, TestPacketLayout.ReflectorHmacOffset);
            buffers.SendOffset = 0;
        }
        if (overBandwidth > 0)
        {
            Interlocked.Add(ref _overBandwidth, overBandwidth);
        }
        if (malformed + badHmac + oversized > 0)
        {
            Interlocked.Add(ref _malformed, malformed);
            Interlocked.Add(ref _badHmac, badHmac);
            Interlocked.Add(ref _oversized, oversized);
        }
        return written;
    }

    /// <summary>
    /// Writes the Timestamp <paramref name="sendTime"/> (read once for the whole batch, right before the send) into the
    /// <paramref name="count"/> replies from <paramref name="firstReply"/>, then encrypts them in mode E.
    /// </summary>
    internal void FinishReplies(BatchBuffers buffers, int firstReply, int count, NtpTimestamp sendTime, ErrorEstimate error)
    {
        DatagramBatch replies = buffers.Send;
        for (int j = firstReply; j < firstReply + count; j++)
        {
            ReflectorPacket.WriteTimestamp(replies.Datagram(j), _protectedLayout, sendTime, error);
        }
        if (_mode == SecurityMode.Encrypted)
        {
            buffers.SendOffset = firstReply;
            _cipher!.ProtectMany(buffers.SendSlot, count, TestPacketLayout.ReflectorHmacOffset);
            buffers.SendOffset = 0;
        }
    }

    /// <summary>Counts the <paramref name="count"/> replies from <paramref name="firstReply"/> as reflected, or as not sent where the kernel refused them.</summary>
    internal void CountSent(BatchBuffers buffers, int firstReply, int count)
    {
        int failed = 0;
        for (int j = firstReply; j < firstReply + count; j++)
        {
            if (buffers.SendFailed[j])
            {
                failed++;
            }
        }
        Interlocked.Add(ref _reflected, count - failed);
        if (failed > 0)
        {
            Interlocked.Add(ref _sendFailed, failed);
            Log.SendFailed(_logger, Sid, $"{failed} of {count} replies refused by the kernel");
        }
    }
}
