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

    /// <summary>RFC 7717: key the connection from this IKE SA instead of a passphrase.</summary>
    public Rfc7717Secret? Ike { get; init; }

    /// <summary>twping -S: the local address of the control connection and the test socket; null lets the kernel choose.</summary>
    public IPAddress? LocalAddress { get; init; }

    /// <summary>How long Stop-Sessions may take after an interrupted measurement before ippm gives up on it.</summary>
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>Runs one complete TWAMP measurement: control handshake, one session, test packets, Stop-Sessions.</summary>
public static class TwampMeasurement
{
    /// <param name="cancellationToken">Before the session starts, abandons the measurement (OperationCanceledException). Once
    /// test packets flow, stops sending instead: the replies in flight are awaited (at most the timeout), Stop-Sessions
    /// is sent and the result of what was measured returned with <see cref="TwampSessionResult.Interrupted"/> set.</param>
    /// <param name="trace">The -v trace of the control exchange (<see cref="ControlTrace"/>).</param>
    public static async Task<TwampSessionResult> RunAsync(TwpingOptions options, CancellationToken cancellationToken, ILogger? trace = null)
    {
        trace ??= NullLogger.Instance;
        TwampControlClient client;
        using (var connect = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            connect.CancelAfter(options.ConnectTimeout);
            client = await TwampControlClient.ConnectAsync(
                options.Server, options.AcceptableModes, options.Identity, options.Secret, options.MaxCount, connect.Token, options.Ike, options.LocalAddress, trace).ConfigureAwait(false);
        }
        await using (client.ConfigureAwait(false))
        {
            SecurityMode mode = client.Mode;
            int padding = options.PaddingLength ?? TestPacketLayout.SymmetricSenderPadding(mode.ProtectsTestPackets());
            var localAddress = client.LocalEndPoint.Address;
            using var socket = new UdpTestSocket(new IPEndPoint(localAddress, 0), TimeSpan.FromMilliseconds(50));
            if (options.Dscp != 0)
            {
                socket.SetDscp(options.Dscp);
            }
            AcceptSession accept;
            try
            {
                accept = await client.RequestSessionAsync(
                    socket.LocalEndPoint, 0, (uint)padding, options.Timeout, options.Dscp, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ControlProtocolException or IOException)
            {
                // Both greetings look alike; an OWAMP server only shows itself here, by closing on command 5.
                throw new ControlProtocolException(WrongProtocol.NotTwamp(options.Server), e);
            }
            if (accept.Accept != AcceptCode.Ok)
            {
                throw new ControlProtocolException(
                    $"Request-TW-Session refused: {ControlHandshake.DescribeRefusal(accept.Accept)}{WrongProtocol.MaybeNotTwamp(options.Server, accept.Accept, client.Handshake.ServerModes)}", accept.Accept);
            }
            // Always use the port from Accept-Session: the server may change it.
            socket.Connect(new IPEndPoint(client.RemoteEndPoint.Address, accept.Port));
            ControlTrace.TestSession(trace, accept.Sid, socket.LocalEndPoint.Port, accept.Port);
            ControlKeys? keys = client.Handshake.Keys;
            Func<TestPacketCipher>? cipher = mode.ProtectsTestPackets() ? () => TestPacketCipher.Create(mode, keys!, accept.Sid) : null;

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
            TwampSessionResult result;
            try
            {
                result = await TwampSessionSender.RunAsync(
                    socket, accept.Sid, mode, cipher, options.Count, options.Schedule, padding, options.Timeout, stopSending.Token).ConfigureAwait(false);
            }
            catch
            {
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
            return result with
            {
                KeySource = client.Handshake.KeySource,
                IkeSpis = client.Handshake.IkeSpis,
                Interrupted = interrupted || endedByServer,
                EndedByServer = endedByServer,
                LocalControl = client.LocalEndPoint,
                PeerControl = client.RemoteEndPoint,
                LocalTest = socket.LocalEndPoint,
                PeerTest = new IPEndPoint(client.RemoteEndPoint.Address, accept.Port),
                Request = new MeasurementRequest(options.Count, options.Schedule.ToString(), padding, options.Dscp, options.Timeout, options.Schedule.IntervalSeconds),
            };
        }
    }
}
