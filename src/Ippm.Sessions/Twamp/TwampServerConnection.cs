using System.Net;
using System.Net.Sockets;
using Ippm.Policy;
using Ippm.Security;
using Ippm.Sessions.Control;
using Ippm.Sessions.Server;
using Ippm.Sessions.Telemetry;
using Ippm.Sessions.Transport;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;
using Microsoft.Extensions.Logging;

namespace Ippm.Sessions.Twamp;

/// <summary>
/// One TWAMP-Control connection on the server (RFC 5357 §3): Request-TW-Session, Start-Sessions and
/// Stop-Sessions, each session served by a <see cref="TwampReflector"/>.
/// </summary>
public sealed partial class TwampServerConnection : ControlServerConnection
{
    /// <summary>A session of this connection: accepted, then running, then stopped (RFC 5938 tracks each one).</summary>
    private sealed class Session(TwampReflector reflector, TimeSpan timeout)
    {
        public TwampReflector Reflector { get; } = reflector;
        public TimeSpan Timeout { get; } = timeout;
        public bool Running { get; set; }
    }

    private readonly List<Session> _sessions = [];
    private readonly List<TwampReflector> _allReflectors = [];
    private readonly HashSet<SessionId> _stopped = [];
    private bool _individualControl;
    private bool _testing;

    public TwampServerConnection(Stream stream, IPEndPoint local, IPEndPoint remote, ServerOptions options, TestPortAllocator ports, ILogger logger)
        : base(stream, local, remote, options, ports, logger)
    {
    }

    protected override ControlProtocol Protocol => ControlProtocol.Twamp;

    protected override uint OfferedModes => (Options.Modes & SecurityModes.SecurityBits(ControlProtocol.Twamp)) | (Options.TwampFeatures & SecurityModes.TwampFeatureBits);

    protected override void OnClosed()
    {
        // Sessions already stopped keep reflecting for their Timeout; sessions the client did not stop
        // (it vanished or broke the protocol) end now, and so do sessions never started.
        foreach (Session session in _sessions)
        {
            session.Reflector.StopAfter(TimeSpan.Zero);
        }
    }

    protected override async Task CommandLoopAsync(ControlHandshakeResult handshake, CancellationToken cancellationToken)
    {
        _individualControl = (handshake.ModeBits & (uint)TwampModes.IndividualSessionControl) != 0;
        bool testing = false;
        Task? sessionsEnded = null;
        void Recount()
        {
            List<Session> running = _sessions.Where(s => s.Running).ToList();
            testing = running.Count > 0;
            _testing = testing;
            sessionsEnded = testing ? Task.WhenAll(running.Select(s => s.Reflector.Completion)) : null;
        }
        while (await ReadCommandBlockAsync(testing, cancellationToken, sessionsEnded).ConfigureAwait(false) is byte[] first)
        {
            using CancellationTokenSource deadline = MessageDeadline(cancellationToken);
            CancellationToken message = deadline.Token;
            var command = (CommandNumber)first[0];
            switch (command)
            {
                // RFC 5938 §3: with Individual Session Control, sessions may be requested while others run.
                case CommandNumber.RequestTwSession when !testing || _individualControl:
                    {
                        byte[] request = await ReadRestAsync(first, SessionRequest.Length, message).ConfigureAwait(false);
                        AcceptSession answer = CreateSession(handshake, request);
                        ServerMetrics.SessionAnswered(twamp: true, (byte)answer.Accept);
                        await SendAsync(answer.Write, AcceptSession.Length, message).ConfigureAwait(false);
                        break;
                    }
                case CommandNumber.StartSessions when !testing:
                    {
                        await ReadRestAsync(first, StartSessions.Length, message).ConfigureAwait(false);
                        int started = 0;
                        foreach (Session session in _sessions.Where(s => !s.Running))
                        {
                            session.Reflector.Start();
                            session.Running = true;
                            started++;
                        }
                        await SendAsync(new StartAck(AcceptCode.Ok).Write, StartAck.Length, message).ConfigureAwait(false);
                        Log.Started(Logger, Peer, started);
                        Recount();
                        break;
                    }
                case CommandNumber.StopSessions when testing:
                    {
                        byte[] stopMessage = await ReadRestAsync(first, TwampStopSessions.Length, message).ConfigureAwait(false);
                        TwampStopSessions.TryRead(stopMessage, out TwampStopSessions? stop);
                        List<Session> running = _sessions.Where(s => s.Running).ToList();
                        if (stop!.SessionCount != running.Count)
                        {
                            Log.StopCountMismatch(Logger, Peer, stop.SessionCount, running.Count);
                        }
                        foreach (Session session in running)
                        {
                            session.Reflector.StopAfter(session.Timeout);
                        }
                        Log.Stopped(Logger, Peer, running.Count, (byte)stop.Accept);
                        // Sessions accepted but never started (RFC 5938) stay startable; stopped ones go.
                        _stopped.UnionWith(running.Select(s => s.Reflector.Sid));
                        _sessions.RemoveAll(s => s.Running);
                        Recount();
                        break;
                    }
                case CommandNumber.StartNSessions when _individualControl:
                case CommandNumber.StopNSessions when _individualControl:
                    await IndividualControlAsync(first, command == CommandNumber.StartNSessions, message).ConfigureAwait(false);
                    Recount();
                    break;
                default:
                    // The length of an unknown command is unknown, so the CBC/HMAC stream cannot be resynchronised:
                    // close rather than answer and desynchronise as the reference does.
                    throw new ControlProtocolException($"unexpected command {(byte)command} in {(testing ? "test" : "request")} state; closing");
            }
        }
    }

