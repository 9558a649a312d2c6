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

    /// <summary>Deadline on every answer of the server after the handshake: a silent server ends the run (exit 3), it does not hang it.</summary>
    public TimeSpan ReplyTimeout { get; init; } = ControlClient.DefaultReplyTimeout;

    /// <summary>RFC 7717: key the connection from this IKE SA instead of a passphrase.</summary>
    public Rfc7717Secret? Ike { get; init; }

    /// <summary>Lead time between the requests and the first scheduled packet.</summary>
    public TimeSpan StartDelay { get; init; } = TimeSpan.FromSeconds(0.5);

    /// <summary>owping -S: the local address of the control connection and the test sockets; null lets the kernel choose.</summary>
    public IPAddress? LocalAddress { get; init; }

    /// <summary>
    /// owping/twping -P: the local UDP ports the test sockets are bound from (perfSONAR's clients use 8760–9960 unless
    /// told otherwise, and perfSONAR hosts open that range); null lets the kernel choose.
    /// </summary>
    public Server.PortRange? TestPorts { get; init; }

    /// <summary>How long Stop-Sessions and Fetch-Session may take after an interrupted measurement.</summary>
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(5);
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

    /// <summary>Sending stopped early (Ctrl+C, or the server's Stop-Sessions): the directions report what was sent until then.</summary>
    public bool Interrupted { get; init; }

    /// <summary>The server ended the test with its own Stop-Sessions (RFC 4656 §3.8), e.g. because it shut down.</summary>
    public bool EndedByServer { get; init; }

    /// <summary>The peer's authenticated identity (RFC 7717: the IKEv2 peer ID); null when nothing established one.</summary>
    public string? PeerIdentity { get; init; }

    public IPEndPoint? LocalControl { get; init; }
    public IPEndPoint? PeerControl { get; init; }

    /// <summary>Test ports: outbound (our sender → the server's receiver) and inbound (the server's sender → our receiver).</summary>
    public (int Local, int Peer)? OutboundPorts { get; init; }
    public (int Local, int Peer)? InboundPorts { get; init; }

    /// <summary>What the user asked for, for the report.</summary>
    public MeasurementRequest? Request { get; init; }

    /// <summary>Each measured direction as a perfSONAR <c>.owp</c> file holds it (owping -T / -F); null when not measured.</summary>
    public SessionFiles.PerfsonarOwpSession? OutboundFile { get; init; }
    public SessionFiles.PerfsonarOwpSession? InboundFile { get; init; }
}

/// <summary>
/// Runs an owping measurement: both directions concurrently by default, outbound results fetched with
/// Fetch-Session after the Stop-Sessions exchange, as owping does.
/// </summary>
public static class OwampMeasurement
{
    /// <summary>
    /// Beyond Timeout, how long the client waits after the last packet before its Stop-Sessions: the receiver keeps only
    /// packets scheduled at least Timeout before the Stop-Sessions arrives (RFC 4656 §3.8), and timers fire a little early.
    /// </summary>
    public static readonly TimeSpan StopMargin = TimeSpan.FromMilliseconds(50);

