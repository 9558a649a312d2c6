using System.Net;
using Ippm.Security;
using Ippm.Sessions.Control;
using Ippm.Sessions.Time;
using Ippm.Wire;
using Ippm.Wire.Control;

namespace Ippm.Sessions.Twamp;

/// <summary>The Control-Client side of TWAMP-Control (RFC 5357 §3).</summary>
public sealed class TwampControlClient : ControlClient
{
    // Sessions accepted and not yet started, and sessions running: Stop-Sessions must name exactly the running ones
    // (RFC 5357 §3.8); before Start-Sessions every accepted session counts, as the reference expects.
    private readonly List<SessionId> _accepted = [];
    private readonly HashSet<SessionId> _running = [];

    private TwampControlClient(System.Net.Sockets.TcpClient tcp, ControlChannel channel, ControlHandshakeResult handshake)
        : base(tcp, channel, handshake)
    {
    }

    /// <summary>Connects and runs the handshake. Throws <see cref="ControlProtocolException"/> when refused.</summary>
    public static Task<TwampControlClient> ConnectAsync(
        IPEndPoint server, uint acceptableModes, string? identity, byte[]? secret, uint maxCount, CancellationToken cancellationToken, Rfc7717Secret? ike = null,
        IPAddress? localAddress = null, Microsoft.Extensions.Logging.ILogger? trace = null)
        => ConnectAsync(server, acceptableModes, identity, secret, maxCount, wantedFeatures: 0, cancellationToken, ike, localAddress, trace);

    /// <param name="wrapStream">Tests wrap the TCP stream (e.g. to split every read into single octets).</param>
    internal static Task<TwampControlClient> ConnectAsync(
        IPEndPoint server, uint acceptableModes, string? identity, byte[]? secret, uint maxCount, Func<Stream, Stream>? wrapStream, CancellationToken cancellationToken, Rfc7717Secret? ike = null, uint wantedFeatures = 0)
        => ConnectAsync(ControlProtocol.Twamp, server, acceptableModes, identity, secret, maxCount, ike, wrapStream,
            (tcp, channel, handshake) => new TwampControlClient(tcp, channel, handshake), cancellationToken, wantedFeatures);

    /// <summary>
    /// Connects asking for TWAMP feature bits (RFC 5938, 6038, 7750); each is set only when the server offers it, so
    /// <see cref="Features"/> says what was negotiated.
    /// </summary>
    public static Task<TwampControlClient> ConnectAsync(
        IPEndPoint server, uint acceptableModes, string? identity, byte[]? secret, uint maxCount, uint wantedFeatures, CancellationToken cancellationToken, Rfc7717Secret? ike = null,
        IPAddress? localAddress = null, Microsoft.Extensions.Logging.ILogger? trace = null)
        => ConnectAsync(ControlProtocol.Twamp, server, acceptableModes, identity, secret, maxCount, ike, wrapStream: null,
            (tcp, channel, handshake) => new TwampControlClient(tcp, channel, handshake), cancellationToken, wantedFeatures, localAddress, trace);

    /// <summary>The feature bits negotiated in Set-Up-Response.</summary>
    public TwampModes Features => (TwampModes)(Handshake.ModeBits & SecurityModes.TwampFeatureBits);

    /// <summary>Packet layouts of this connection's test sessions.</summary>
    public Ippm.Wire.Test.TwampTestFormat TestFormat => Ippm.Wire.Test.TwampTestFormat.For(Mode, Handshake.ModeBits);

