using System.Net;
using Ippm.Security;
using Ippm.Sessions.Control;
using Ippm.Sessions.Transport;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;

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
}

/// <summary>Runs one complete TWAMP measurement: control handshake, session(s), test packets, Stop-Sessions.</summary>
public static class TwampMeasurement
{
    public static async Task<TwampSessionResult> RunAsync(TwpingOptions options, CancellationToken cancellationToken) =>
        (await RunManyAsync(options with { Sessions = 1 }, cancellationToken).ConfigureAwait(false))[0];

    /// <summary>
    /// Runs <see cref="TwpingOptions.Sessions"/> sessions on one control connection. When the server offers RFC 5938
    /// each session is started with Start-N-Sessions (staggered by <see cref="TwpingOptions.Stagger"/>) and stopped
    /// with Stop-N-Sessions as soon as its own packets are done; otherwise all start and stop together (RFC 5357).
    /// </summary>
    public static async Task<IReadOnlyList<TwampSessionResult>> RunManyAsync(TwpingOptions options, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Sessions, 1);
        TwampControlClient client;
        uint wanted = options.WantedFeatures | (options.ReflectOctets > 0 || options.PaddingToReflect > 0 ? (uint)TwampModes.ReflectOctets : 0);
        using (var connect = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            connect.CancelAfter(options.ConnectTimeout);
            client = await TwampControlClient.ConnectAsync(
                options.Server, options.AcceptableModes, options.Identity, options.Secret, options.MaxCount, wanted, connect.Token, options.Ike).ConfigureAwait(false);
        }
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
                    var socket = new UdpTestSocket(new IPEndPoint(localAddress, 0), TimeSpan.FromMilliseconds(50));
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
                    catch
                    {
                        socket.Dispose();
                        throw;
                    }
                    if (accept.Accept != AcceptCode.Ok)
                    {
                        socket.Dispose();
                        throw new ControlProtocolException($"Request-TW-Session refused: {ControlHandshake.DescribeRefusal(accept.Accept)}", accept.Accept);
                    }
                    // Always use the port from Accept-Session: the server may change it.
                    socket.Connect(new IPEndPoint(client.RemoteEndPoint.Address, accept.Port));
                    sessions.Add((socket, accept, padding, dscp));
                }
                ControlKeys? keys = client.Handshake.Keys;
                Task<TwampSessionResult> Send(int i)
                {
                    (UdpTestSocket socket, AcceptSession accept, int padding, _) = sessions[i];
                    Func<TestPacketCipher>? cipher = mode.ProtectsTestPackets() ? () => TestPacketCipher.Create(mode, keys!, accept.Sid) : null;
                    return TwampSessionSender.RunAsync(
                        socket, accept.Sid, mode, cipher, options.Count, options.Schedule, padding, options.Timeout, cancellationToken,
                        format, reflectOctets ? options.ReflectOctets : 0);
                }
                TwampSessionResult Decorate(TwampSessionResult r, int i) => r with
                {
                    KeySource = client.Handshake.KeySource,
                    IkeSpis = client.Handshake.IkeSpis,
                    PeerIdentity = client.Handshake.PeerIdentity,
                    SentTos = (byte)((sessions[i].Dscp << 2) | (options.Ecn & 3)),
                    RequestedDscp = sessions[i].Dscp,
                };

                var results = new TwampSessionResult[sessions.Count];
                if (!individual)
                {
                    await client.StartSessionsAsync(cancellationToken).ConfigureAwait(false);
                    try
                    {
                        TwampSessionResult[] all = await Task.WhenAll(Enumerable.Range(0, sessions.Count).Select(Send)).ConfigureAwait(false);
                        for (int i = 0; i < all.Length; i++)
                        {
                            results[i] = Decorate(all[i], i);
                        }
                    }
                    catch
                    {
                        await client.StopSessionsAsync(AcceptCode.Failure, CancellationToken.None).ConfigureAwait(false);
                        throw;
                    }
                    await client.StopSessionsAsync(AcceptCode.Ok, cancellationToken).ConfigureAwait(false);
                    return results;
                }

                // RFC 5938: one control connection, each session started and stopped on its own; the control stream is
                // one CBC chain, so exchanges on it take turns.
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
                    TwampSessionResult result = await Send(i).ConfigureAwait(false);
                    await control.WaitAsync(cancellationToken).ConfigureAwait(false);
                    try
                    {
                        StopNAck stopped = await client.StopNSessionsAsync(sid, cancellationToken).ConfigureAwait(false);
                        if (stopped.Outcome != AcceptCode.Ok)
                        {
                            throw new ControlProtocolException($"Stop-N-Sessions refused: {ControlHandshake.DescribeRefusal(stopped.Outcome)}", stopped.Outcome);
                        }
                    }
                    finally
                    {
                        control.Release();
                    }
                    return Decorate(result, i);
                }
                TwampSessionResult[] done = await Task.WhenAll(Enumerable.Range(0, sessions.Count).Select(RunOne)).ConfigureAwait(false);
                return done;
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
