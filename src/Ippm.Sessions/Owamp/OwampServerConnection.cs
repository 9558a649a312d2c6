using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Ippm.Security;
using Ippm.Sessions.Control;
using Ippm.Sessions.Server;
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
/// by the per-session packet limit, until the connection closes.
/// </summary>
public sealed class OwampServerConnection : ControlServerConnection
{
    /// <summary>Beyond this many slots the stream is not even read: the connection is closed.</summary>
    private const uint HardSlotLimit = 65536;

    private readonly List<OwampReceiver> _receivers = [];
    private readonly List<OwampSender> _senders = [];
    private readonly Dictionary<SessionId, (byte[] Request, byte[] Slots)> _requests = [];
    private readonly List<IDisposable> _pending = [];

    public OwampServerConnection(Stream stream, IPEndPoint local, IPEndPoint remote, ServerOptions options, TestPortAllocator ports, ILogger logger)
        : base(stream, local, remote, options, ports, logger)
    {
    }

    protected override ControlProtocol Protocol => ControlProtocol.Owamp;

    protected override uint OfferedModes => Options.Modes & SecurityModes.SecurityBits(ControlProtocol.Owamp);

    private int SessionCount => _receivers.Count + _senders.Count;

    protected override void OnClosed()
    {
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
        while (await ReadCommandBlockAsync(testing, cancellationToken).ConfigureAwait(false) is byte[] first)
        {
            var command = (CommandNumber)first[0];
            switch (command)
            {
                case CommandNumber.RequestSession when !testing:
                    await HandleRequestAsync(handshake, first, cancellationToken).ConfigureAwait(false);
                    break;
                case CommandNumber.StartSessions when !testing:
                    await ReadRestAsync(first, StartSessions.Length, cancellationToken).ConfigureAwait(false);
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
                    await SendAsync(new StartAck(AcceptCode.Ok).Write, StartAck.Length, cancellationToken).ConfigureAwait(false);
                    Log.Started(Logger, Peer, started);
                    testing = started > 0;
                    break;
                case CommandNumber.StopSessions when testing:
                    await HandleStopAsync(first, cancellationToken).ConfigureAwait(false);
                    testing = false;
                    break;
                case CommandNumber.FetchSession when !testing:
                    await HandleFetchAsync(first, cancellationToken).ConfigureAwait(false);
                    break;
                default:
                    // An unknown or out-of-state command: its length is unknown, the stream cannot be resynchronised.
                    throw new ControlProtocolException($"unexpected command {(byte)command} in {(testing ? "test" : "request")} state; closing");
            }
        }
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
        byte[] slotBlocks = new byte[slotCount * ScheduleSlot.Length + ControlStreamCipher.HmacLength];
        if (slotCount > 0)
        {
            await Channel.ReadBlocksAsync(slotBlocks.AsMemory(0, (int)slotCount * ScheduleSlot.Length), cancellationToken).ConfigureAwait(false);
        }
        await Channel.ReadHmacAsync(cancellationToken).ConfigureAwait(false);

        AcceptSession answer = CreateSession(handshake, request, message, slotBlocks, slotCount);
        await SendAsync(answer.Write, AcceptSession.Length, cancellationToken).ConfigureAwait(false);
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
        if (request.Dscp is null)
        {
            return Refuse(AcceptCode.NotSupported, $"Type-P descriptor 0x{request.TypePDescriptor:x8} is not a DSCP");
        }
        if (request.PaddingLength > Options.MaxPaddingLength)
        {
            return Refuse(AcceptCode.NotSupported, $"padding {request.PaddingLength} exceeds the limit {Options.MaxPaddingLength}");
        }
        if (request.Timeout.TotalSeconds > Options.MaxSessionTimeout.TotalSeconds)
        {
            return Refuse(AcceptCode.NotSupported, $"timeout {request.Timeout.TotalSeconds:0.###} s exceeds the limit {Options.MaxSessionTimeout.TotalSeconds} s");
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
        IPAddress peerAddress = PeerTestAddress(serverReceives ? request.SenderAddress : request.ReceiverAddress);
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
        UdpTestSocket? socket = Ports.TryBind(Local.Address, 0, TimeSpan.FromMilliseconds(100));
        if (socket is null)
        {
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
            _requests[sid] = (message[..SessionRequest.Length], slotBlocks);
            Log.SessionAccepted(Logger, Peer, sid, port, $"{peerAddress}:{peerPort} ({(serverReceives ? "server receives" : "server sends")})", request.PaddingLength);
            return new AcceptSession(AcceptCode.Ok, (ushort)port, sid);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            return Refuse(AcceptCode.InternalError, e.Message);
        }
    }

    private async Task HandleStopAsync(byte[] first, CancellationToken cancellationToken)
    {
        OwampStopSessions clientStop = await OwampStopSessionsReader.ReadAsync(Channel, first, SessionCount, cancellationToken).ConfigureAwait(false);
        NtpTimestamp stopTime = SystemClock.Instance.Now();
        foreach (OwampReceiver receiver in _receivers.Where(r => r.Completion is null))
        {
            SessionDescription? description = clientStop.Sessions.FirstOrDefault(d => d.Sid == receiver.Sid);
            receiver.Complete(description, stopTime);
        }
        var ours = new List<SessionDescription>();
        foreach (OwampSender sender in _senders)
        {
            ours.Add(sender.Stop());
            sender.Dispose();
        }
        _senders.Clear();
        await OwampStopSessionsReader.SendAsync(Channel, new OwampStopSessions(AcceptCode.Ok, ours), cancellationToken).ConfigureAwait(false);
        Log.Stopped(Logger, Peer, clientStop.Sessions.Count + ours.Count, (byte)clientStop.Accept);
    }

    private async Task HandleFetchAsync(byte[] first, CancellationToken cancellationToken)
    {
        byte[] message = await ReadRestAsync(first, FetchSession.Length, cancellationToken).ConfigureAwait(false);
        FetchSession.TryRead(message, out FetchSession? fetch);
        OwampReceiver? receiver = _receivers.FirstOrDefault(r => r.Sid == fetch!.Sid);
        if (receiver?.Completion is not { } completion || fetch!.BeginSeq > fetch.EndSeq)
        {
            Log.FetchRefused(Logger, Peer, (byte)AcceptCode.Failure, receiver is null ? $"no received session {fetch!.Sid}" : "session not finished or empty range");
            await SendAsync(new FetchAck(AcceptCode.Failure, 0, 0, 0, 0).Write, FetchAck.Length, cancellationToken).ConfigureAwait(false);
            return;
        }
        OwampDataRecord[] records = receiver.Records(fetch.BeginSeq, fetch.EndSeq);
        byte finished = receiver.EndedAbnormally ? (byte)2 : (byte)1;
        var ack = new FetchAck(AcceptCode.Ok, finished, completion.NextSeqno, (uint)completion.SkipRanges.Count, (uint)records.Length);
        await SendAsync(ack.Write, FetchAck.Length, cancellationToken).ConfigureAwait(false);

        // RFC 4656 §3.8: the original Request-Session (HMACs recomputed), the skip ranges, then the records,
        // each section closed by an HMAC block.
        (byte[] request, byte[] slots) = _requests[receiver.Sid];
        await Channel.SendMessageAsync((byte[])request.Clone(), cancellationToken).ConfigureAwait(false);
        await Channel.SendMessageAsync((byte[])slots.Clone(), cancellationToken).ConfigureAwait(false);

        byte[] skipSection = new byte[SkipRangeList.EncodedLength(completion.SkipRanges.Count) + ControlStreamCipher.HmacLength];
        SkipRangeList.Write(completion.SkipRanges, skipSection);
        await Channel.SendMessageAsync(skipSection, cancellationToken).ConfigureAwait(false);

        byte[] recordSection = new byte[OwampDataRecord.EncodedLength(records.Length) + ControlStreamCipher.HmacLength];
        for (int i = 0; i < records.Length; i++)
        {
            records[i].Write(recordSection.AsSpan(i * OwampDataRecord.Length));
        }
        await Channel.SendMessageAsync(recordSection, cancellationToken).ConfigureAwait(false);
        Log.Fetched(Logger, Peer, records.Length, receiver.Sid);
    }
}
