using System.Net;
using Ippm.Security;
using Ippm.Sessions.Control;
using Ippm.Sessions.Time;
using Ippm.Sessions.Transport;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ippm.Sessions.Owamp;

/// <summary>Everything owping asks for.</summary>
public sealed record OwpingOptions
{
    public required IPEndPoint Server { get; init; }
    public uint AcceptableModes { get; init; } = (uint)SecurityMode.Open;
    public string? Identity { get; init; }
    public byte[]? Secret { get; init; }
    public int Count { get; init; } = 100;
    public IReadOnlyList<ScheduleSlot> Schedule { get; init; } = [new ScheduleSlot(ScheduleSlotType.Exponential, NtpTimestamp.FromSeconds(0.1))];
    public uint PaddingLength { get; init; }
    public byte Dscp { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(2);
    public bool Outbound { get; init; } = true;
    public bool Inbound { get; init; } = true;
    public uint MaxCount { get; init; } = ControlHandshake.DefaultMaxCount;
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>RFC 7717: key the connection from this IKE SA instead of a passphrase.</summary>
    public Rfc7717Secret? Ike { get; init; }

    /// <summary>Lead time between the requests and the first scheduled packet.</summary>
    public TimeSpan StartDelay { get; init; } = TimeSpan.FromSeconds(0.5);
}

/// <summary>One direction of an OWAMP measurement: what the receiver recorded, completed by the sender's Stop-Sessions.</summary>
public sealed record OwampDirectionData(
    SessionId Sid,
    int PacketCount,
    uint NextSeqno,
    IReadOnlyList<SkipRange> SkipRanges,
    IReadOnlyList<OwampDataRecord> Records,
    long Malformed,
    long BadHmac);

public sealed record OwampResult(SecurityMode Mode, OwampDirectionData? Outbound, OwampDirectionData? Inbound, int PacketLength)
{
    public KeySource KeySource { get; init; }

    public (ulong SpiI, ulong SpiR)? IkeSpis { get; init; }

