using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Ippm.Ikev2.Messages;
using Microsoft.Extensions.Logging;

namespace Ippm.Ikev2.Exchanges;

/// <summary>Request/response over a connected UDP socket with retransmission and exponential back-off (RFC 7296 §2.1).</summary>
internal static class Transport
{
    public const int MaxDatagram = IkeHeader.MaxMessageLength + NonEspMarkerLength;
    public const int NonEspMarkerLength = 4;
    public const int IkePort = 500;

    /// <summary>
    /// strongSwan (observed with 5.9.8) prefixes the 4-octet non-ESP marker on every port other than 500, not only
    /// on 4500, and ignores unprefixed IKE there. So do we: a marker whenever the destination port is not 500.
    /// </summary>
    public static byte[] Frame(byte[] message, EndPoint? destination) =>
        destination is IPEndPoint ip && ip.Port != IkePort ? [0, 0, 0, 0, .. message] : message;

    /// <summary>Strips a leading non-ESP marker (an IKE header never starts with zero octets: SPIi is non-zero).</summary>
    public static byte[] Unframe(ReadOnlySpan<byte> datagram) =>
        datagram.Length >= NonEspMarkerLength && datagram[..NonEspMarkerLength].IndexOfAnyExcept((byte)0) < 0
            ? datagram[NonEspMarkerLength..].ToArray()
            : datagram.ToArray();

    /// <summary>
    /// Sends <paramref name="request"/> and waits for a datagram that <paramref name="accept"/> takes, resending the
    /// identical octets after 1, 2, 4, … × the initial timeout. Other datagrams are dropped.
    /// </summary>
    /// <param name="receive">Where answers come from when another loop owns the socket's receive side; default: the socket.</param>
    public static async Task<IkeMessage> RequestAsync(
        Socket socket, byte[] request, Func<IkeMessage, bool> accept, RetransmitPolicy policy, ILogger logger, CancellationToken ct,
        Func<byte[], CancellationToken, ValueTask<int>>? receive = null)
    {
        byte[] buffer = new byte[MaxDatagram];
        uint messageId = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(request.AsSpan(IkeHeader.MessageIdOffset));
        TimeProvider time = policy.Time;
        long started = time.GetTimestamp();
        int sent = 0;
        for (int attempt = 1; attempt <= policy.Tries; attempt++)
        {
            // Send k leaves Initial × (2^(k-1) − 1) after the first (0, 1, 3, 7, … × Initial): the schedule is anchored
            // at the first send, so a late wake-up on a busy machine does not push every later resend back.
            TimeSpan elapsed = time.GetElapsedTime(started);
            TimeSpan windowEnd = policy.Initial * ((1L << Math.Min(attempt, 30)) - 1);
            TimeSpan wait = windowEnd - elapsed;
            if (wait < policy.Initial / 2)
            {
                wait = policy.Initial / 2;
            }
            if (policy.Budget is TimeSpan budget)
            {
                TimeSpan left = budget - elapsed;
                if (left <= TimeSpan.Zero)
                {
                    break;
                }
                wait = wait < left ? wait : left;
            }
            if (attempt > 1)
            {
                Log.Retransmit(logger, messageId, socket.RemoteEndPoint!, attempt);
            }
            await socket.SendAsync(Frame(request, socket.RemoteEndPoint), SocketFlags.None, ct).ConfigureAwait(false);
            sent++;
            using var windowTimer = new CancellationTokenSource(wait, time);
            using var window = CancellationTokenSource.CreateLinkedTokenSource(ct, windowTimer.Token);
            try
            {
                while (true)
                {
                    int length;
                    try
                    {
                        length = receive is null
                            ? await socket.ReceiveAsync(buffer, SocketFlags.None, window.Token).ConfigureAwait(false)
                            : await receive(buffer, window.Token).ConfigureAwait(false);
                    }
                    catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
                    {
                        // ICMP port unreachable from an earlier send: nobody listens (yet); keep waiting for the timeout.
                        await Task.Delay(wait / 4, time, window.Token).ConfigureAwait(false);
                        continue;
                    }
                    byte[] datagram = Unframe(buffer.AsSpan(0, length));
                    if (IkeMessage.TryParse(datagram, out IkeMessage? message) != OperationStatus.Done)
                    {
                        Log.Dropped(logger, length, socket.RemoteEndPoint, "malformed IKE message");
                        continue;
                    }
                    if (accept(message!))
                    {
                        return message!;
                    }
                    Log.Dropped(logger, length, socket.RemoteEndPoint, "not the awaited response");
                }
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                // This send's window is over: resend.
            }
        }
        double seconds = time.GetElapsedTime(started).TotalSeconds;
        throw new IkeTimeoutException($"no answer from {socket.RemoteEndPoint} after {sent} tries in {seconds.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture)} s.");
    }
}
