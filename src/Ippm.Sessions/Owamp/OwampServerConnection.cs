using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Ippm.Policy;
using Ippm.Security;
using Ippm.Sessions.Control;
using Ippm.Sessions.Server;
using Ippm.Sessions.Telemetry;
using Ippm.Sessions.Time;
using Ippm.Sessions.Transport;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;
using Microsoft.Extensions.Logging;

namespace Ippm.Sessions.Owamp;

/// <summary>
/// One OWAMP-Control connection on the server (RFC 4656 §3): Request-Session with schedule slots, Start-Sessions,
/// the Stop-Sessions exchange in both directions, and Fetch-Session. The server is Session-Receiver
/// (Conf-Receiver = 1) or Session-Sender (Conf-Sender = 1) per session. Received data stays in memory, bounded
/// by the per-session packet limit, until the connection closes; with <see cref="ServerOptions.DataDirectory"/> a
/// session completed by Stop-Sessions moves to disk (<see cref="OwampSessionStore"/>) and can be fetched later.
/// </summary>
public sealed partial class OwampServerConnection : ControlServerConnection
{
    /// <summary>Beyond this many slots the stream is not even read: the connection is closed.</summary>
    private const uint HardSlotLimit = 65536;

    private readonly List<OwampReceiver> _receivers = [];
    private readonly List<OwampSender> _senders = [];
    private readonly Dictionary<SessionId, (byte[] Request, byte[] Slots)> _requests = [];
    private readonly HashSet<SessionId> _stored = [];
    private long _reservedPackets;
    private long _sharedPackets;
    private string? _packetKey;
    private int _sharedSessions;
    private readonly OwampSessionStore? _store;
    private string? _identity;
    private readonly List<BandwidthReservation> _bandwidth = [];
    private int _activeSessions;
    private bool _testing;

    public OwampServerConnection(Stream stream, IPEndPoint local, IPEndPoint remote, ServerOptions options, TestPortAllocator ports, ILogger logger)
        : base(stream, local, remote, options, ports, logger)
    {
        _store = OwampSessionStore.For(options, logger);
    }

    protected override ControlProtocol Protocol => ControlProtocol.Owamp;

    protected override uint OfferedModes => Options.Modes & SecurityModes.SecurityBits(ControlProtocol.Owamp);

    private int SessionCount => _receivers.Count + _senders.Count;

    /// <summary>Sessions of this connection end (Stop-Sessions or close): their class bandwidth is free again.</summary>
    private void EndSessions()
    {
        foreach (BandwidthReservation reservation in _bandwidth)
        {
            reservation.Dispose();
        }
        _bandwidth.Clear();
        for (; _activeSessions > 0; _activeSessions--)
        {
            ServerMetrics.SessionEnded(twamp: false);
        }
    }

    protected override void OnClosed()
    {
        EndSessions();
        Options.PacketBudget.Release(_reservedPackets);
        _reservedPackets = 0;
        if (_packetKey is not null)
        {
            Shares.Packets.Release(_packetKey, _sharedPackets);
        }
        _sharedPackets = 0;
        Shares.Sessions.Release(Remote.Address, _sharedSessions);
        _sharedSessions = 0;
        foreach (OwampSender sender in _senders)
        {
            sender.Dispose();
        }
        foreach (OwampReceiver receiver in _receivers)
        {
            receiver.Dispose();
        }
    }

