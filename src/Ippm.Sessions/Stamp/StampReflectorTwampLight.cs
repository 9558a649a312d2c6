using Ippm.Security;
using Ippm.Sessions.Transport;
using Ippm.Wire;
using Ippm.Wire.Test;
using Microsoft.Extensions.Logging;

namespace Ippm.Sessions.Stamp;

/// <summary>
/// Authenticated and encrypted TWAMP-Light (RFC 5357 Appendix I) on the STAMP reflector's socket. Which peers speak
/// it is configuration (a <c>light-A@PEER</c> / <c>light-E@PEER</c> line of the key file), never guessed from a packet:
/// a STAMP authenticated packet and a padded TWAMP protected packet can have the same size, and trying both keys
/// would double the work an attacker can cause per datagram.
/// </summary>
public sealed partial class StampReflector
{
    /// <summary>
    /// Verifies and decrypts a protected TWAMP-Test sender packet (RFC 5357 §4.1.2) in the receive buffer and
    /// prepares its reply in the protected reflector layout (RFC 5357 §4.2.1) in <paramref name="slot"/>; the
    /// timestamp and HMAC are written right before sending. False when the packet was counted and dropped.
    /// </summary>
    private bool TryPrepareTwampLightReply(DatagramBatch received, int index, DatagramBatch replies, int slot, TestPacketCipher cipher, long now)
    {
        Span<byte> request = received.Datagram(index);
        int replyLength = request.Length;
        if (request.Length < TestPacketLayout.ReflectorProtectedHeader)
        {
            // Symmetric sizes: a sender padded to 64 octets or more gets a reply of its own size. A shorter one would be
            // answered with more than it sent, which ippm only does when asked (as for STAMP, RFC 8762 §4.6).
            if (!_options.AnswerShortPackets || request.Length < TestPacketLayout.SenderProtectedHeader)
            {
                Interlocked.Increment(ref _short);
                Log.Short(_logger, request.Length, TestPacketLayout.ReflectorProtectedHeader);
                return false;
            }
            replyLength = TestPacketLayout.ReflectorProtectedHeader;
        }
        if (!cipher.TryUnprotect(request, TestPacketLayout.SenderHmacOffset))
        {
            Interlocked.Increment(ref _badHmac);
            TwampLightLog.BadHmac(_logger, request.Length);
            return false;
        }
        ReadOnlySpan<byte> peer = received.Address(index);
        SenderPacket.TryRead(request, protectedLayout: true, out SenderPacket sender);
        uint sequence = sender.SequenceNumber;
        if (_options.Stateful)
        {
            // TWAMP-Light has no SSID: the session is the sender's address and port.
            Session? session = FindSession(peer, 0, now);
            if (session is null)
            {
                // Table full: answered statelessly, as STAMP packets are.
                Interlocked.Increment(ref _sessionsFull);
            }
            else
            {
                sequence = session.NextSequence++;
                session.Received++;
                session.Transmitted++;
            }
        }
        byte ttl = received.Ttl(index);
        Span<byte> reply = replies.Slot(slot)[..replyLength];
        new ReflectorPacket(sequence, default, default, received.ReceiveTime(index), sender.SequenceNumber, sender.Timestamp, sender.ErrorEstimate, ttl == 0 ? (byte)255 : ttl)
            .Write(reply, protectedLayout: true);
        // Padding: the sender's own, as far as the reply has room for it.
        Span<byte> padding = reply[TestPacketLayout.ReflectorProtectedHeader..];
        ReadOnlySpan<byte> senderPadding = request[TestPacketLayout.SenderProtectedHeader..];
        int copied = Math.Min(padding.Length, senderPadding.Length);
        senderPadding[..copied].CopyTo(padding);
        padding[copied..].Clear();
        replies.SetAddress(slot, peer);
        replies.SetSendTrafficClass(slot, -1);
        replies.SetLength(slot, replyLength);
        return true;
    }

    /// <summary>T3 (NTP format: TWAMP-Light has no way to agree on another) and the reflector HMAC, then encryption.</summary>
    private static void ProtectTwampLightReply(Span<byte> reply, TestPacketCipher cipher, NtpTimestamp sendTime, ErrorEstimate error)
    {
        ReflectorPacket.WriteTimestamp(reply, protectedLayout: true, sendTime, error);
        cipher.Protect(reply, TestPacketLayout.ReflectorHmacOffset);
    }

    private static partial class TwampLightLog
    {
        [LoggerMessage(EventId = 1405, Level = LogLevel.Debug, Message = "TWAMP-Light: dropped a {Length}-octet protected packet whose HMAC does not verify")]
        public static partial void BadHmac(ILogger logger, int length);
    }
}
