using System.Net;
using System.Net.Sockets;
using Ippm.Security;
using Ippm.Sessions.Control;
using Ippm.Sessions.Server;
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
public sealed class TwampServerConnection : ControlServerConnection
{
    private readonly List<(TwampReflector Reflector, TimeSpan Timeout)> _sessions = [];
    private readonly List<TwampReflector> _allReflectors = [];

    public TwampServerConnection(Stream stream, IPEndPoint local, IPEndPoint remote, ServerOptions options, TestPortAllocator ports, ILogger logger)
        : base(stream, local, remote, options, ports, logger)
    {
    }

    protected override ControlProtocol Protocol => ControlProtocol.Twamp;

    protected override uint OfferedModes => Options.Modes & SecurityModes.SecurityBits(ControlProtocol.Twamp);

    protected override void OnClosed()
    {
        // Sessions already stopped keep reflecting for their Timeout; sessions the client did not stop
        // (it vanished or broke the protocol) end now, and so do sessions never started.
        foreach ((TwampReflector reflector, _) in _sessions)
        {
            reflector.StopAfter(TimeSpan.Zero);
        }
    }

    protected override async Task CommandLoopAsync(ControlHandshakeResult handshake, CancellationToken cancellationToken)
    {
        bool testing = false;
        Task? sessionsEnded = null;
        while (await ReadCommandBlockAsync(testing, cancellationToken, sessionsEnded).ConfigureAwait(false) is byte[] first)
        {
            using CancellationTokenSource deadline = MessageDeadline(cancellationToken);
            CancellationToken message = deadline.Token;
            var command = (CommandNumber)first[0];
            switch (command)
            {
                case CommandNumber.RequestTwSession when !testing:
                    {
                        byte[] request = await ReadRestAsync(first, SessionRequest.Length, message).ConfigureAwait(false);
                        AcceptSession answer = CreateSession(handshake, request);
                        await SendAsync(answer.Write, AcceptSession.Length, message).ConfigureAwait(false);
                        break;
                    }
                case CommandNumber.StartSessions when !testing:
                    await ReadRestAsync(first, StartSessions.Length, message).ConfigureAwait(false);
                    foreach ((TwampReflector reflector, _) in _sessions)
                    {
                        reflector.Start();
                    }
                    await SendAsync(new StartAck(AcceptCode.Ok).Write, StartAck.Length, message).ConfigureAwait(false);
                    Log.Started(Logger, Peer, _sessions.Count);
                    testing = _sessions.Count > 0;
                    sessionsEnded = testing ? Task.WhenAll(_sessions.Select(s => s.Reflector.Completion)) : null;
                    break;
                case CommandNumber.StopSessions when testing:
                    {
                        byte[] stopMessage = await ReadRestAsync(first, TwampStopSessions.Length, message).ConfigureAwait(false);
                        TwampStopSessions.TryRead(stopMessage, out TwampStopSessions? stop);
                        if (stop!.SessionCount != _sessions.Count)
                        {
                            Log.StopCountMismatch(Logger, Peer, stop.SessionCount, _sessions.Count);
                        }
                        foreach ((TwampReflector reflector, TimeSpan timeout) in _sessions)
                        {
                            reflector.StopAfter(timeout);
                        }
                        Log.Stopped(Logger, Peer, _sessions.Count, (byte)stop.Accept);
                        _sessions.Clear();
                        testing = false;
                        sessionsEnded = null;
                        break;
                    }
                default:
                    // The length of an unknown command is unknown, so the CBC/HMAC stream cannot be resynchronised:
                    // close rather than answer and desynchronise as the reference does.
                    throw new ControlProtocolException($"unexpected command {(byte)command} in {(testing ? "test" : "request")} state; closing");
            }
        }
    }

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
        _allReflectors.RemoveAll(r => r.Completion.IsCompleted);
        if (_allReflectors.Count >= Options.MaxSessionsPerConnection)
        {
            return Refuse(AcceptCode.PermanentResourceLimitation, $"more than {Options.MaxSessionsPerConnection} sessions on one connection");
        }
        if (PeerTestAddress(request.SenderAddress) is not IPAddress senderAddress)
        {
            return Refuse(AcceptCode.Failure, $"sender address {request.SenderAddress} is not the control connection's peer {Remote.Address} (third-party sessions are disabled)");
        }
        UdpTestSocket? socket = Ports.TryBind(Local.Address, request.ReceiverPort, TimeSpan.FromMilliseconds(100));
        if (socket is null)
        {
            return Refuse(AcceptCode.TemporaryResourceLimitation, "no free test port");
        }
        SessionId sid = SessionIdGenerator.Create(Local.Address);
        TwampReflector reflector;
        try
        {
            if (request.Dscp is byte dscp and not 0)
            {
                socket.SetDscp(dscp);
            }
            TestPacketCipher? cipher = handshake.Mode.ProtectsTestPackets() ? TestPacketCipher.Create(handshake.Mode, handshake.Keys!, sid) : null;
            reflector = new TwampReflector(socket, sid, handshake.Mode, cipher, new IPEndPoint(senderAddress, request.SenderPort), Options.RefWait,
                TestPacketLayout.SenderHeader(handshake.Mode.ProtectsTestPackets()) + (int)request.PaddingLength, Logger);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            return Refuse(AcceptCode.InternalError, e.Message);
        }
        TimeSpan timeout = TimeSpan.FromSeconds(request.Timeout.TotalSeconds);
        _sessions.Add((reflector, timeout));
        _allReflectors.Add(reflector);
        Log.SessionAccepted(Logger, Peer, sid, reflector.Port, reflector.Sender.ToString(), request.PaddingLength);
        return new AcceptSession(AcceptCode.Ok, (ushort)reflector.Port, sid);
    }
}
