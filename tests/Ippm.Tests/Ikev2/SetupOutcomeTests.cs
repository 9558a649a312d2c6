using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Ippm.Ikev2.Crypto;
using Ippm.Ikev2.Exchanges;
using Ippm.Ikev2.Messages;
using Ippm.Ikev2.SaDatabase;

namespace Ippm.Tests.Ikev2;

/// <summary>
/// <see cref="IkeResponder.SetupFinished"/>: the outcomes decided in IKE_SA_INIT (the notify the responder sent) and
/// the abandoned half-open SA, which the responder's clock expires without any further datagram.
/// </summary>
public sealed class SetupOutcomeTests
{
    /// <summary>The initiator's one proposal: both groups, with its KE payload in X25519.</summary>
    private const string Offered = "aes128gcm16-prfsha256-x25519-ecp256";

    private static byte[] SaInit(ulong spiI)
    {
        using KeyExchange ke = KeyExchange.Create(DhGroup.Curve25519);
        return IkeMessage.Build(new IkeHeader(spiI, 0, PayloadType.None, ExchangeType.IkeSaInit, IkeFlags.Initiator, 0, 0),
        [
            new(PayloadType.SecurityAssociation, new SaPayload([IkeProposalSpec.ParseList(Offered)[0].ToProposal(1)]).Encode()),
            new(PayloadType.KeyExchange, new KePayload(DhGroup.Curve25519, ke.PublicKey).Encode()),
            new(PayloadType.Nonce, RandomNumberGenerator.GetBytes(32)),
        ]);
    }

    private static async Task<IkeMessage> ExchangeAsync(IkeResponder responder, byte[] request)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        await socket.SendToAsync(Transport.Frame(request, responder.LocalEndPoint), responder.LocalEndPoint);
        byte[] buffer = new byte[Transport.MaxDatagram];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        int n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
        Assert.Equal(System.Buffers.OperationStatus.Done, IkeMessage.TryParse(Transport.Unframe(buffer.AsSpan(0, n)), out IkeMessage? answer));
        return answer!;
    }

    [Theory]
    [InlineData("aes256gcm16-prfsha384-x25519", NotifyType.NoProposalChosen, IkeSetupOutcome.NoProposalChosen, "no_proposal_chosen")]
    [InlineData("aes128gcm16-prfsha256-ecp256", NotifyType.InvalidKePayload, IkeSetupOutcome.InvalidKe, "invalid_ke")]
    public async Task SaInitRefusal_ReportsTheOutcomeOfTheNotifySent(string accepted, NotifyType notify, IkeSetupOutcome expected, string label)
    {
        using var database = new IkeSaDatabase();
        var outcomes = new ConcurrentQueue<IkeSetupOutcome>();
        await using var responder = new IkeResponder(new IkeResponderOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Credentials = new IkeCredentials { PreSharedKey = "outcome psk"u8.ToArray() },
            Proposals = IkeProposalSpec.ParseList(accepted),
        }, database);
        responder.SetupFinished += outcomes.Enqueue;
        responder.Start();

        IkeMessage answer = await ExchangeAsync(responder, SaInit(0x0102_0304_0506_0708));

        Assert.Equal(notify, Assert.Single(answer.Payloads.Notifies()).Type);
        Assert.Equal(expected, Assert.Single(outcomes));
        Assert.Equal(label, expected.Label());
        Assert.Equal(0, responder.HalfOpenCount);
    }

    [Fact]
    public async Task HalfOpenSaWithoutIkeAuth_IsAbandonedOnTheClock_WithNoFurtherTraffic()
    {
        using var database = new IkeSaDatabase();
        var abandoned = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var outcomes = new ConcurrentQueue<IkeSetupOutcome>();
        await using var responder = new IkeResponder(new IkeResponderOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Credentials = new IkeCredentials { PreSharedKey = "outcome psk"u8.ToArray() },
            Proposals = IkeProposalSpec.ParseList("aes128gcm16-prfsha256-x25519"),
            HalfOpenLifetime = TimeSpan.FromSeconds(1),
        }, database);
        responder.SetupFinished += outcome =>
        {
            outcomes.Enqueue(outcome);
            if (outcome == IkeSetupOutcome.Abandoned)
            {
                abandoned.TrySetResult();
            }
        };
        responder.Start();

        IkeMessage answer = await ExchangeAsync(responder, SaInit(0x1112_1314_1516_1718));
        Assert.NotEqual(0UL, answer.Header.SpiR);
        Assert.Equal(1, responder.HalfOpenCount);
        Assert.Empty(outcomes); // a half-open SA is not an outcome yet

        await abandoned.Task.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(0, responder.HalfOpenCount);
        Assert.Equal([IkeSetupOutcome.Abandoned], outcomes.ToArray());
        Assert.Empty(database.Entries);
    }
}