    /// <summary>Sends Request-TW-Session and returns the server's Accept-Session (Accept may be non-zero).</summary>
    public async Task<AcceptSession> RequestSessionAsync(
        IPEndPoint sender, int requestedReflectorPort, uint paddingLength, TimeSpan timeout, byte dscp, CancellationToken cancellationToken,
        ushort octetsToBeReflected = 0, ushort paddingToReflect = 0)
    {
        if ((octetsToBeReflected | paddingToReflect) != 0 && (Features & TwampModes.ReflectOctets) == 0)
        {
            throw new InvalidOperationException("Reflect Octets (RFC 6038) was not negotiated on this connection.");
        }
        IPAddress remote = Normalize(RemoteEndPoint.Address);
        var request = new SessionRequest
        {
            Command = CommandNumber.RequestTwSession,
            IpVersion = SessionRequest.IpVersionOf(remote),
            SenderPort = (ushort)sender.Port,
            ReceiverPort = (ushort)requestedReflectorPort,
            SenderAddress = Normalize(LocalEndPoint.Address),
            ReceiverAddress = remote,
            PaddingLength = paddingLength,
            StartTime = NtpTimestamp.FromUnixNanoseconds(SystemClock.Instance.Now().ToUnixNanoseconds() + 100_000_000),
            Timeout = NtpTimestamp.FromSeconds(timeout.TotalSeconds),
            TypePDescriptor = SessionRequest.TypePFromDscp(dscp),
            OctetsToBeReflected = octetsToBeReflected,
            PaddingToReflect = paddingToReflect,
        };
        byte[] message = new byte[SessionRequest.Length];
        request.Write(message);
        AcceptSession accept = await RequestAsync(message, null, cancellationToken).ConfigureAwait(false);
        if (accept.Accept == AcceptCode.Ok)
        {
            _accepted.Add(accept.Sid);
        }
        return accept;
    }

    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    /// <summary>
    /// Completes when the server ends the test on its own: with Stop-Sessions (its Accept value; ippm's server sends one
    /// when it shuts down) or by closing the connection (null). Cancel it once the test is over.
    /// </summary>
    public async Task<AcceptCode?> WaitForServerStopAsync(CancellationToken cancellationToken)
    {
        byte[] first = new byte[16];
        try
        {
            // No reply deadline: a server is silent for the whole test, which may last longer than ReplyTimeout.
            await Channel.ReadBlocksUntimedAsync(first, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ControlProtocolException or IOException)
        {
            return null;
        }
        if (first[0] != (byte)CommandNumber.StopSessions)
        {
            throw new ControlProtocolException($"the server sent command {first[0]} during the test; only Stop-Sessions may come");
        }
        byte[] message = new byte[TwampStopSessions.Length];
        first.CopyTo(message, 0);
        await Channel.ReadMessageAsync(message, first.Length, cancellationToken).ConfigureAwait(false);
        TwampStopSessions.TryRead(message, out TwampStopSessions? stop);
        ControlTrace.StopReceived(Trace, (byte)stop!.Accept, (int)stop.SessionCount);
        return stop.Accept;
    }

    /// <summary>Stop-Sessions with the exact number of sessions in progress (the reference fails the connection otherwise).</summary>
    public async Task StopSessionsAsync(AcceptCode accept, CancellationToken cancellationToken)
    {
        int count = _running.Count > 0 ? _running.Count : _accepted.Count;
        byte[] message = new byte[TwampStopSessions.Length];
        new TwampStopSessions(accept, (uint)count).Write(message);
        await Channel.SendMessageAsync(message, cancellationToken).ConfigureAwait(false);
        ControlTrace.StopSent(Trace, (byte)accept, (uint)count);
        if (_running.Count > 0)
        {
            _running.Clear();
        }
        else
        {
            _accepted.Clear();
        }
    }

    /// <summary>Start-Sessions: every accepted session not yet running starts.</summary>
    public new async Task StartSessionsAsync(CancellationToken cancellationToken)
    {
        await base.StartSessionsAsync(cancellationToken).ConfigureAwait(false);
        _running.UnionWith(_accepted);
        _accepted.Clear();
    }

    /// <summary>
    /// Start-N-Sessions (RFC 5938 §3.2): starts just these sessions. Returns the server's Start-N-Ack; a non-zero
    /// Accept means none of them started.
    /// </summary>
    public async Task<StartNAck> StartNSessionsAsync(IReadOnlyList<SessionId> sids, CancellationToken cancellationToken)
    {
        RequireIndividualControl();
        var command = new StartNSessions(sids);
        byte[] message = new byte[command.EncodedLength];
        command.Write(message);
        byte[] answer = await ExchangeListAsync(message, sids.Count, cancellationToken).ConfigureAwait(false);
        if (StartNAck.TryRead(answer, out StartNAck? ack) != System.Buffers.OperationStatus.Done)
        {
            throw new ControlProtocolException($"expected Start-N-Ack, got command {answer[0]}");
        }
        if (ack!.Outcome == AcceptCode.Ok)
        {
            foreach (SessionId sid in sids)
            {
                _accepted.Remove(sid);
                _running.Add(sid);
            }
        }
        return ack;
    }

    /// <summary>Stop-N-Sessions (RFC 5938 §3.4): stops just these sessions; returns the server's Stop-N-Ack.</summary>
    public async Task<StopNAck> StopNSessionsAsync(IReadOnlyList<SessionId> sids, CancellationToken cancellationToken)
    {
        RequireIndividualControl();
        var command = new StopNSessions(sids);
        byte[] message = new byte[command.EncodedLength];
        command.Write(message);
        byte[] answer = await ExchangeListAsync(message, sids.Count, cancellationToken).ConfigureAwait(false);
        if (StopNAck.TryRead(answer, out StopNAck? ack) != System.Buffers.OperationStatus.Done)
        {
            throw new ControlProtocolException($"expected Stop-N-Ack, got command {answer[0]}");
        }
        if (ack!.Outcome == AcceptCode.Ok)
        {
            _running.ExceptWith(sids);
        }
        return ack;
    }

    /// <summary>Sends a raw Start-N/Stop-N message (tests use it to send malformed lists) and reads the Ack's header and SIDs.</summary>
    /// <param name="unsealed">Open mode only: send the octets exactly as given (no HMAC field written).</param>
    internal async Task<byte[]> ExchangeListAsync(byte[] message, int expectedSids, CancellationToken cancellationToken, bool unsealed = false)
    {
        if (unsealed && !Channel.IsProtected)
        {
            await Channel.WriteRawAsync(message, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await Channel.SendMessageAsync(message, cancellationToken).ConfigureAwait(false);
        }
        byte[] header = new byte[SessionListMessage.HeaderLength];
        await Channel.ReadBlocksAsync(header, cancellationToken).ConfigureAwait(false);
        uint count = SessionListMessage.ReadCount(header);
        if (count > (uint)Math.Max(expectedSids, 0) + 64)
        {
            throw new ControlProtocolException($"the server's ack names {count} sessions; {expectedSids} were sent");
        }
        byte[] answer = new byte[SessionListMessage.LengthFor((int)count)];
        header.CopyTo(answer, 0);
        await Channel.ReadMessageAsync(answer, header.Length, cancellationToken).ConfigureAwait(false);
        return answer;
    }

    private void RequireIndividualControl()
    {
        if ((Features & TwampModes.IndividualSessionControl) == 0)
        {
            throw new InvalidOperationException("Individual Session Control (RFC 5938) was not negotiated on this connection.");
        }
    }
}
