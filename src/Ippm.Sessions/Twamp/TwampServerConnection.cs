using System.Net;
using System.Net.Sockets;
using Ippm.Security;
using Ippm.Sessions.Control;
using Ippm.Sessions.Server;
using Ippm.Sessions.Transport;
using Ippm.Wire;
using Ippm.Wire.Control;
using Microsoft.Extensions.Logging;

namespace Ippm.Sessions.Twamp;

/// <summary>
/// One TWAMP-Control connection on the server (RFC 5357 §3): handshake, then Request-TW-Session,
/// Start-Sessions and Stop-Sessions, each session served by a <see cref="TwampReflector"/>.
/// Any protocol error ends only this connection.
/// </summary>
public sealed partial class TwampServerConnection
{
    private readonly ControlChannel _channel;
    private readonly ServerOptions _options;
    private readonly TestPortAllocator _ports;
    private readonly ILogger _logger;
    private readonly IPEndPoint _local;
    private readonly IPEndPoint _remote;
    private readonly string _peer;
    private readonly List<(TwampReflector Reflector, TimeSpan Timeout)> _sessions = [];
    private readonly List<TwampReflector> _allReflectors = [];

    public TwampServerConnection(Stream stream, IPEndPoint local, IPEndPoint remote, ServerOptions options, TestPortAllocator ports, ILogger logger)
    {
        _channel = new ControlChannel(stream);
        _options = options;
        _ports = ports;
        _logger = logger;
        _local = local;
        _remote = remote;
        _peer = remote.ToString();
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        ControlHandshakeResult? handshake = null;
        try
        {
            using (var setup = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                setup.CancelAfter(_options.SetupTimeout);
                handshake = await ControlHandshake.AcceptAsync(
                    _channel, ControlProtocol.Twamp, _options.Modes, _options.Pbkdf2Count, _options.Keys, _logger, _peer, setup.Token).ConfigureAwait(false);
            }
            if (handshake is null)
            {
                return;
            }
            Log.Connected(_logger, _peer, handshake.Mode.Name(), handshake.Identity ?? "-");
            await CommandLoopAsync(handshake, cancellationToken).ConfigureAwait(false);
        }
        catch (ControlProtocolException e)
        {
            Log.ProtocolError(_logger, _peer, e.Message);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            Log.TimedOut(_logger, _peer);
        }
        catch (OperationCanceledException)
        {
        }
        catch (IOException e)
        {
            Log.ConnectionLost(_logger, _peer, e.Message);
        }
        catch (SocketException e)
        {
            Log.ConnectionLost(_logger, _peer, e.Message);
        }
        finally
        {
            // Sessions already stopped keep reflecting for their Timeout; sessions the client did not stop
            // (it vanished or broke the protocol) end now, and so do sessions never started.
            foreach ((TwampReflector reflector, _) in _sessions)
            {
                reflector.StopAfter(TimeSpan.Zero);
            }
            handshake?.Dispose();
            await _channel.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task CommandLoopAsync(ControlHandshakeResult handshake, CancellationToken cancellationToken)
    {
        bool testing = false;
        byte[] first = new byte[16];
        while (true)
        {
            using (var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                // SERVWAIT applies while no session runs (RFC 5357 §3.1); during a test the client may be silent.
                if (!testing)
                {
                    idle.CancelAfter(_options.ServWait);
                }
                try
                {
                    await _channel.ReadBlocksAsync(first, idle.Token).ConfigureAwait(false);
                }
                catch (ControlProtocolException) when (first.Length == 16 && !testing)
                {
                    Log.ClientClosed(_logger, _peer);
                    return;
                }
            }
            var command = (CommandNumber)first[0];
            switch (command)
            {
                case CommandNumber.RequestTwSession when !testing:
                    await HandleRequestAsync(handshake, first, cancellationToken).ConfigureAwait(false);
                    break;
                case CommandNumber.StartSessions when !testing:
                    await ReadRestAsync(first, StartSessions.Length, cancellationToken).ConfigureAwait(false);
                    foreach ((TwampReflector reflector, _) in _sessions)
                    {
                        reflector.Start();
                    }
                    await SendAsync(new StartAck(AcceptCode.Ok).Write, StartAck.Length, cancellationToken).ConfigureAwait(false);
                    Log.Started(_logger, _peer, _sessions.Count);
                    testing = _sessions.Count > 0;
                    break;
                case CommandNumber.StopSessions when testing:
                    {
                        byte[] message = await ReadRestAsync(first, TwampStopSessions.Length, cancellationToken).ConfigureAwait(false);
                        TwampStopSessions.TryRead(message, out TwampStopSessions? stop);
                        if (stop!.SessionCount != _sessions.Count)
                        {
                            Log.StopCountMismatch(_logger, _peer, stop.SessionCount, _sessions.Count);
                        }
                        foreach ((TwampReflector reflector, TimeSpan timeout) in _sessions)
                        {
                            reflector.StopAfter(timeout);
                        }
                        Log.Stopped(_logger, _peer, _sessions.Count, (byte)stop.Accept);
                        _sessions.Clear();
                        testing = false;
                        break;
                    }
                default:
                    // The length of an unknown command is unknown, so the CBC/HMAC stream cannot be resynchronised:
                    // close rather than answer and desynchronise as the reference does.
                    throw new ControlProtocolException($"unexpected command {(byte)command} in {(testing ? "test" : "request")} state; closing");
            }
        }
    }

    private async Task HandleRequestAsync(ControlHandshakeResult handshake, byte[] first, CancellationToken cancellationToken)
    {
        byte[] message = await ReadRestAsync(first, SessionRequest.Length, cancellationToken).ConfigureAwait(false);
        AcceptSession answer = CreateSession(handshake, message);
        await SendAsync(answer.Write, AcceptSession.Length, cancellationToken).ConfigureAwait(false);
    }

    private AcceptSession CreateSession(ControlHandshakeResult handshake, byte[] message)
    {
        AcceptSession Refuse(AcceptCode code, string reason)
        {
            Log.SessionRefused(_logger, _peer, (byte)code, reason);
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
        if (request.Dscp is null)
        {
            return Refuse(AcceptCode.NotSupported, $"Type-P descriptor 0x{request.TypePDescriptor:x8} is not a DSCP");
        }
        if (request.PaddingLength > _options.MaxPaddingLength)
        {
            return Refuse(AcceptCode.NotSupported, $"padding {request.PaddingLength} exceeds the limit {_options.MaxPaddingLength}");
        }
        if (request.SenderPort == 0)
        {
            return Refuse(AcceptCode.NotSupported, "sender port 0");
        }
        _allReflectors.RemoveAll(r => r.Completion.IsCompleted);
        if (_allReflectors.Count >= _options.MaxSessionsPerConnection)
        {
            return Refuse(AcceptCode.PermanentResourceLimitation, $"more than {_options.MaxSessionsPerConnection} sessions on one connection");
        }
        IPAddress senderAddress = IsUnspecified(request.SenderAddress) ? _remote.Address : request.SenderAddress;
        if (senderAddress.AddressFamily != _local.Address.AddressFamily)
        {
            senderAddress = _local.Address.AddressFamily == AddressFamily.InterNetworkV6 ? senderAddress.MapToIPv6() : senderAddress.MapToIPv4();
        }
        UdpTestSocket? socket = _ports.TryBind(_local.Address, request.ReceiverPort, TimeSpan.FromMilliseconds(100));
        if (socket is null)
        {
            return Refuse(AcceptCode.TemporaryResourceLimitation, "no free test port");
        }
        SessionId sid = SessionIdGenerator.Create(_local.Address);
        TwampReflector reflector;
        try
        {
            if (request.Dscp is byte dscp and not 0)
            {
                socket.SetDscp(dscp);
            }
            TestPacketCipher? cipher = handshake.Mode.ProtectsTestPackets() ? TestPacketCipher.Create(handshake.Mode, handshake.Keys!, sid) : null;
            reflector = new TwampReflector(socket, sid, handshake.Mode, cipher, new IPEndPoint(senderAddress, request.SenderPort), _options.RefWait, _logger);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            return Refuse(AcceptCode.InternalError, e.Message);
        }
        TimeSpan timeout = TimeSpan.FromSeconds(Math.Min(request.Timeout.TotalSeconds, _options.MaxSessionTimeout.TotalSeconds));
        _sessions.Add((reflector, timeout));
        _allReflectors.Add(reflector);
        Log.SessionAccepted(_logger, _peer, sid, reflector.Port, reflector.Sender.ToString(), request.PaddingLength);
        return new AcceptSession(AcceptCode.Ok, (ushort)reflector.Port, sid);
    }

    private static bool IsUnspecified(IPAddress address) =>
        address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any);

    private async Task<byte[]> ReadRestAsync(byte[] first, int length, CancellationToken cancellationToken)
    {
        byte[] message = new byte[length];
        first.CopyTo(message, 0);
        await _channel.ReadMessageAsync(message, first.Length, cancellationToken).ConfigureAwait(false);
        return message;
    }

    private async Task SendAsync(SpanAction write, int length, CancellationToken cancellationToken)
    {
        byte[] message = new byte[length];
        write(message);
        await _channel.SendMessageAsync(message, cancellationToken).ConfigureAwait(false);
    }

    private delegate void SpanAction(Span<byte> destination);

    private static partial class Log
    {
        [LoggerMessage(EventId = 200, Level = LogLevel.Information, Message = "{Peer}: TWAMP-Control in {Mode} mode, identity {Identity}")]
        public static partial void Connected(ILogger logger, string peer, string mode, string identity);

        [LoggerMessage(EventId = 201, Level = LogLevel.Warning, Message = "{Peer}: protocol error: {Reason}")]
        public static partial void ProtocolError(ILogger logger, string peer, string reason);

        [LoggerMessage(EventId = 202, Level = LogLevel.Warning, Message = "{Peer}: control connection timed out")]
        public static partial void TimedOut(ILogger logger, string peer);

        [LoggerMessage(EventId = 203, Level = LogLevel.Information, Message = "{Peer}: connection lost: {Reason}")]
        public static partial void ConnectionLost(ILogger logger, string peer, string reason);

        [LoggerMessage(EventId = 204, Level = LogLevel.Information, Message = "{Peer}: session {Sid} accepted on port {Port}, sender {Sender}, padding {Padding}")]
        public static partial void SessionAccepted(ILogger logger, string peer, SessionId sid, int port, string sender, uint padding);

        [LoggerMessage(EventId = 205, Level = LogLevel.Warning, Message = "{Peer}: session refused with Accept={Accept}: {Reason}")]
        public static partial void SessionRefused(ILogger logger, string peer, byte accept, string reason);

        [LoggerMessage(EventId = 206, Level = LogLevel.Information, Message = "{Peer}: {Count} session(s) started")]
        public static partial void Started(ILogger logger, string peer, int count);

        [LoggerMessage(EventId = 207, Level = LogLevel.Information, Message = "{Peer}: {Count} session(s) stopped (Accept={Accept})")]
        public static partial void Stopped(ILogger logger, string peer, int count, byte accept);

        [LoggerMessage(EventId = 208, Level = LogLevel.Warning, Message = "{Peer}: Stop-Sessions names {Claimed} sessions but {Actual} are running; stopping all")]
        public static partial void StopCountMismatch(ILogger logger, string peer, uint claimed, int actual);

        [LoggerMessage(EventId = 209, Level = LogLevel.Debug, Message = "{Peer}: client closed the control connection")]
        public static partial void ClientClosed(ILogger logger, string peer);
    }
}