    /// <param name="cancellationToken">Before the sessions start, abandons the measurement. Once they run, stops sending
    /// instead: packets in flight are awaited (the timeout), Stop-Sessions is sent, results fetched and returned with
    /// <see cref="OwampResult.Interrupted"/> set.</param>
    /// <param name="trace">The -v trace of the control exchange (<see cref="ControlTrace"/>).</param>
    public static async Task<OwampResult> RunAsync(OwpingOptions options, CancellationToken cancellationToken, ILogger? logger = null, ILogger? trace = null)
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
                options.Server, options.AcceptableModes, options.Identity, options.Secret, options.MaxCount, connect.Token, options.Ike, options.LocalAddress, trace).ConfigureAwait(false);
        }
        client.ReplyTimeout = options.ReplyTimeout;
        await using (client.ConfigureAwait(false))
        {
            if (WrongProtocol.GreetingIsTwamp(client.Handshake.ServerModes))
            {
                throw new ControlProtocolException(WrongProtocol.OffersMixed(options.Server), AcceptCode.NotSupported);
            }
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
            (int, int)? outboundPorts = null, inboundPorts = null;
            try
            {
                if (options.Outbound)
                {
                    var socket = Server.TestPortAllocator.BindClientSocket(client.LocalEndPoint.Address, options.TestPorts, TimeSpan.FromMilliseconds(50));
                    try
                    {
                        SessionRequest request = template with
                        {
                            ConfSender = 0, ConfReceiver = 1, SenderPort = (ushort)socket.LocalEndPoint.Port,
                            SenderAddress = local, ReceiverAddress = remote,
                        };
                        AcceptSession accept = await RequestAsync(client, request, options.Schedule, options.Server, cancellationToken).ConfigureAwait(false);
                        socket.Connect(new IPEndPoint(client.RemoteEndPoint.Address, accept.Port));
                        ControlTrace.TestSession(trace ?? NullLogger.Instance, accept.Sid, socket.LocalEndPoint.Port, accept.Port);
                        outboundPorts = (socket.LocalEndPoint.Port, accept.Port);
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
                    var socket = Server.TestPortAllocator.BindClientSocket(client.LocalEndPoint.Address, options.TestPorts, TimeSpan.FromMilliseconds(50));
                    try
                    {
                        SessionId sid = SessionIdGenerator.Create(local);
                        SessionRequest request = template with
                        {
                            ConfSender = 1, ConfReceiver = 0, ReceiverPort = (ushort)socket.LocalEndPoint.Port,
                            SenderAddress = remote, ReceiverAddress = local, Sid = sid,
                        };
                        AcceptSession accept = await RequestAsync(client, request, options.Schedule, options.Server, cancellationToken).ConfigureAwait(false);
                        socket.Connect(new IPEndPoint(client.RemoteEndPoint.Address, accept.Port));
                        ControlTrace.TestSession(trace ?? NullLogger.Instance, accept.Sid, socket.LocalEndPoint.Port, accept.Port);
                        inboundPorts = (socket.LocalEndPoint.Port, accept.Port);
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
                // RFC 4656 §3.8: the server may end the sessions itself with its own Stop-Sessions (ippm's does when it shuts down).
                Task serverMessage = client.WaitForServerMessageAsync();

                // RFC 4656 §3.8: Stop-Sessions no sooner than Timeout after the last scheduled packet, or the
                // receiver discards the data of the packets still in flight.
                NtpTimestamp lastScheduled = new[] { sender?.Spec.LastScheduledSendTime, receiver?.Spec.LastScheduledSendTime }.Max(t => t ?? default);
                double waitSeconds = NtpTimestamp.DifferenceSeconds(lastScheduled, SystemClock.Instance.Now()) + options.Timeout.TotalSeconds + StopMargin.TotalSeconds;
                bool interrupted = false;
                bool endedByServer = false;
                if (waitSeconds > 0)
                {
                    using var waiting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    Task testOver = Task.Delay(TimeSpan.FromSeconds(waitSeconds), waiting.Token);
                    Task first = await Task.WhenAny(testOver, serverMessage).ConfigureAwait(false);
                    await waiting.CancelAsync().ConfigureAwait(false);
                    if (first == serverMessage && !serverMessage.IsCompletedSuccessfully)
                    {
                        sender?.Stop();
                        throw new ControlProtocolException($"the server at {options.Server} closed the control connection during the test (did it shut down?); its results cannot be fetched.");
                    }
                    endedByServer = first == serverMessage;
                    interrupted = !endedByServer && cancellationToken.IsCancellationRequested;
                    if (interrupted || endedByServer)
                    {
                        // Stop sending, let what is in flight arrive (the timeout), then end the sessions.
                        sender?.Stop();
                    }
                }
                using var stopDeadline = new CancellationTokenSource(options.StopTimeout + (endedByServer ? options.Timeout + StopMargin : TimeSpan.Zero));
                CancellationToken ending = interrupted || endedByServer ? stopDeadline.Token : cancellationToken;
                OwampStopSessions? serverStop = null;
                if (endedByServer)
                {
                    serverStop = await client.ReadServerStopSessionsAsync(ending).ConfigureAwait(false);
                }
                if (interrupted || endedByServer)
                {
                    // Our Stop-Sessions goes Timeout after the last packet we sent, so the server's receiver keeps all of
                    // them (RFC 4656 §3.8); our receiver waits as long for the server's last packets.
                    // The margin: a timer may fire up to a millisecond early, and the receiver cuts at exactly Timeout.
                    await Task.Delay(options.Timeout + StopMargin, CancellationToken.None).ConfigureAwait(false);
                }
                SessionDescription? outboundDescription = sender is null ? null : await sender.Completion.WaitAsync(ending).ConfigureAwait(false);
                bool connected = true;
                if (serverStop is null)
                {
                    serverStop = await client.StopSessionsAsync(
                        AcceptCode.Ok, outboundDescription is null ? [] : [outboundDescription], ending).ConfigureAwait(false);
                }
                else
                {
                    try
                    {
                        // RFC 4656 §3.8: the side that receives Stop-Sessions answers with its own.
                        await client.SendStopSessionsAsync(AcceptCode.Ok, outboundDescription is null ? [] : [outboundDescription], ending).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or OperationCanceledException)
                    {
                        // The server has gone: what we received stands; the outbound records are out of reach.
                        connected = false;
                    }
                }

                OwampDirectionData? inbound = null;
                SessionFiles.PerfsonarOwpSession? inboundFile = null, outboundFile = null;
                if (receiver is not null)
                {
                    NtpTimestamp stopTime = SystemClock.Instance.Now();
                    SessionDescription? serverDescription = serverStop.Sessions.FirstOrDefault(d => d.Sid == receiver.Sid);
                    await receiver.WaitForInFlightAsync(serverDescription, stopTime, CancellationToken.None).ConfigureAwait(false);
                    receiver.Complete(serverDescription, stopTime);
                    SessionDescription completion = receiver.Completion!;
                    // Complete already ended Next Seqno at RFC 4656 §3.8's cut-off (Timeout before stopTime): packets the
                    // server scheduled after it (sent until our Stop-Sessions) are neither sent nor lost in the report.
                    uint next = completion.NextSeqno;
                    inbound = new OwampDirectionData(receiver.Sid, receiver.Spec.PacketCount, next, completion.SkipRanges, receiver.Records(), receiver.Malformed, receiver.BadHmac);
                    // As owping -F saves it: the request with the server's sending port, Finished 1 after Stop-Sessions (2 without).
                    inboundFile = new SessionFiles.PerfsonarOwpSession(
                        SessionFiles.PerfsonarOwpFile.SupportedVersion, receiver.EndedAbnormally ? 2u : 1u, next,
                        receiver.Spec.Request with { Sid = receiver.Sid, SenderPort = (ushort)(inboundPorts?.Item2 ?? 0) },
                        receiver.Spec.Slots, completion.SkipRanges, inbound.Records);
                }
                OwampDirectionData? outbound = null;
                if (sender is not null && connected)
                {
                    FetchedSession? fetched;
                    try
                    {
                        fetched = await client.FetchAsync(sender.Sid, 0, FetchSession.ToEnd, options.Count * 4 + 1024, ending).ConfigureAwait(false)
                            ?? throw new ControlProtocolException("the server refused Fetch-Session for the outbound session", AcceptCode.Failure);
                    }
                    catch (Exception e) when (endedByServer && e is IOException or System.Net.Sockets.SocketException or OperationCanceledException or ControlProtocolException)
                    {
                        // The server shut down before it could serve the fetch (its bound ran out): report what we have.
                        fetched = null;
                    }
                    outbound = fetched is null ? null : new OwampDirectionData(sender.Sid, options.Count, fetched.Ack.NextSeqno, fetched.SkipRanges, fetched.Records, 0, 0);
                    // As owping -T saves a fetched session: the server's copy of the request (completed with the SID and the
                    // receiver's port, which a server may echo as the client sent them, zero), skip ranges before the records.
                    outboundFile = fetched is null ? null : new SessionFiles.PerfsonarOwpSession(
                        SessionFiles.PerfsonarOwpFile.SupportedVersion, fetched.Ack.Finished, fetched.Ack.NextSeqno,
                        fetched.Request.Sid.IsZero ? fetched.Request with { Sid = sender.Sid, ReceiverPort = (ushort)(outboundPorts?.Item2 ?? 0) } : fetched.Request,
                        fetched.Slots, fetched.SkipRanges, fetched.Records)
                    { SkipPlacement = SessionFiles.OwpSkipPlacement.BeforeRecords };
                }
                int packetLength = TestPacketLayout.SenderHeader(mode.ProtectsTestPackets()) + (int)options.PaddingLength;
                return new OwampResult(mode, outbound, inbound, packetLength)
                {
                    KeySource = client.Handshake.KeySource,
                    IkeSpis = client.Handshake.IkeSpis,
                    PeerIdentity = client.Handshake.PeerIdentity,
                    Interrupted = interrupted || endedByServer,
                    EndedByServer = endedByServer,
                    LocalControl = client.LocalEndPoint,
                    PeerControl = client.RemoteEndPoint,
                    OutboundPorts = outboundPorts,
                    InboundPorts = inboundPorts,
                    Request = new MeasurementRequest(options.Count, OwampSchedule.Format(options.Schedule), (int)options.PaddingLength, options.Dscp, options.Timeout, options.Schedule.Average(s => s.Parameter.TotalSeconds)),
                    OutboundFile = outboundFile,
                    InboundFile = inboundFile,
                };
            }
            finally
            {
                sender?.Dispose();
                receiver?.Dispose();
            }
        }
    }

    private static async Task<AcceptSession> RequestAsync(OwampControlClient client, SessionRequest request, IReadOnlyList<ScheduleSlot> slots, IPEndPoint server, CancellationToken cancellationToken)
    {
        AcceptSession accept;
        try
        {
            accept = await client.RequestSessionAsync(request, slots, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ControlProtocolException or IOException)
        {
            // A TWAMP server that offers no mixed mode shows itself only here: it closes on command 1.
            throw new ControlProtocolException(WrongProtocol.NotOwamp(server), e);
        }
        if (accept.Accept != AcceptCode.Ok)
        {
            throw new ControlProtocolException($"Request-Session refused: {ControlHandshake.DescribeRefusal(accept.Accept)}", accept.Accept);
        }
        return accept;
    }

    private static IPAddress Unmap(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
