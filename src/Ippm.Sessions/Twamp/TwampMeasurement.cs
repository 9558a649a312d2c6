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

    /// <summary>Deadline on every answer of the server after the handshake: a silent server ends the run (exit 3), it does not hang it.</summary>
    public TimeSpan ReplyTimeout { get; init; } = ControlClient.DefaultReplyTimeout;

    /// <summary>RFC 7717: key the connection from this IKE SA instead of a passphrase.</summary>
    public Rfc7717Secret? Ike { get; init; }
}

/// <summary>Runs one complete TWAMP measurement: control handshake, one session, test packets, Stop-Sessions.</summary>
public static class TwampMeasurement
{
    public static async Task<TwampSessionResult> RunAsync(TwpingOptions options, CancellationToken cancellationToken)
    {
        TwampControlClient client;
        using (var connect = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            connect.CancelAfter(options.ConnectTimeout);
            client = await TwampControlClient.ConnectAsync(
                options.Server, options.AcceptableModes, options.Identity, options.Secret, options.MaxCount, connect.Token, options.Ike).ConfigureAwait(false);
        }
        client.ReplyTimeout = options.ReplyTimeout;
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
            AcceptSession accept = await client.RequestSessionAsync(
                socket.LocalEndPoint, 0, (uint)padding, options.Timeout, options.Dscp, cancellationToken).ConfigureAwait(false);
            if (accept.Accept != AcceptCode.Ok)
            {
                throw new ControlProtocolException($"Request-TW-Session refused: {ControlHandshake.DescribeRefusal(accept.Accept)}", accept.Accept);
            }
            // Always use the port from Accept-Session: the server may change it.
            socket.Connect(new IPEndPoint(client.RemoteEndPoint.Address, accept.Port));
            ControlKeys? keys = client.Handshake.Keys;
            Func<TestPacketCipher>? cipher = mode.ProtectsTestPackets() ? () => TestPacketCipher.Create(mode, keys!, accept.Sid) : null;

            await client.StartSessionsAsync(cancellationToken).ConfigureAwait(false);
            TwampSessionResult result;
            try
            {
                result = await TwampSessionSender.RunAsync(
                    socket, accept.Sid, mode, cipher, options.Count, options.Schedule, padding, options.Timeout, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await client.StopSessionsAsync(AcceptCode.Failure, CancellationToken.None).ConfigureAwait(false);
                throw;
            }
            await client.StopSessionsAsync(AcceptCode.Ok, cancellationToken).ConfigureAwait(false);
            return result with { KeySource = client.Handshake.KeySource, IkeSpis = client.Handshake.IkeSpis };
        }
    }
}
