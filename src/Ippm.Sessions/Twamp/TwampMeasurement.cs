using System.Net;
using Ippm.Security;
using Ippm.Sessions.Control;
using Ippm.Sessions.Transport;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ippm.Sessions.Twamp;

/// <summary>Everything twping asks for.</summary>
public sealed record TwpingOptions
{
    public required IPEndPoint Server { get; init; }
    public uint AcceptableModes { get; init; } = (uint)SecurityMode.Open;
    public string? Identity { get; init; }
    public byte[]? Secret { get; init; }
    public int Count { get; init; } = 100;
    public SendSchedule Schedule { get; init; } = new(0.1, Exponential: true);

    /// <summary>Padding Length; null pads so sender and reflector packets are the same size, as twping does.</summary>
    public int? PaddingLength { get; init; }

    public byte Dscp { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(2);
    public uint MaxCount { get; init; } = ControlHandshake.DefaultMaxCount;
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Deadline on every answer of the server after the handshake: a silent server ends the run (exit 3), it does not hang it.</summary>
    public TimeSpan ReplyTimeout { get; init; } = ControlClient.DefaultReplyTimeout;

    /// <summary>RFC 7717: key the connection from this IKE SA instead of a passphrase.</summary>
    public Rfc7717Secret? Ike { get; init; }

    /// <summary>
    /// TWAMP feature bits to ask for; each is set only when the server offers it. By default Individual Session
    /// Control (RFC 5938) and DSCP and ECN Monitoring (RFC 7750), which change nothing a report relies on.
    /// </summary>
    public uint WantedFeatures { get; init; } = (uint)(TwampModes.IndividualSessionControl | TwampModes.DscpEcnMonitoring);

    /// <summary>RFC 6038 Reflect Octets: octets of the padding to get back, and the reply padding length (0: default).</summary>
    public ushort ReflectOctets { get; init; }

    public ushort PaddingToReflect { get; init; }

    /// <summary>ECN codepoint of the test packets (0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE).</summary>
    public byte Ecn { get; init; }

    /// <summary>Sessions on the one control connection (RFC 5938 when offered: each started and stopped on its own).</summary>
    public int Sessions { get; init; } = 1;

    /// <summary>Per-session DSCPs (session i uses element i; missing ones use <see cref="Dscp"/>).</summary>
    public IReadOnlyList<byte>? SessionDscps { get; init; }

    /// <summary>Per-session padding lengths (session i uses element i; missing ones use <see cref="PaddingLength"/>).</summary>
    public IReadOnlyList<int>? SessionPaddings { get; init; }

    /// <summary>Delay between the starts of consecutive sessions with RFC 5938.</summary>
    public TimeSpan Stagger { get; init; } = TimeSpan.Zero;

    /// <summary>twping -S: the local address of the control connection and the test socket; null lets the kernel choose.</summary>
    public IPAddress? LocalAddress { get; init; }

    /// <summary>
    /// owping/twping -P: the local UDP ports the test sockets are bound from (perfSONAR's clients use 8760–9960 unless
    /// told otherwise, and perfSONAR hosts open that range); null lets the kernel choose.
    /// </summary>
    public Server.PortRange? TestPorts { get; init; }

    /// <summary>How long Stop-Sessions may take after an interrupted measurement before ippm gives up on it.</summary>
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>Runs one complete TWAMP measurement: control handshake, session(s), test packets, Stop-Sessions.</summary>
public static class TwampMeasurement
{
    /// <param name="cancellationToken">Before the session starts, abandons the measurement (OperationCanceledException). Once
    /// test packets flow, stops sending instead: the replies in flight are awaited (at most the timeout), Stop-Sessions
    /// is sent and the result of what was measured returned with <see cref="TwampSessionResult.Interrupted"/> set.</param>
    /// <param name="trace">The -v trace of the control exchange (<see cref="ControlTrace"/>).</param>
    public static async Task<TwampSessionResult> RunAsync(TwpingOptions options, CancellationToken cancellationToken, ILogger? trace = null) =>
        (await RunManyAsync(options with { Sessions = 1 }, cancellationToken, trace).ConfigureAwait(false))[0];

    /// <summary>
    /// Runs <see cref="TwpingOptions.Sessions"/> sessions on one control connection. When the server offers RFC 5938
    /// each session is started with Start-N-Sessions (staggered by <see cref="TwpingOptions.Stagger"/>) and stopped
    /// with Stop-N-Sessions as soon as its own packets are done; otherwise all start and stop together (RFC 5357).
    /// </summary>
    public static async Task<IReadOnlyList<TwampSessionResult>> RunManyAsync(TwpingOptions options, CancellationToken cancellationToken, ILogger? trace = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Sessions, 1);
        trace ??= NullLogger.Instance;
        TwampControlClient client;
        uint wanted = options.WantedFeatures | (options.ReflectOctets > 0 || options.PaddingToReflect > 0 ? (uint)TwampModes.ReflectOctets : 0);
        using (var connect = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            connect.CancelAfter(options.ConnectTimeout);
            client = await TwampControlClient.ConnectAsync(
                options.Server, options.AcceptableModes, options.Identity, options.Secret, options.MaxCount, wanted, connect.Token, options.Ike, options.LocalAddress, trace).ConfigureAwait(false);
        }
        client.ReplyTimeout = options.ReplyTimeout;
        await using (client.ConfigureAwait(false))
        {
            SecurityMode mode = client.Mode;
            TwampTestFormat format = client.TestFormat;
            bool reflectOctets = (client.Features & TwampModes.ReflectOctets) != 0;
            if ((options.ReflectOctets > 0 || options.PaddingToReflect > 0) && !reflectOctets)
            {
                throw new ControlProtocolException("The server does not offer Reflect Octets (RFC 6038).", AcceptCode.NotSupported);
            }
            bool individual = options.Sessions > 1 && (client.Features & TwampModes.IndividualSessionControl) != 0;
            var localAddress = client.LocalEndPoint.Address;
            var sessions = new List<(UdpTestSocket Socket, AcceptSession Accept, int Padding, byte Dscp)>();
            try
            {
                for (int i = 0; i < options.Sessions; i++)
                {
                    byte dscp = options.SessionDscps is { } d && i < d.Count ? d[i] : options.Dscp;
                    int padding = options.SessionPaddings is { } p && i < p.Count ? p[i]
                        : options.PaddingLength ?? format.SymmetricSenderPadding;
                    padding = Math.Max(padding, options.ReflectOctets);
                    var socket = Server.TestPortAllocator.BindClientSocket(localAddress, options.TestPorts, TimeSpan.FromMilliseconds(50));
                    byte tos = (byte)((dscp << 2) | (options.Ecn & 3));
                    if (tos != 0)
                    {
                        socket.SetTos(tos);
                    }
                    AcceptSession accept;
                    try
                    {
                        accept = await client.RequestSessionAsync(
                            socket.LocalEndPoint, 0, (uint)padding, options.Timeout, dscp, cancellationToken,
                            reflectOctets ? options.ReflectOctets : (ushort)0, reflectOctets ? options.PaddingToReflect : (ushort)0).ConfigureAwait(false);
                    }
                    catch (Exception e) when (i == 0 && e is IOException or ControlProtocolException { InnerException: EndOfStreamException or IOException })
                    {
                        socket.Dispose();
                        // Both greetings look alike; an OWAMP server only shows itself here, by closing on command 5.
                        throw new ControlProtocolException(WrongProtocol.NotTwamp(options.Server), e);
                    }
                    catch
                    {
                        socket.Dispose();
                        throw;
                    }
                    if (accept.Accept != AcceptCode.Ok)
                    {
                        socket.Dispose();
                        throw new ControlProtocolException(
                            $"Request-TW-Session refused: {ControlHandshake.DescribeRefusal(accept.Accept)}{WrongProtocol.MaybeNotTwamp(options.Server, accept.Accept, client.Handshake.ServerModes)}", accept.Accept);
                    }
                    // Always use the port from Accept-Session: the server may change it.
                    socket.Connect(new IPEndPoint(client.RemoteEndPoint.Address, accept.Port));
                    ControlTrace.TestSession(trace, accept.Sid, socket.LocalEndPoint.Port, accept.Port);
                    sessions.Add((socket, accept, padding, dscp));
                }
                ControlKeys? keys = client.Handshake.Keys;
                Task<TwampSessionResult> Send(int i, CancellationToken stopSending)
                {
                    (UdpTestSocket socket, AcceptSession accept, int padding, _) = sessions[i];
                    Func<TestPacketCipher>? cipher = mode.ProtectsTestPackets() ? () => TestPacketCipher.Create(mode, keys!, accept.Sid) : null;
                    return TwampSessionSender.RunAsync(
                        socket, accept.Sid, mode, cipher, options.Count, options.Schedule, padding, options.Timeout, stopSending,
                        format, reflectOctets ? options.ReflectOctets : 0);
                }
                TwampSessionResult Decorate(TwampSessionResult r, int i, bool interrupted, bool endedByServer) => r with
                {
                    KeySource = client.Handshake.KeySource,
                    IkeSpis = client.Handshake.IkeSpis,
                    PeerIdentity = client.Handshake.PeerIdentity,
                    SentTos = (byte)((sessions[i].Dscp << 2) | (options.Ecn & 3)),
                    RequestedDscp = sessions[i].Dscp,
                    Interrupted = interrupted || endedByServer,
                    EndedByServer = endedByServer,
                    LocalControl = client.LocalEndPoint,
                    PeerControl = client.RemoteEndPoint,
                    LocalTest = sessions[i].Socket.LocalEndPoint,
                    PeerTest = new IPEndPoint(client.RemoteEndPoint.Address, sessions[i].Accept.Port),
                    Request = new MeasurementRequest(options.Count, options.Schedule.ToString(), sessions[i].Padding, sessions[i].Dscp, options.Timeout, options.Schedule.IntervalSeconds),
                };

                if (!individual)
                {
                    await client.StartSessionsAsync(cancellationToken).ConfigureAwait(false);
                    // Sending stops on the user's interrupt or when the server ends the test itself (Stop-Sessions or close).
                    using var stopSending = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    using var endWatch = new CancellationTokenSource();
                    Task<AcceptCode?> serverStop = client.WaitForServerStopAsync(endWatch.Token);
                    _ = serverStop.ContinueWith(
                        _ =>
                        {
                            try
                            {
                                stopSending.Cancel();
                            }
                            catch (ObjectDisposedException)
                            {
                                // The measurement is over already.
                            }
                        },
                        CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                    TwampSessionResult[] all;
                    try
                    {
                        all = await Task.WhenAll(Enumerable.Range(0, sessions.Count).Select(i => Send(i, stopSending.Token))).ConfigureAwait(false);
                    }
                    catch
                    {
                        await endWatch.CancelAsync().ConfigureAwait(false);
                        await client.StopSessionsAsync(AcceptCode.Failure, CancellationToken.None).ConfigureAwait(false);
                        throw;
                    }
                    bool endedByServer = serverStop.IsCompletedSuccessfully;
                    bool interrupted = cancellationToken.IsCancellationRequested;
                    await endWatch.CancelAsync().ConfigureAwait(false);
                    try
                    {
                        await serverStop.ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is OperationCanceledException or IOException or ControlProtocolException)
                    {
                        // Watching only; what matters is whether it completed before sending ended.
                    }
                    using (var stop = new CancellationTokenSource(options.StopTimeout))
                    {
                        try
                        {
                            // Interrupted or not, the server hears that the session ended (RFC 5357 §3.8), within a bound.
                            await client.StopSessionsAsync(AcceptCode.Ok, interrupted || endedByServer ? stop.Token : cancellationToken).ConfigureAwait(false);
                        }
                        catch (Exception e) when (endedByServer && e is IOException or System.Net.Sockets.SocketException or OperationCanceledException)
                        {
                            // The server has gone; what was measured stands.
                        }
                    }
                    return all.Select((r, i) => Decorate(r, i, interrupted, endedByServer)).ToArray();
                }

                // RFC 5938: one control connection, each session started and stopped on its own; the control stream is
                // one CBC chain, so exchanges on it take turns (and no watcher reads it meanwhile).
                using var control = new SemaphoreSlim(1, 1);
                // Session i starts the stagger after session i-1 has started (its Start-N-Ack arrived).
                TaskCompletionSource[] started = Enumerable.Range(0, sessions.Count).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
                async Task<TwampSessionResult> RunOne(int i)
                {
                    if (i > 0)
                    {
                        await started[i - 1].Task.WaitAsync(cancellationToken).ConfigureAwait(false);
                        await Task.Delay(options.Stagger, cancellationToken).ConfigureAwait(false);
                    }
                    SessionId[] sid = [sessions[i].Accept.Sid];
                    await control.WaitAsync(cancellationToken).ConfigureAwait(false);
                    try
                    {
                        StartNAck ack = await client.StartNSessionsAsync(sid, cancellationToken).ConfigureAwait(false);
                        if (ack.Outcome != AcceptCode.Ok)
                        {
                            throw new ControlProtocolException($"Start-N-Sessions refused: {ControlHandshake.DescribeRefusal(ack.Outcome)}", ack.Outcome);
                        }
                    }
                    catch (Exception e)
                    {
                        started[i].TrySetException(e);
                        throw;
                    }
                    finally
                    {
                        control.Release();
                    }
                    started[i].TrySetResult();
                    TwampSessionResult result = await Send(i, cancellationToken).ConfigureAwait(false);
                    bool interrupted = cancellationToken.IsCancellationRequested;
                    await control.WaitAsync(CancellationToken.None).ConfigureAwait(false);
                    try
                    {
                        using var stop = new CancellationTokenSource(options.StopTimeout);
                        StopNAck stopped = await client.StopNSessionsAsync(sid, interrupted ? stop.Token : cancellationToken).ConfigureAwait(false);
                        if (stopped.Outcome != AcceptCode.Ok)
                        {
                            throw new ControlProtocolException($"Stop-N-Sessions refused: {ControlHandshake.DescribeRefusal(stopped.Outcome)}", stopped.Outcome);
                        }
                    }
                    finally
                    {
                        control.Release();
                    }
                    return Decorate(result, i, interrupted, endedByServer: false);
                }
                return await Task.WhenAll(Enumerable.Range(0, sessions.Count).Select(RunOne)).ConfigureAwait(false);
            }
            finally
            {
                foreach ((UdpTestSocket socket, _, _, _) in sessions)
                {
                    socket.Dispose();
                }
            }
        }
    }
}
