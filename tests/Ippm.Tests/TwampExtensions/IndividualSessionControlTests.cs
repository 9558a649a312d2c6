using System.Net;
using Ippm.Security;
using Ippm.Sessions.Control;
using Ippm.Sessions.Transport;
using Ippm.Sessions.Twamp;
using Ippm.Tests.Loopback;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;

namespace Ippm.Tests.TwampExtensions;

/// <summary>RFC 5938 end to end over loopback: sessions of one connection started and stopped one by one, in every mode, and refusals that leave the other sessions alone.</summary>
public sealed class IndividualSessionControlTests
{
    private const uint Isc = (uint)TwampModes.IndividualSessionControl;

    private static Task<TwampControlClient> ConnectAsync(TestServer server, SecurityMode mode, uint features = Isc) =>
        TwampControlClient.ConnectAsync(server.TwampEndPoint, (uint)mode, TestServer.Identity, TestServer.Passphrase, ControlHandshake.DefaultMaxCount, features, CancellationToken.None).DefaultTimeout();

    private sealed record OpenSession(UdpTestSocket Socket, SessionId Sid) : IDisposable
    {
        public void Dispose() => Socket.Dispose();
    }

    private static async Task<OpenSession> RequestAsync(TwampControlClient client)
    {
        var socket = new UdpTestSocket(new IPEndPoint(IPAddress.Loopback, 0), TimeSpan.FromMilliseconds(50));
        AcceptSession accept = await client.RequestSessionAsync(
            socket.LocalEndPoint, 0, (uint)client.TestFormat.SymmetricSenderPadding, TimeSpan.FromSeconds(1), 0, CancellationToken.None).DefaultTimeout();
        Assert.Equal(AcceptCode.Ok, accept.Accept);
        socket.Connect(new IPEndPoint(IPAddress.Loopback, accept.Port));
        return new OpenSession(socket, accept.Sid);
    }

    /// <summary>Sends <paramref name="count"/> packets on a session and returns how many came back.</summary>
    private static async Task<int> ReflectedAsync(TwampControlClient client, OpenSession session, int count = 20)
    {
        SecurityMode mode = client.Mode;
        ControlKeys? keys = client.Handshake.Keys;
        Func<TestPacketCipher>? cipher = mode.ProtectsTestPackets() ? () => TestPacketCipher.Create(mode, keys!, session.Sid) : null;
        TwampSessionResult result = await TwampSessionSender.RunAsync(
            session.Socket, session.Sid, mode, cipher, count, new SendSchedule(0.002, false), client.TestFormat.SymmetricSenderPadding,
            TimeSpan.FromMilliseconds(500), CancellationToken.None, client.TestFormat).DefaultTimeout();
        return result.Replies.Select(r => r.SenderSequence).Distinct().Count();
    }

    [Theory]
    [InlineData(SecurityMode.Open)]
    [InlineData(SecurityMode.Authenticated)]
    [InlineData(SecurityMode.Encrypted)]
    [InlineData(SecurityMode.Mixed)]
    public async Task StartNStopN_EachMode_SessionsRunAndStopIndependently(SecurityMode mode)
    {
        await using var server = new TestServer();
        await using TwampControlClient client = await ConnectAsync(server, mode);
        Assert.Equal(TwampModes.IndividualSessionControl, client.Features);
        using OpenSession a = await RequestAsync(client);
        using OpenSession b = await RequestAsync(client);

        StartNAck startA = await client.StartNSessionsAsync([a.Sid], CancellationToken.None).DefaultTimeout();
        Assert.Equal(AcceptCode.Ok, startA.Outcome);
        Assert.Equal([a.Sid], startA.Sids);
        Assert.Equal(20, await ReflectedAsync(client, a));
        Assert.Equal(0, await ReflectedAsync(client, b)); // accepted, not started: the reflector is silent

        // A session requested while another runs (RFC 5938 allows it), then started on its own.
        using OpenSession c = await RequestAsync(client);
        Assert.Equal(AcceptCode.Ok, (await client.StartNSessionsAsync([b.Sid, c.Sid], CancellationToken.None).DefaultTimeout()).Outcome);
        StopNAck stopA = await client.StopNSessionsAsync([a.Sid], CancellationToken.None).DefaultTimeout();
        Assert.Equal(AcceptCode.Ok, stopA.Outcome);
        Assert.Equal([a.Sid], stopA.Sids);
        Assert.Equal(20, await ReflectedAsync(client, b));
        Assert.Equal(20, await ReflectedAsync(client, c));
        // Stopped a keeps reflecting for its Timeout (1 s, RFC 5357 §3.8), then falls silent.
        await WaitUntilSilentAsync(client, a);

        // Plain Stop-Sessions still ends the rest: it counts the two running sessions.
        await client.StopSessionsAsync(AcceptCode.Ok, CancellationToken.None).DefaultTimeout();
        Assert.False(server.LoggerFactory.Contains(208), "Stop-Sessions must name exactly the running sessions");
        Assert.Equal(2, server.LoggerFactory.Entries.Count(e => e.EventId == 221 && e.Message.Contains("started", StringComparison.Ordinal)));
    }