    /// <summary>The server's authenticated IKE identity (RFC 7717); null when the key is not from IKE.</summary>
    public string? PeerIdentity { get; init; }
}

/// <summary>
/// Runs an owping measurement: both directions concurrently by default, outbound results fetched with
/// Fetch-Session after the Stop-Sessions exchange, as owping does.
/// </summary>
public static class OwampMeasurement
{
    public static async Task<OwampResult> RunAsync(OwpingOptions options, CancellationToken cancellationToken, ILogger? logger = null)
    {
        logger ??= NullLogger.Instance;
        if (!options.Outbound && !options.Inbound)
        {
            throw new ArgumentException("Measure at least one direction.", nameof(options));
        }
        OwampControlClient client;
        using (var connect = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            connect.CancelAfter(options.ConnectTimeout);
            client = await OwampControlClient.ConnectAsync(
                options.Server, options.AcceptableModes, options.Identity, options.Secret, options.MaxCount, connect.Token, options.Ike).ConfigureAwait(false);
        }
        await using (client.ConfigureAwait(false))
        {
            SecurityMode mode = client.Mode;
            ControlKeys? keys = client.Handshake.Keys;
            TestPacketCipher? Cipher(SessionId sid) => mode.ProtectsTestPackets() ? TestPacketCipher.Create(mode, keys!, sid) : null;
            IPAddress local = Unmap(client.LocalEndPoint.Address);
            IPAddress remote = Unmap(client.RemoteEndPoint.Address);
            var template = new SessionRequest
            {
                Command = CommandNumber.RequestSession,
                IpVersion = SessionRequest.IpVersionOf(remote),
                PacketCount = (uint)options.Count,
                PaddingLength = options.PaddingLength,
                StartTime = NtpTimestamp.FromUnixNanoseconds(SystemClock.Instance.Now().ToUnixNanoseconds() + (long)(options.StartDelay.TotalMilliseconds * 1_000_000)),
                Timeout = NtpTimestamp.FromSeconds(options.Timeout.TotalSeconds),
                TypePDescriptor = SessionRequest.TypePFromDscp(options.Dscp),
            };

            OwampSender? sender = null;
            OwampReceiver? receiver = null;
            try
            {
                if (options.Outbound)
                {
                    var socket = new UdpTestSocket(new IPEndPoint(client.LocalEndPoint.Address, 0), TimeSpan.FromMilliseconds(50));
                    try
                    {
                        SessionRequest request = template with
                        {
                            ConfSender = 0, ConfReceiver = 1, SenderPort = (ushort)socket.LocalEndPoint.Port,
                            SenderAddress = local, ReceiverAddress = remote,
                        };
                        AcceptSession accept = await RequestAsync(client, request, options.Schedule, cancellationToken).ConfigureAwait(false);
                        socket.Connect(new IPEndPoint(client.RemoteEndPoint.Address, accept.Port));
                        if (options.Dscp != 0)
                        {
                            socket.SetDscp(options.Dscp);
                        }
                        sender = new OwampSender(socket, new OwampSessionSpec(request, options.Schedule, accept.Sid), Cipher(accept.Sid));
                    }
                    catch
                    {
                        socket.Dispose();
                        throw;
                    }
                }
                if (options.Inbound)
                {
                    var socket = new UdpTestSocket(new IPEndPoint(client.LocalEndPoint.Address, 0), TimeSpan.FromMilliseconds(50));
                    try
                    {
                        SessionId sid = SessionIdGenerator.Create(local);
                        SessionRequest request = template with
                        {
                            ConfSender = 1, ConfReceiver = 0, ReceiverPort = (ushort)socket.LocalEndPoint.Port,
                            SenderAddress = remote, ReceiverAddress = local, Sid = sid,
                        };
                        AcceptSession accept = await RequestAsync(client, request, options.Schedule, cancellationToken).ConfigureAwait(false);
                        socket.Connect(new IPEndPoint(client.RemoteEndPoint.Address, accept.Port));
                        receiver = new OwampReceiver(socket, new OwampSessionSpec(request, options.Schedule, accept.Sid), Cipher(accept.Sid), logger);
                    }
                    catch
                    {
                        socket.Dispose();
                        throw;
                    }
                }

                receiver?.Start();
                await client.StartSessionsAsync(cancellationToken).ConfigureAwait(false);
                sender?.Start();

                // RFC 4656 §3.8: Stop-Sessions no sooner than Timeout after the last scheduled packet, or the
                // receiver discards the data of the packets still in flight.
                NtpTimestamp lastScheduled = new[] { sender?.Spec.LastScheduledSendTime, receiver?.Spec.LastScheduledSendTime }.Max(t => t ?? default);
                double waitSeconds = NtpTimestamp.DifferenceSeconds(lastScheduled, SystemClock.Instance.Now()) + options.Timeout.TotalSeconds + 0.05;
                if (waitSeconds > 0)
                {
                    await Task.Delay(TimeSpan.FromSeconds(waitSeconds), cancellationToken).ConfigureAwait(false);
                }
                SessionDescription? outboundDescription = sender is null ? null : await sender.Completion.WaitAsync(cancellationToken).ConfigureAwait(false);
                OwampStopSessions serverStop = await client.StopSessionsAsync(
                    AcceptCode.Ok, outboundDescription is null ? [] : [outboundDescription], cancellationToken).ConfigureAwait(false);

                OwampDirectionData? inbound = null;
                if (receiver is not null)
                {
                    receiver.Complete(serverStop.Sessions.FirstOrDefault(d => d.Sid == receiver.Sid), SystemClock.Instance.Now());
                    SessionDescription completion = receiver.Completion!;
                    inbound = new OwampDirectionData(receiver.Sid, receiver.Spec.PacketCount, completion.NextSeqno, completion.SkipRanges, receiver.Records(), receiver.Malformed, receiver.BadHmac);
                }
                OwampDirectionData? outbound = null;
                if (sender is not null)
                {
                    FetchedSession fetched = await client.FetchAsync(sender.Sid, 0, FetchSession.ToEnd, options.Count * 4 + 1024, cancellationToken).ConfigureAwait(false)
                        ?? throw new ControlProtocolException("the server refused Fetch-Session for the outbound session", AcceptCode.Failure);
                    outbound = new OwampDirectionData(sender.Sid, options.Count, fetched.Ack.NextSeqno, fetched.SkipRanges, fetched.Records, 0, 0);
                }
                int packetLength = TestPacketLayout.SenderHeader(mode.ProtectsTestPackets()) + (int)options.PaddingLength;
                return new OwampResult(mode, outbound, inbound, packetLength) { KeySource = client.Handshake.KeySource, IkeSpis = client.Handshake.IkeSpis, PeerIdentity = client.Handshake.PeerIdentity };
            }
            finally
            {
                sender?.Dispose();
                receiver?.Dispose();
            }
        }
    }

    private static async Task<AcceptSession> RequestAsync(OwampControlClient client, SessionRequest request, IReadOnlyList<ScheduleSlot> slots, CancellationToken cancellationToken)
    {
        AcceptSession accept = await client.RequestSessionAsync(request, slots, cancellationToken).ConfigureAwait(false);
        if (accept.Accept != AcceptCode.Ok)
        {
            throw new ControlProtocolException($"Request-Session refused: {ControlHandshake.DescribeRefusal(accept.Accept)}", accept.Accept);
        }
        return accept;
    }

    private static IPAddress Unmap(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