    protected override async Task CommandLoopAsync(ControlHandshakeResult handshake, CancellationToken cancellationToken)
    {
        bool testing = false;
        Task? sessionsEnded = null;
        _identity = handshake.Identity;
        // Authenticated clients draw on their identity's share, anonymous ones on their address's.
        _packetKey = Fairness.ServerShares.PacketKey(Remote.Address, handshake.Mode == SecurityMode.Open ? null : handshake.Identity);
        while (await ReadCommandBlockAsync(testing, cancellationToken, sessionsEnded).ConfigureAwait(false) is byte[] first)
        {
            var command = (CommandNumber)first[0];
            // A fetch may stream a large session to a slow client; everything else must finish within the set-up timeout.
            using CancellationTokenSource deadline = command == CommandNumber.FetchSession
                ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken)
                : MessageDeadline(cancellationToken);
            if (command == CommandNumber.FetchSession)
            {
                deadline.CancelAfter(TimeSpan.FromMinutes(10));
            }
            CancellationToken message = deadline.Token;
            switch (command)
            {
                case CommandNumber.RequestSession when !testing:
                    await HandleRequestAsync(handshake, first, message).ConfigureAwait(false);
                    break;
                case CommandNumber.StartSessions when !testing:
                    await ReadRestAsync(first, StartSessions.Length, message).ConfigureAwait(false);
                    int started = 0;
                    foreach (OwampReceiver receiver in _receivers.Where(r => r.Completion is null))
                    {
                        receiver.Start();
                        started++;
                    }
                    foreach (OwampSender sender in _senders.Where(s => !s.Completion.IsCompleted))
                    {
                        sender.Start();
                        started++;
                    }
                    await SendAsync(new StartAck(AcceptCode.Ok).Write, StartAck.Length, message).ConfigureAwait(false);
                    Log.Started(Logger, Peer, started);
                    testing = started > 0;
                    _testing = testing;
                    sessionsEnded = testing ? SessionsEnded() : null;
                    break;
                case CommandNumber.StopSessions when testing:
                    await HandleStopAsync(first, message).ConfigureAwait(false);
                    testing = false;
                    _testing = false;
                    sessionsEnded = null;
                    break;
                case CommandNumber.FetchSession when !testing:
                    await HandleFetchAsync(first, message).ConfigureAwait(false);
                    break;
                default:
                    // An unknown or out-of-state command: its length is unknown, the stream cannot be resynchronised.
                    throw new ControlProtocolException($"unexpected command {(byte)command} in {(testing ? "test" : "request")} state; closing");
            }
        }
    }

    /// <summary>
    /// Completes when every session of this test could have ended: our senders are done and every receive schedule
    /// plus its Timeout has passed. After that SERVWAIT applies again to a client that never sends Stop-Sessions.
    /// </summary>
    private Task SessionsEnded()
    {
        double latest = 0;
        NtpTimestamp now = SystemClock.Instance.Now();
        foreach (OwampReceiver receiver in _receivers.Where(r => r.Completion is null))
        {
            latest = Math.Max(latest, NtpTimestamp.DifferenceSeconds(receiver.Spec.LastScheduledSendTime, now) + receiver.Spec.Timeout.TotalSeconds);
        }
        return Task.WhenAll(_senders.Select(s => (Task)s.Completion).Append(Task.Delay(TimeSpan.FromSeconds(Math.Clamp(latest, 0, 86400)))));
    }

    private async Task HandleRequestAsync(ControlHandshakeResult handshake, byte[] first, CancellationToken cancellationToken)
    {
        byte[] message = await ReadRestAsync(first, SessionRequest.Length, cancellationToken).ConfigureAwait(false);
        SessionRequest.TryRead(message, out SessionRequest? request);
        uint slotCount = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(message.AsSpan(4));
        if (slotCount > HardSlotLimit)
        {
            throw new ControlProtocolException($"Request-Session with {slotCount} schedule slots; closing");
        }
        // Slots beyond the limit are refused below, but read first to keep the stream in step: through a small buffer,
        // so a request of 65 536 slots costs no more memory than one of a few.
        bool overLimit = slotCount > Options.MaxScheduleSlots;
        byte[] slotBlocks = new byte[(overLimit ? 0 : slotCount * ScheduleSlot.Length) + ControlStreamCipher.HmacLength];
        if (overLimit)
        {
            await DiscardBlocksAsync(slotCount * ScheduleSlot.Length, cancellationToken).ConfigureAwait(false);
        }
        else if (slotCount > 0)
        {
            await Channel.ReadBlocksAsync(slotBlocks.AsMemory(0, (int)slotCount * ScheduleSlot.Length), cancellationToken).ConfigureAwait(false);
        }
        await Channel.ReadHmacAsync(cancellationToken).ConfigureAwait(false);

        AcceptSession answer = CreateSession(handshake, request, message, slotBlocks, slotCount);
        ServerMetrics.SessionAnswered(twamp: false, (byte)answer.Accept);
        await SendAsync(answer.Write, AcceptSession.Length, cancellationToken).ConfigureAwait(false);
    }

    private async Task DiscardBlocksAsync(long octets, CancellationToken cancellationToken)
    {
        byte[] scratch = new byte[64 * ScheduleSlot.Length];
        for (long left = octets; left > 0;)
        {
            int chunk = (int)Math.Min(left, scratch.Length);
            await Channel.ReadBlocksAsync(scratch.AsMemory(0, chunk), cancellationToken).ConfigureAwait(false);
            left -= chunk;
        }
    }

    private AcceptSession CreateSession(ControlHandshakeResult handshake, SessionRequest? request, byte[] message, byte[] slotBlocks, uint slotCount)
    {
        AcceptSession Refuse(AcceptCode code, string reason)
        {
            Log.SessionRefused(Logger, Peer, (byte)code, reason);
            return new AcceptSession(code, 0, default);
        }

        if (request is null)
        {
            return Refuse(AcceptCode.NotSupported, $"IPVN {message[1] & 0x0F} is neither 4 nor 6");
        }
        bool serverReceives = request.ConfReceiver != 0;
        bool serverSends = request.ConfSender != 0;
        if (serverReceives == serverSends)
        {
            return Refuse(AcceptCode.NotSupported, "exactly one of Conf-Sender and Conf-Receiver must be set");
        }
        if (slotCount == 0 || slotCount > Options.MaxScheduleSlots)
        {
            return Refuse(AcceptCode.PermanentResourceLimitation, $"{slotCount} schedule slots (limit {Options.MaxScheduleSlots})");
        }
        if (request.PacketCount == 0 || request.PacketCount > Options.MaxPacketsPerSession)
        {
            return Refuse(AcceptCode.PermanentResourceLimitation, $"{request.PacketCount} packets (limit {Options.MaxPacketsPerSession})");
        }
        if (CheckSessionLimits(request) is { } refusal)
        {
            return Refuse(refusal.Accept, refusal.Reason);
        }
        if (SessionCount >= Options.MaxSessionsPerConnection)
        {
            return Refuse(AcceptCode.PermanentResourceLimitation, $"more than {Options.MaxSessionsPerConnection} sessions on one connection");
        }
        var slots = new ScheduleSlot[slotCount];
        for (int i = 0; i < slotCount; i++)
        {
            if (ScheduleSlot.TryRead(slotBlocks.AsSpan(i * ScheduleSlot.Length), out slots[i]) != OperationStatus.Done)
            {
                return Refuse(AcceptCode.NotSupported, $"schedule slot {i} has an unknown type {slotBlocks[i * ScheduleSlot.Length]}");
            }
        }
        if (ClassDecisions.CheckTestSessions(PolicyClass, SessionCount) is PolicyRefusal tooMany)
        {
            LogPolicyRefusal(tooMany, (byte)AcceptCode.PermanentResourceLimitation);
            return new AcceptSession(AcceptCode.PermanentResourceLimitation, 0, default);
        }
        if (serverReceives && ClassDecisions.CheckDisk(PolicyClass, EstimatedStoredOctets(request.PacketCount, slotCount)) is PolicyRefusal tooBig)
        {
            LogPolicyRefusal(tooBig, (byte)AcceptCode.PermanentResourceLimitation);
            return new AcceptSession(AcceptCode.PermanentResourceLimitation, 0, default);
        }
        IPAddress requestedPeer = serverReceives ? request.SenderAddress : request.ReceiverAddress;
        if (PeerTestAddress(requestedPeer) is not IPAddress peerAddress)
        {
            return Refuse(AcceptCode.Failure, $"test address {requestedPeer} is not the control connection's peer {Remote.Address} (third-party sessions are disabled)");
        }
        ushort peerPort = serverReceives ? request.SenderPort : request.ReceiverPort;
        if (peerPort == 0)
        {
            return Refuse(AcceptCode.NotSupported, "the peer's test port is 0");
        }
        SessionId sid = serverReceives || request.Sid.IsZero ? SessionIdGenerator.Create(serverReceives ? Local.Address : peerAddress) : request.Sid;
        if (_requests.ContainsKey(sid))
        {
            return Refuse(AcceptCode.NotSupported, $"SID {sid} is already in use on this connection");
        }
        NtpTimestamp now = SystemClock.Instance.Now();
        // Unsigned comparison: a Start Time of 0 ("as soon as possible" in practice) lies in the past, not 2^31 s ahead.
        double startsIn = request.StartTime.CompareTo(now) > 0 ? NtpTimestamp.DifferenceSeconds(request.StartTime, now) : 0;
        if (startsIn > Options.MaxStartDelay.TotalSeconds)
        {
            // A session starting far ahead would hold its packets, port and connection for as long (RFC 4656 §3.5 sets no bound).
            return Refuse(AcceptCode.PermanentResourceLimitation, $"start time {startsIn:0} s ahead (limit {Options.MaxStartDelay.TotalSeconds:0} s)");
        }
        double[] slotMeans = [.. slots.Select(slot => slot.Parameter.TotalSeconds)];
        // The schedule's length, as the slots' means give it (RFC 4656 §3.5 cycles through them), without drawing a
        // million exponential offsets for a request that may be refused: only the start is bounded above otherwise, and
        // two packets a year apart would hold the connection, a port and a packet share for that year.
        double endsIn = startsIn + (request.PacketCount * slotMeans.Average());
        if (endsIn > Options.MaxSessionDuration.TotalSeconds)
        {
            return Refuse(AcceptCode.PermanentResourceLimitation, $"the schedule ends {endsIn:0} s ahead (limit {Options.MaxSessionDuration.TotalSeconds:0} s)");
        }
        // owampd.limits(5) bandwidth over the schedule the client asked for: packet on the wire × mean rate of the slots.
        int payload = TestPacketLayout.SenderHeader(handshake.Mode.ProtectsTestPackets()) + (int)request.PaddingLength;
        ulong bitsPerSecond = TestBandwidth.BitsPerSecond(payload, Local.AddressFamily == AddressFamily.InterNetworkV6, slotMeans);
        BandwidthReservation? bandwidth = Options.PolicyUsage.TryReserve(PolicyClass, bitsPerSecond, out PolicyRefusal? overBandwidth);
        if (bandwidth is null)
        {
            // Alone over a limit it can never fit (Accept=4); beside other running tests of the class it may later (Accept=5).
            bool never = PolicyClass.SelfAndAncestors().Any(c => c.Bandwidth != 0 && bitsPerSecond > c.Bandwidth);
            AcceptCode code = never ? AcceptCode.PermanentResourceLimitation : AcceptCode.TemporaryResourceLimitation;
            LogPolicyRefusal(overBandwidth!, (byte)code);
            return new AcceptSession(code, 0, default);
        }
        string packetKey = _packetKey!;
        if (!Shares.Sessions.TryTake(Remote.Address, 1))
        {
            bandwidth.Dispose();
            ServerMetrics.PolicyRefusal(Fairness.ShareRefusal.SessionsPerSource);
            return Refuse(AcceptCode.TemporaryResourceLimitation, $"this address already holds {Shares.Sessions.PerKeyLimit} test sessions");
        }
        if (!Shares.Packets.TryTake(packetKey, request.PacketCount))
        {
            bandwidth.Dispose();
            Shares.Sessions.Release(Remote.Address, 1);
            ServerMetrics.PolicyRefusal(Fairness.ShareRefusal.ScheduledPacketsPerSource);
            return Refuse(AcceptCode.TemporaryResourceLimitation, $"{packetKey} already schedules {Shares.Packets.Held(packetKey)} packets (its share is {Shares.Packets.PerKeyLimit})");
        }
        if (!Options.PacketBudget.TryReserve(request.PacketCount))
        {
            bandwidth.Dispose();
            Shares.Sessions.Release(Remote.Address, 1);
            Shares.Packets.Release(packetKey, request.PacketCount);
            ServerMetrics.PolicyRefusal(Fairness.ShareRefusal.ScheduledPackets);
            return Refuse(AcceptCode.TemporaryResourceLimitation, $"the server already schedules {Options.PacketBudget.Used} packets (limit {Options.MaxScheduledPackets})");
        }
        // Everything reserved above, given back when the session cannot be set up after all.
        void ReleaseReservations()
        {
            bandwidth.Dispose();
            Options.PacketBudget.Release(request.PacketCount);
            Shares.Sessions.Release(Remote.Address, 1);
            Shares.Packets.Release(packetKey, request.PacketCount);
        }

        UdpTestSocket? socket = Ports.TryBind(Local.Address, 0, TimeSpan.FromMilliseconds(100));
        if (socket is null)
        {
            ReleaseReservations();
            return Refuse(AcceptCode.TemporaryResourceLimitation, "no free test port");
        }
        try
        {
            socket.Connect(new IPEndPoint(peerAddress, peerPort));
            if (request.Dscp is byte dscp and not 0)
            {
                socket.SetDscp(dscp);
            }
            var spec = new OwampSessionSpec(request, slots, sid);
            TestPacketCipher? cipher = handshake.Mode.ProtectsTestPackets() ? TestPacketCipher.Create(handshake.Mode, handshake.Keys!, sid) : null;
            int port = socket.LocalEndPoint.Port;
            if (serverReceives)
            {
                _receivers.Add(new OwampReceiver(socket, spec, cipher, Logger));
            }
            else
            {
                _senders.Add(new OwampSender(socket, spec, cipher));
            }
            _reservedPackets += request.PacketCount;
            _sharedPackets += request.PacketCount;
            _sharedSessions++;
            _requests[sid] = (message[..SessionRequest.Length], slotBlocks);
            _bandwidth.Add(bandwidth);
            _activeSessions++;
            ServerMetrics.SessionStarted(twamp: false);
            Log.SessionAccepted(Logger, Peer, sid, port, $"{peerAddress}:{peerPort} ({(serverReceives ? "server receives" : "server sends")})", request.PaddingLength);
            return new AcceptSession(AcceptCode.Ok, (ushort)port, sid);
        }
        catch (SocketException e)
        {
            // Nothing of the session is held yet but what was reserved above: give it all back, or each retry would
            // keep a share until the connection closes.
            socket.Dispose();
            ReleaseReservations();
            return Refuse(AcceptCode.InternalError, e.Message);
        }
    }

    /// <summary>What a received session of this size takes in the data directory (a soft estimate, as owampd makes it).</summary>
    private static ulong EstimatedStoredOctets(uint packets, uint slots) =>
        (ulong)OwampSessionFile.HeaderLength + SessionRequest.Length + ((ulong)slots * ScheduleSlot.Length) + ((ulong)packets * OwampDataRecord.Length) + OwampSessionFile.DigestLength;

    private async Task HandleStopAsync(byte[] first, CancellationToken cancellationToken)
    {
        (OwampStopSessions clientStop, List<OwampReceiver> completed) = await ReadClientStopAsync(first, cancellationToken).ConfigureAwait(false);
        List<SessionDescription> ours = StopSenders();
        await OwampStopSessionsReader.SendAsync(Channel, new OwampStopSessions(AcceptCode.Ok, ours), cancellationToken).ConfigureAwait(false);
        Log.Stopped(Logger, Peer, clientStop.Sessions.Count + ours.Count, (byte)clientStop.Accept);
        await FinishReceiversAsync(completed, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads the client's Stop-Sessions and completes the running receivers with its descriptions (RFC 4656 §3.8).</summary>
    private async Task<(OwampStopSessions Stop, List<OwampReceiver> Completed)> ReadClientStopAsync(byte[] first, CancellationToken cancellationToken)
    {
        OwampStopSessions clientStop = await OwampStopSessionsReader.ReadAsync(Channel, first, SessionCount, cancellationToken).ConfigureAwait(false);
        NtpTimestamp stopTime = SystemClock.Instance.Now();
        foreach (OwampReceiver receiver in _receivers.Where(r => r.Completion is null))
        {
            await receiver.WaitForInFlightAsync(clientStop.Sessions.FirstOrDefault(d => d.Sid == receiver.Sid), stopTime, cancellationToken).ConfigureAwait(false);
        }
        return (clientStop, CompleteReceivers(clientStop.Sessions, stopTime));
    }

    /// <summary>Completes the running receivers; one the client described no session for ended abnormally.</summary>
    private List<OwampReceiver> CompleteReceivers(IReadOnlyList<SessionDescription>? clientDescriptions, NtpTimestamp stopTime)
    {
        var completed = new List<OwampReceiver>();
        foreach (OwampReceiver receiver in _receivers.Where(r => r.Completion is null))
        {
            SessionDescription? description = clientDescriptions?.FirstOrDefault(d => d.Sid == receiver.Sid);
            receiver.Complete(description, stopTime);
            completed.Add(receiver);
        }
        return completed;
    }

    /// <summary>Stops every sender of this connection and returns the descriptions of what each sent, for our Stop-Sessions.</summary>
    private List<SessionDescription> StopSenders()
    {
        var ours = new List<SessionDescription>();
        foreach (OwampSender sender in _senders)
        {
            ours.Add(sender.Stop());
            sender.Dispose();
            _requests.Remove(sender.Sid);
        }
        _senders.Clear();
        return ours;
    }

    /// <summary>Counts the completed sessions, frees their resources and, with a data directory, stores them.</summary>
    private async Task FinishReceiversAsync(List<OwampReceiver> completed, CancellationToken cancellationToken)
    {
        foreach (OwampReceiver receiver in completed)
        {
            ServerMetrics.SessionTotals(twamp: false, receiver.Records().Count(r => !r.IsLost), receiver.Malformed, receiver.BadHmac);
        }
        EndSessions();
        if (_store is { } store && completed.Count > 0)
        {
            // Off the control loop's thread; a failure leaves the session in memory (the store logs it).
            await Task.Run(
                () =>
                {
                    foreach (OwampReceiver receiver in completed)
                    {
                        if (store.TrySave(Snapshot(receiver, 0, uint.MaxValue)))
                        {
                            receiver.ReleaseRecords();
                            lock (_stored)
                            {
                                _stored.Add(receiver.Sid);
                            }
                        }
                    }
                },
                cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Long enough for the client to wait out the sessions' Timeout before it answers (so the packets in flight count),
    /// and to fetch what the server received.
    /// </summary>
    protected override TimeSpan ServerStoppingBound =>
        TimeSpan.FromSeconds(5) + _receivers.Select(r => r.Spec.Timeout).Concat(_senders.Select(s => s.Spec.Timeout)).DefaultIfEmpty(TimeSpan.Zero).Max();

    /// <summary>
    /// The server shuts down during a test. RFC 4656 §3.8 lets either side end the sessions with Stop-Sessions: ours
    /// describes what our senders actually sent (Next Seqno, skip ranges), so the client counts no packet as lost that
    /// was never sent. The client answers with its own, which completes our receivers; it may then fetch them until it
    /// closes (within <see cref="ServerStoppingBound"/>). However it ends, received sessions are stored with a data
    /// directory as after any Stop-Sessions.
    /// </summary>
    protected override async Task OnServerStoppingAsync(CancellationToken cancellationToken)
    {
        if (!_testing)
        {
            return;
        }
        _testing = false;
        int running = _senders.Count + _receivers.Count(r => r.Completion is null);
        List<SessionDescription> ours = StopSenders();
        await OwampStopSessionsReader.SendAsync(Channel, new OwampStopSessions(AcceptCode.Ok, ours), cancellationToken).ConfigureAwait(false);
        Log.StoppedByServer(Logger, Peer, running);
        List<OwampReceiver>? completed = null;
        try
        {
            byte[]? first = await ReadCommandBlockAsync(testing: true, cancellationToken).ConfigureAwait(false);
            if (first![0] != (byte)CommandNumber.StopSessions)
            {
                throw new ControlProtocolException($"command {first[0]} instead of the answer to our Stop-Sessions; closing");
            }
            (OwampStopSessions clientStop, completed) = await ReadClientStopAsync(first, cancellationToken).ConfigureAwait(false);
            Log.Stopped(Logger, Peer, clientStop.Sessions.Count + ours.Count, (byte)clientStop.Accept);
            await FinishReceiversAsync(completed, cancellationToken).ConfigureAwait(false);
            while (await ReadCommandBlockAsync(testing: false, cancellationToken).ConfigureAwait(false) is byte[] command)
            {
                if (command[0] != (byte)CommandNumber.FetchSession)
                {
                    throw new ControlProtocolException($"command {command[0]} while the server is stopping; closing");
                }
                await HandleFetchAsync(command, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (completed is null && e is ControlProtocolException or IOException or SocketException or OperationCanceledException)
        {
            // No answer (the client closed, broke the protocol or ran out the bound): the received sessions end
            // abnormally, and are kept all the same.
            Log.ConnectionLost(Logger, Peer, e.Message);
            using var storing = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await FinishReceiversAsync(CompleteReceivers(null, SystemClock.Instance.Now()), storing.Token).ConfigureAwait(false);
        }
        catch (ControlProtocolException e)
        {
            // After the answer (a fetch gone wrong): the sessions are complete and stored; only this connection ends.
            Log.ProtocolError(Logger, Peer, e.Message);
        }
    }
}