    /// <summary>
    /// Start-N-Sessions / Stop-N-Sessions (RFC 5938 §3.2–3.5). The command is all or nothing: every SID must name a
    /// session of this connection that is not yet running (Start-N) or is running (Stop-N), each at most once;
    /// otherwise the Ack carries Accept=1 (Failure) with the SIDs as received, nothing changes, and the refusal is
    /// logged. Other sessions of the connection are never touched by a refused command.
    /// </summary>
    private async Task IndividualControlAsync(byte[] first, bool start, CancellationToken cancellationToken)
    {
        uint count = SessionListMessage.ReadCount(first);
        // The count fixes the message length. A count beyond what this connection can hold cannot be honest, and
        // reading it would let a peer make the server buffer anything: treat it as an unknown length and close.
        if (count > Options.MaxSessionsPerConnection)
        {
            throw new ControlProtocolException($"{(start ? "Start" : "Stop")}-N-Sessions names {count} sessions, more than the {Options.MaxSessionsPerConnection} a connection may hold; closing");
        }
        byte[] raw = new byte[SessionListMessage.LengthFor((int)count)];
        first.CopyTo(raw, 0);
        if (Channel.IsProtected)
        {
            await Channel.ReadMessageAsync(raw, first.Length, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            // Open mode has no HMAC to check; read the HMAC block as data to see whether it is the zero block it must be.
            await Channel.ReadBlocksAsync(raw.AsMemory(first.Length), cancellationToken).ConfigureAwait(false);
        }
        IReadOnlyList<SessionId> sids = start
            ? (StartNSessions.TryRead(raw, out StartNSessions? s) == System.Buffers.OperationStatus.Done ? s!.Sids : [])
            : (StopNSessions.TryRead(raw, out StopNSessions? t) == System.Buffers.OperationStatus.Done ? t!.Sids : []);
        string? refusal = null;
        var chosen = new List<Session>();
        if (count == 0)
        {
            refusal = "the list names no session";
        }
        else if (!Channel.IsProtected && raw.AsSpan(raw.Length - 16).IndexOfAnyExcept((byte)0) >= 0)
        {
            // Open mode: the HMAC block is zero, so a non-zero one is a SID beyond Number of Sessions.
            refusal = $"Number of Sessions ({count}) disagrees with the SIDs sent (the HMAC block is not zero)";
        }
        else
        {
            foreach (SessionId sid in sids)
            {
                Session? session = _sessions.Find(x => x.Reflector.Sid == sid);
                if (session is null)
                {
                    refusal = _stopped.Contains(sid) ? $"session {sid} is already stopped" : $"SID {sid} is not a session of this connection";
                    break;
                }
                if (chosen.Contains(session))
                {
                    refusal = $"SID {sid} is listed twice";
                    break;
                }
                if (start && session.Running)
                {
                    refusal = $"session {sid} is already running";
                    break;
                }
                if (!start && !session.Running)
                {
                    refusal = $"session {sid} is not running";
                    break;
                }
                chosen.Add(session);
            }
        }
        if (_stopped.Count > 4096)
        {
            _stopped.Clear(); // only sharpens a log message; a long-lived connection must not grow it for ever
        }
        AcceptCode accept = refusal is null ? AcceptCode.Ok : AcceptCode.Failure;
        if (refusal is not null)
        {
            IscLog.IndividualControlRefused(Logger, Peer, start ? "Start-N-Sessions" : "Stop-N-Sessions", (byte)accept, refusal);
        }
        else
        {
            foreach (Session session in chosen)
            {
                if (start)
                {
                    session.Reflector.Start();
                    session.Running = true;
                }
                else
                {
                    session.Reflector.StopAfter(session.Timeout);
                    _sessions.Remove(session);
                    _stopped.Add(session.Reflector.Sid);
                }
            }
            IscLog.IndividualControl(Logger, Peer, start ? "started" : "stopped", chosen.Count, string.Join(", ", chosen.Select(c => c.Reflector.Sid.ToString())));
        }
        SessionListMessage ack = start ? new StartNAck(accept, sids) : new StopNAck(accept, sids);
        await SendAsync(ack.Write, ack.EncodedLength, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// RFC 5357 §3.8 has only the Control-Client send Stop-Sessions; a server that shuts down mid-test sends one anyway
    /// (as an OWAMP server may, RFC 4656 §3.8), Accept=0 because what was measured until then is sound, then closes.
    /// ippm's twping stops and reports on it; other clients see the connection close.
    /// </summary>
    protected override async Task OnServerStoppingAsync(CancellationToken cancellationToken)
    {
        if (!_testing)
        {
            return;
        }
        int count = _sessions.Count(s => s.Running);
        await SendAsync(new TwampStopSessions(AcceptCode.Ok, (uint)count).Write, TwampStopSessions.Length, cancellationToken).ConfigureAwait(false);
        Log.StoppedByServer(Logger, Peer, count);
        // Keep reflecting the packets in flight until the client has stopped and closed (its Stop-Sessions, then
        // EOF), within the caller's bound, so a shutdown does not show up as loss in the client's report.
        try
        {
            byte[] discard = new byte[ControlChannelBlockLength];
            while (true)
            {
                await Channel.ReadRawAsync(discard, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (ControlProtocolException)
        {
            // The client closed.
        }
        catch (OperationCanceledException)
        {
            // Bound reached: the sessions end now.
        }
    }

    private const int ControlChannelBlockLength = 16;

    private AcceptSession CreateSession(ControlHandshakeResult handshake, byte[] message)
    {
        AcceptSession Refuse(AcceptCode code, string reason)
        {
            Log.SessionRefused(Logger, Peer, (byte)code, reason);
            return new AcceptSession(code, 0, default);
        }

        if (SessionRequest.TryRead(message, out SessionRequest? request) != System.Buffers.OperationStatus.Done)
        {
            return Refuse(AcceptCode.NotSupported, $"IPVN {message[1] & 0x0F} is neither 4 nor 6");
        }
        if (request!.ConfSender != 0 || request.ConfReceiver != 0 || request.ScheduleSlotCount != 0 || request.PacketCount != 0)
        {
            return Refuse(AcceptCode.NotSupported, "Conf-Sender, Conf-Receiver, slots and packets must be zero in TWAMP");
        }
        if (CheckSessionLimits(request) is { } refusal)
        {
            return Refuse(refusal.Accept, refusal.Reason);
        }
        if (request.SenderPort == 0)
        {
            return Refuse(AcceptCode.NotSupported, "sender port 0");
        }
        bool reflectOctets = (handshake.ModeBits & (uint)TwampModes.ReflectOctets) != 0;
        if (reflectOctets && (request.OctetsToBeReflected > request.PaddingLength || request.PaddingToReflect > Options.MaxPaddingLength))
        {
            return Refuse(AcceptCode.NotSupported, $"RFC 6038: {request.OctetsToBeReflected} octets to reflect from a padding of {request.PaddingLength}, reply padding {request.PaddingToReflect} (limit {Options.MaxPaddingLength})");
        }
        _allReflectors.RemoveAll(r => r.Completion.IsCompleted);
        if (_allReflectors.Count >= Options.MaxSessionsPerConnection)
        {
            return Refuse(AcceptCode.PermanentResourceLimitation, $"more than {Options.MaxSessionsPerConnection} sessions on one connection");
        }
        if (ClassDecisions.CheckTestSessions(PolicyClass, _allReflectors.Count) is PolicyRefusal tooMany)
        {
            LogPolicyRefusal(tooMany, (byte)AcceptCode.PermanentResourceLimitation);
            return new AcceptSession(AcceptCode.PermanentResourceLimitation, 0, default);
        }
        // Request-TW-Session carries no schedule (RFC 5357 §3.5), so the rate is not known here: a class that cannot
        // carry even one reflected packet per second is refused now, and the reflector holds every other session to
        // the class's bandwidth (the smallest limit up to the root).
        bool protectedTest = handshake.Mode.ProtectsTestPackets();
        int reflectedOctets = Math.Max(TestPacketLayout.SenderHeader(protectedTest) + (int)Math.Min(request.PaddingLength, int.MaxValue / 2), TestPacketLayout.ReflectorHeader(protectedTest));
        ulong onePacketPerSecond = TestBandwidth.BitsPerSecond(reflectedOctets, Local.AddressFamily == AddressFamily.InterNetworkV6, [1.0]);
        ulong classBandwidth = TwampBandwidthCap(PolicyClass);
        if (classBandwidth != 0 && onePacketPerSecond > classBandwidth)
        {
            LimitClass limiting = PolicyClass.SelfAndAncestors().First(c => c.Bandwidth == classBandwidth);
            LogPolicyRefusal(new PolicyRefusal(limiting.Name, "bandwidth", $"one reflected packet per second needs {TestBandwidth.Describe(onePacketPerSecond)}, limit {TestBandwidth.Describe(classBandwidth)}"), (byte)AcceptCode.PermanentResourceLimitation);
            return new AcceptSession(AcceptCode.PermanentResourceLimitation, 0, default);
        }
        if (PeerTestAddress(request.SenderAddress) is not IPAddress senderAddress)
        {
            return Refuse(AcceptCode.Failure, $"sender address {request.SenderAddress} is not the control connection's peer {Remote.Address} (third-party sessions are disabled)");
        }
        // Per-source shares: one address cannot take every session or every megabyte of the server.
        int expectedLength = TwampTestFormat.For(handshake.Mode, handshake.ModeBits).SenderHeader + (int)request.PaddingLength;
        // The reflector runs on the shared engine wherever there is one (a Linux test socket batches).
        long memory = TwampReflector.BufferBytes(expectedLength, handshake.Mode.ProtectsTestPackets(), onEngine: Engine.SessionEngine.Shared is not null);
        IPAddress source = Remote.Address;
        if (!Shares.Sessions.TryTake(source, 1))
        {
            ServerMetrics.PolicyRefusal(Fairness.ShareRefusal.SessionsPerSource);
            return Refuse(AcceptCode.TemporaryResourceLimitation, $"this address already holds {Shares.Sessions.PerKeyLimit} test sessions");
        }
        if (!Shares.Memory.TryTake(source, memory))
        {
            Shares.Sessions.Release(source, 1);
            ServerMetrics.PolicyRefusal(Fairness.ShareRefusal.MemoryPerSource);
            return Refuse(AcceptCode.TemporaryResourceLimitation, $"this address already holds {Shares.Memory.Held(source) >> 10} KiB of reflector buffers (limit {Shares.Memory.PerKeyLimit >> 10} KiB)");
        }
        void ReleaseShares()
        {
            Shares.Sessions.Release(source, 1);
            Shares.Memory.Release(source, memory);
        }
        SessionId sid = SessionIdGenerator.Create(Local.Address);
        // Octets 88-91 are MBZ unless Reflect Octets was negotiated (RFC 6038 §4.1): ignore them otherwise.
        var features = new TwampReflectorFeatures(
            TwampTestFormat.For(handshake.Mode, handshake.ModeBits),
            reflectOctets ? request.OctetsToBeReflected : (ushort)0,
            reflectOctets ? request.PaddingToReflect : (ushort)0);
        var sender = new IPEndPoint(senderAddress, request.SenderPort);
        TwampReflector? reflector = CreateReflector(request, handshake, sid, sender, expectedLength, features, out string? failure);
        if (reflector is null)
        {
            ReleaseShares();
            return Refuse(failure is null ? AcceptCode.TemporaryResourceLimitation : AcceptCode.InternalError, failure ?? "no free test port");
        }
        _ = reflector.Completion.ContinueWith(_ => ReleaseShares(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        // The request's Timeout was validated (refused when over the limit) before anything was reserved.
        TimeSpan timeout = TimeSpan.FromSeconds(request.Timeout.TotalSeconds);
        reflector.BandwidthLimit = classBandwidth;
        _sessions.Add(new Session(reflector, timeout));
        _allReflectors.Add(reflector);
        ServerMetrics.SessionStarted(twamp: true);
        _ = reflector.Completion.ContinueWith(_ => ServerMetrics.SessionEnded(twamp: true), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        Log.SessionAccepted(Logger, Peer, sid, reflector.Port, reflector.Sender.ToString(), request.PaddingLength);
        // RFC 6038 §4.2: Reflected octets confirms the request; Server octets 0 = the server needs none returned.
        return new AcceptSession(AcceptCode.Ok, (ushort)reflector.Port, sid, reflectOctets ? request.OctetsToBeReflected : (ushort)0, 0);
    }

    /// <summary>
    /// The session's reflector: on a shared port when the client asked for no port in particular (Receiver Port 0, as
    /// ippm's clients do), the server already carries <see cref="ServerOptions.SharedTestPortsFrom"/> sessions and its packets fit one (<see cref="SharedReflectorPorts"/>), else on a socket of
    /// its own, bound to the requested port when allowed and free (RFC 5357 §3.5), else one from the range. Null when no
    /// port is free (<paramref name="failure"/> null) or a socket option failed (<paramref name="failure"/> says which).
    /// </summary>
    private TwampReflector? CreateReflector(SessionRequest request, ControlHandshakeResult handshake, SessionId sid, IPEndPoint sender, int expectedLength, TwampReflectorFeatures features, out string? failure)
    {
        failure = null;
        TestPacketCipher? cipher = handshake.Mode.ProtectsTestPackets() ? TestPacketCipher.Create(handshake.Mode, handshake.Keys!, sid) : null;
        if (request.ReceiverPort == 0 && TwampReflector.FitsSharedPort(expectedLength, features)
            && Ports.TwampSharedPorts(Logger)?.TryLease(Local.Address, sender, Options.SharedTestPortsFrom) is SharedPortLease lease)
        {
            int trafficClass = request.Dscp is byte shared and not 0 ? (shared & 0x3F) << 2 : -1;
            return new TwampReflector(lease, sid, handshake.Mode, cipher, sender, Options.RefWait, expectedLength, Logger, features, trafficClass);
        }
        UdpTestSocket? socket = Ports.TryBind(Local.Address, request.ReceiverPort, TimeSpan.FromMilliseconds(100));
        if (socket is null)
        {
            cipher?.Dispose();
            return null;
        }
        try
        {
            if (request.Dscp is byte dscp and not 0)
            {
                socket.SetDscp(dscp);
            }
            return new TwampReflector(socket, sid, handshake.Mode, cipher, sender, Options.RefWait, expectedLength, Logger, features);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            cipher?.Dispose();
            failure = e.Message;
            return null;
        }
    }

    private static partial class IscLog
    {
        [LoggerMessage(EventId = 220, Level = LogLevel.Warning, Message = "{Peer}: {Command} refused with Accept={Accept}: {Reason}")]
        public static partial void IndividualControlRefused(ILogger logger, string peer, string command, byte accept, string reason);

        [LoggerMessage(EventId = 221, Level = LogLevel.Information, Message = "{Peer}: RFC 5938: {Count} session(s) {Action}: {Sids}")]
        public static partial void IndividualControl(ILogger logger, string peer, string action, int count, string sids);
    }

    /// <summary>The smallest non-zero bandwidth from the class up to the root; 0 when none limits it.</summary>
    private static ulong TwampBandwidthCap(LimitClass limitClass)
    {
        ulong cap = 0;
        foreach (LimitClass c in limitClass.SelfAndAncestors())
        {
            if (c.Bandwidth != 0 && (cap == 0 || c.Bandwidth < cap))
            {
                cap = c.Bandwidth;
            }
        }
        return cap;
    }
}