    private static async Task WaitUntilSilentAsync(TwampControlClient client, OpenSession session)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (await ReflectedAsync(client, session, 3) > 0)
        {
            deadline.Token.ThrowIfCancellationRequested();
        }
    }

    public static TheoryData<string, SecurityMode> Refusals => new()
    {
        { "unknown", SecurityMode.Open }, { "unknown", SecurityMode.Encrypted },
        { "foreign", SecurityMode.Authenticated }, { "foreign", SecurityMode.Mixed },
        { "start-running", SecurityMode.Open }, { "start-running", SecurityMode.Encrypted },
        { "stop-stopped", SecurityMode.Authenticated }, { "stop-not-started", SecurityMode.Mixed },
        { "duplicate", SecurityMode.Encrypted }, { "empty", SecurityMode.Open },
        { "count-disagrees", SecurityMode.Open },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task BadList_RefusedWithAccept1_LoggedAndOtherSessionsUnaffected(string bad, SecurityMode mode)
    {
        await using var server = new TestServer();
        await using TwampControlClient client = await ConnectAsync(server, mode);
        await using TwampControlClient other = await ConnectAsync(server, mode);
        using OpenSession running = await RequestAsync(client);
        using OpenSession idle = await RequestAsync(client);
        using OpenSession foreign = await RequestAsync(other);
        Assert.Equal(AcceptCode.Ok, (await client.StartNSessionsAsync([running.Sid], CancellationToken.None).DefaultTimeout()).Outcome);

        SessionListMessage ack;
        switch (bad)
        {
            case "unknown":
                ack = await client.StartNSessionsAsync([SessionId.Parse("0102030405060708090a0b0c0d0e0f10")], CancellationToken.None).DefaultTimeout();
                break;
            case "foreign":
                ack = await client.StartNSessionsAsync([idle.Sid, foreign.Sid], CancellationToken.None).DefaultTimeout();
                break;
            case "start-running":
                ack = await client.StartNSessionsAsync([idle.Sid, running.Sid], CancellationToken.None).DefaultTimeout();
                break;
            case "stop-stopped":
                {
                    using OpenSession extra = await RequestAsync(client);
                    Assert.Equal(AcceptCode.Ok, (await client.StartNSessionsAsync([extra.Sid], CancellationToken.None).DefaultTimeout()).Outcome);
                    Assert.Equal(AcceptCode.Ok, (await client.StopNSessionsAsync([extra.Sid], CancellationToken.None).DefaultTimeout()).Outcome);
                    ack = await client.StopNSessionsAsync([extra.Sid], CancellationToken.None).DefaultTimeout();
                    Assert.Contains(server.LoggerFactory.Entries, e => e.EventId == 220 && e.Message.Contains("already stopped", StringComparison.Ordinal));
                    break;
                }
            case "stop-not-started":
                ack = await client.StopNSessionsAsync([idle.Sid], CancellationToken.None).DefaultTimeout();
                break;
            case "duplicate":
                ack = await client.StartNSessionsAsync([idle.Sid, idle.Sid], CancellationToken.None).DefaultTimeout();
                break;
            case "empty":
                ack = await client.StartNSessionsAsync([], CancellationToken.None).DefaultTimeout();
                break;
            default:
                {
                    // Number of Sessions says 1 but two SIDs follow (and no HMAC block): the second lands where the
                    // zero HMAC block of open mode belongs. The stream stays in step, so only the command is refused.
                    byte[] message = new byte[SessionListMessage.HeaderLength + 32];
                    message[0] = (byte)CommandNumber.StartNSessions;
                    message[15] = 1;
                    idle.Sid.Write(message.AsSpan(16));
                    foreign.Sid.Write(message.AsSpan(32));
                    byte[] raw = await client.ExchangeListAsync(message, 1, CancellationToken.None, unsealed: true).DefaultTimeout();
                    Assert.Equal(System.Buffers.OperationStatus.Done, StartNAck.TryRead(raw, out StartNAck? parsed));
                    ack = parsed!;
                    break;
                }
        }

        Assert.Equal(AcceptCode.Failure, ack.Accept);
        Assert.Contains(server.LoggerFactory.Entries, e => e.EventId == 220 && e.Message.Contains("Accept=1", StringComparison.Ordinal));
        // The running session still reflects, the idle one was not started by a refused list, and the connection
        // still takes commands.
        Assert.Equal(20, await ReflectedAsync(client, running));
        Assert.Equal(0, await ReflectedAsync(client, idle, 3));
        Assert.Equal(AcceptCode.Ok, (await client.StartNSessionsAsync([idle.Sid], CancellationToken.None).DefaultTimeout()).Outcome);
        Assert.Equal(20, await ReflectedAsync(client, idle));
        Assert.Equal(AcceptCode.Ok, (await client.StopNSessionsAsync([running.Sid, idle.Sid], CancellationToken.None).DefaultTimeout()).Outcome);
    }

    [Fact]
    public async Task StartN_CountBeyondConnectionLimit_ConnectionClosedServerKeepsServing()
    {
        await using var server = new TestServer();
        await using TwampControlClient client = await ConnectAsync(server, SecurityMode.Open);
        byte[] message = new byte[SessionListMessage.LengthFor(0)];
        message[0] = (byte)CommandNumber.StartNSessions;
        message[12] = 0x7F; // 2^30 SIDs announced: the length cannot be trusted

        // The server closes the connection without an answer: the client reads end of stream.
        await Assert.ThrowsAsync<ControlProtocolException>(() => client.ExchangeListAsync(message, 0, CancellationToken.None, unsealed: true).DefaultTimeout());

        Assert.Contains(server.LoggerFactory.Entries, e => e.EventId == 201 && e.Message.Contains("Start-N-Sessions names", StringComparison.Ordinal));
        TwampSessionResult after = await TwampMeasurement.RunAsync(new TwpingOptions { Server = server.TwampEndPoint, Count = 10, Schedule = new SendSchedule(0.002, false) }, CancellationToken.None).DefaultTimeout();
        Assert.Equal(10, after.Replies.Count);
    }

    [Fact]
    public async Task StartN_NotNegotiated_ClientRefusesToSend()
    {
        await using var server = new TestServer(o => o.TwampFeatures = 0);
        await using TwampControlClient client = await ConnectAsync(server, SecurityMode.Open);

        Assert.Equal(TwampModes.None, client.Features);
        Assert.Equal((uint)SecurityMode.Open, client.Handshake.ModeBits);
        await Assert.ThrowsAsync<InvalidOperationException>(() => client.StartNSessionsAsync([SessionId.Parse("0102030405060708090a0b0c0d0e0f10")], CancellationToken.None));
    }

    [Fact]
    public async Task Twping_ThreeSessionsStaggered_EachStartedAndStoppedOnItsOwn()
    {
        await using var server = new TestServer();
        var options = new TwpingOptions
        {
            Server = server.TwampEndPoint,
            AcceptableModes = (uint)SecurityMode.Encrypted,
            Identity = TestServer.Identity,
            Secret = TestServer.Passphrase,
            Count = 20,
            Schedule = new SendSchedule(0.005, false),
            Sessions = 3,
            Stagger = TimeSpan.FromMilliseconds(300),
            SessionDscps = [0, 46],
            SessionPaddings = [64, 200, 500],
        };

        IReadOnlyList<TwampSessionResult> results = await TwampMeasurement.RunManyAsync(options, CancellationToken.None).DefaultTimeout();

        Assert.Equal(3, results.Count);
        Assert.Equal(3, results.Select(r => r.Sid).Distinct().Count());
        Assert.All(results, r => Assert.Equal(20, r.Replies.Count));
        Assert.Equal([48 + 64, 48 + 200, 48 + 500], results.Select(r => r.SenderPacketLength)); // protected sender header 48 + padding
        Assert.Equal([0, 46, 0], results.Select(r => (int)r.RequestedDscp));
        // Staggered: each session's first packet left at least the stagger after the previous one's.
        for (int i = 1; i < 3; i++)
        {
            Assert.True(NtpTimestamp.DifferenceSeconds(results[i].FirstSend, results[i - 1].FirstSend) >= 0.25, "sessions start the stagger apart (less the sender thread start-up)");
        }
        Assert.Equal(3, server.LoggerFactory.Entries.Count(e => e.EventId == 221 && e.Message.Contains("started", StringComparison.Ordinal)));
        Assert.Equal(3, server.LoggerFactory.Entries.Count(e => e.EventId == 221 && e.Message.Contains("stopped", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Twping_SeveralSessionsWithoutRfc5938_StartAndStopTogether()
    {
        await using var server = new TestServer(o => o.TwampFeatures = 0);
        var options = new TwpingOptions { Server = server.TwampEndPoint, Count = 10, Schedule = new SendSchedule(0.005, false), Sessions = 2 };

        IReadOnlyList<TwampSessionResult> results = await TwampMeasurement.RunManyAsync(options, CancellationToken.None).DefaultTimeout();

        Assert.All(results, r => Assert.Equal(10, r.Replies.Count));
        Assert.Contains(server.LoggerFactory.Entries, e => e.EventId == 206 && e.Message.Contains("2 session(s) started", StringComparison.Ordinal));
        Assert.DoesNotContain(server.LoggerFactory.Entries, e => e.EventId == 221);
    }
}
