using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Ippm.Security;
using Ippm.Sessions.Control;
using Ippm.Sessions.Transport;
using Ippm.Sessions.Twamp;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;

namespace Ippm.Tests.Loopback;

/// <summary>TWAMP end to end over real loopback sockets: ippm client against ippm server.</summary>
public sealed class TwampLoopbackTests
{
    private static TwpingOptions Options(IPEndPoint server, SecurityMode mode, int count = 50) => new()
    {
        Server = server,
        AcceptableModes = (uint)mode,
        Identity = TestServer.Identity,
        Secret = TestServer.Passphrase,
        Count = count,
        Schedule = new SendSchedule(0.005, Exponential: false),
        Timeout = TimeSpan.FromSeconds(2),
    };

    [Theory]
    [InlineData(SecurityMode.Open, false)]
    [InlineData(SecurityMode.Authenticated, false)]
    [InlineData(SecurityMode.Encrypted, false)]
    [InlineData(SecurityMode.Mixed, false)]
    [InlineData(SecurityMode.Open, true)]
    [InlineData(SecurityMode.Authenticated, true)]
    [InlineData(SecurityMode.Encrypted, true)]
    [InlineData(SecurityMode.Mixed, true)]
    public async Task Measure_EachMode_AllPacketsReflectedWithHonestTimestamps(SecurityMode mode, bool sharedPort)
    {
        // Shared: the reflector on a shared port (SharedTestPortsFrom 0) rather than a connected socket of its own.
        await using var server = new TestServer(o => o.SharedTestPortsFrom = sharedPort ? 0 : -1);

        TwampSessionResult result = await TwampMeasurement.RunAsync(Options(server.TwampEndPoint, mode), CancellationToken.None).DefaultTimeout();
        TwampReport report = TwampReport.Create("test", result);

        Assert.Equal(mode, result.Mode);
        Assert.Equal(50, result.Sent);
        Assert.Equal(0, report.Sequence.Lost);
        Assert.Equal(0, report.Sequence.Duplicates);
        Assert.Equal(0, result.BadHmac + result.Malformed);
        // Symmetric sizes as twping: 41 octets open/mixed, 112 protected; against ippm, whose reflector reports
        // DSCP and ECN (RFC 7750) in a 42-octet open header, twping pads open/mixed senders to 42.
        Assert.Equal(mode.ProtectsTestPackets() ? 112 : 42, result.SenderPacketLength);
        foreach (TwampSample s in result.Replies)
        {
            Assert.True(s.T1 <= s.T4, "T4 must follow T1 on the same clock");
            Assert.True(s.T2 <= s.T3, "the reflector must send after it received");
            Assert.True(NtpTimestamp.DifferenceSeconds(s.T4, s.T1) < 1, "loopback round trip under 1 s");
            Assert.True(s.SenderError.IsValid && s.ReflectorError.IsValid);
        }
        // Reflector sequence numbers are its own counter: 0..49 in order of reflection.
        Assert.Equal(Enumerable.Range(0, 50).Select(i => (uint)i), result.Replies.Select(r => r.ReflectorSequence).Order());
        if (OperatingSystem.IsLinux())
        {
            // TTL 255 sent, read from IP_RECVTTL on both ends: zero hops on loopback.
            Assert.All(result.Replies, s => Assert.Equal((byte)255, s.ForwardTtl));
            Assert.All(result.Replies, s => Assert.Equal((byte)255, s.BackwardTtl));
        }
        Assert.True(report.RoundTrip.Count == 50 && report.RoundTrip.Min > 0);
        if (sharedPort)
        {
            // The shared port closes with its last session, and says how many datagrams it carried.
            await TaskTimeouts.UntilAsync(() => server.LoggerFactory.Entries.Any(e => e.EventId == 321 && e.Message.Contains(": 50 datagram(s) read, 0 from unknown", StringComparison.Ordinal)));
        }
        else
        {
            Assert.False(server.LoggerFactory.Contains(321));
        }
    }

    [Fact]
    public async Task Measure_LargePadding_RepliesAsLargeAsTheSenderPackets()
    {
        await using var server = new TestServer();

        TwampSessionResult result = await TwampMeasurement.RunAsync(
            Options(server.TwampEndPoint, SecurityMode.Encrypted, 10) with { PaddingLength = 30000 }, CancellationToken.None).DefaultTimeout();

        Assert.Equal(48 + 30000, result.SenderPacketLength);
        Assert.Equal(10, result.Replies.Select(r => r.SenderSequence).Distinct().Count());
        Assert.Equal(0, result.Malformed + result.BadHmac);
    }

    [Fact]
    public async Task Measure_OverIpv6_HopLimitReadBothWays()
    {
        await using var server = new TestServer(o => o.TwampListen = new IPEndPoint(IPAddress.IPv6Loopback, 0));

        TwampSessionResult result = await TwampMeasurement.RunAsync(Options(server.TwampEndPoint, SecurityMode.Encrypted, 20), CancellationToken.None).DefaultTimeout();

        Assert.Equal(20, result.Replies.Select(r => r.SenderSequence).Distinct().Count());
        if (OperatingSystem.IsLinux())
        {
            Assert.All(result.Replies, s => Assert.Equal((byte)255, s.ForwardTtl));
            Assert.All(result.Replies, s => Assert.Equal((byte)255, s.BackwardTtl));
        }
    }

    [Fact]
    public async Task Measure_Ipv4ClientOnDualStackListener_Works()
    {
        await using var server = new TestServer(o => o.TwampListen = new IPEndPoint(IPAddress.IPv6Any, 0));
        var v4 = new IPEndPoint(IPAddress.Loopback, server.TwampEndPoint.Port);

        TwampSessionResult result = await TwampMeasurement.RunAsync(Options(v4, SecurityMode.Authenticated, 10), CancellationToken.None).DefaultTimeout();

        Assert.Equal(10, result.Replies.Count);
        Assert.Equal(0x7f000001UL, result.Sid.High >> 32);
    }

    [Fact]
    public async Task Measure_WrongPassphrase_RefusedWithAccept1AndServerKeepsServing()
    {
        await using var server = new TestServer();
        TwpingOptions wrong = Options(server.TwampEndPoint, SecurityMode.Authenticated) with { Secret = "wrongpass"u8.ToArray() };

        var refused = await Assert.ThrowsAsync<ControlProtocolException>(() => TwampMeasurement.RunAsync(wrong, CancellationToken.None).DefaultTimeout());

        Assert.Equal(AcceptCode.Failure, refused.Accept);
        Assert.True(server.LoggerFactory.Contains(102), "the server logs the bad Token");
        TwampSessionResult next = await TwampMeasurement.RunAsync(Options(server.TwampEndPoint, SecurityMode.Encrypted, 10), CancellationToken.None).DefaultTimeout();
        Assert.Equal(10, next.Replies.Count);
    }

    [Fact]
    public async Task Measure_UnknownIdentity_RefusedWithAccept1()
    {
        await using var server = new TestServer();
        TwpingOptions stranger = Options(server.TwampEndPoint, SecurityMode.Encrypted) with { Identity = "mallory" };

        var refused = await Assert.ThrowsAsync<ControlProtocolException>(() => TwampMeasurement.RunAsync(stranger, CancellationToken.None).DefaultTimeout());

        Assert.Equal(AcceptCode.Failure, refused.Accept);
        Assert.True(server.LoggerFactory.Contains(101));
        Assert.DoesNotContain(server.LoggerFactory.Entries, e => e.Message.Contains("testpass123", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Connect_NoCommonMode_ClientRefusesBeforeSendingKeys()
    {
        await using var server = new TestServer(o => o.Modes = (uint)SecurityMode.Open);

        var refused = await Assert.ThrowsAsync<ControlProtocolException>(
            () => TwampMeasurement.RunAsync(Options(server.TwampEndPoint, SecurityMode.Authenticated), CancellationToken.None).DefaultTimeout());

        Assert.Contains("No common mode", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SetUp_ModeNotOffered_ServerAnswersAccept3()
    {
        await using var server = new TestServer(o => o.Modes = (uint)SecurityMode.Open);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.TwampEndPoint);
        NetworkStream stream = tcp.GetStream();
        byte[] greeting = new byte[ServerGreeting.Length];
        await stream.ReadExactlyAsync(greeting).AsTask().DefaultTimeout();

        byte[] setUp = new byte[SetUpResponse.Length];
        new SetUpResponse((uint)SecurityMode.Encrypted, SetUpResponse.KeyIdFromIdentity("alice"), new byte[64], new byte[16]).Write(setUp);
        await stream.WriteAsync(setUp);
        byte[] start = new byte[ServerStart.Length];
        await stream.ReadExactlyAsync(start).AsTask().DefaultTimeout();

        Assert.Equal((byte)AcceptCode.NotSupported, start[15]);
        Assert.True(server.LoggerFactory.Contains(100));
    }

    [Fact]
    public async Task Control_SplitAtEveryOctetBothWays_MeasuresNormally()
    {
        await using var server = new TestServer();
        await using TwampControlClient client = await TwampControlClient.ConnectAsync(
            server.TwampEndPoint, (uint)SecurityMode.Encrypted, TestServer.Identity, TestServer.Passphrase, 32768, s => new TrickleStream(s), CancellationToken.None).DefaultTimeout();
        using var socket = new UdpTestSocket(new IPEndPoint(IPAddress.Loopback, 0), TimeSpan.FromMilliseconds(50));

        AcceptSession accept = await client.RequestSessionAsync(socket.LocalEndPoint, 0, 64, TimeSpan.FromSeconds(1), 0, CancellationToken.None).DefaultTimeout();
        await client.StartSessionsAsync(CancellationToken.None).DefaultTimeout();
        socket.Connect(new IPEndPoint(IPAddress.Loopback, accept.Port));
        TwampSessionResult result = await TwampSessionSender.RunAsync(
            socket, accept.Sid, SecurityMode.Encrypted, () => TestPacketCipher.Create(SecurityMode.Encrypted, client.Handshake.Keys!, accept.Sid),
            5, new SendSchedule(0.001, false), 64, TimeSpan.FromSeconds(1), CancellationToken.None).DefaultTimeout();
        await client.StopSessionsAsync(AcceptCode.Ok, CancellationToken.None).DefaultTimeout();

        Assert.Equal(AcceptCode.Ok, accept.Accept);
        Assert.Equal(5, result.Replies.Count);
    }

    [Fact]
    public async Task Connect_AllModesAcceptable_StrictestCommonModeWins()
    {
        await using var all = new TestServer();
        await using var noEncryption = new TestServer(o => o.Modes = (uint)(SecurityMode.Open | SecurityMode.Authenticated | SecurityMode.Mixed));
        const uint any = (uint)(SecurityMode.Open | SecurityMode.Authenticated | SecurityMode.Encrypted | SecurityMode.Mixed);

        await using TwampControlClient first = await TwampControlClient.ConnectAsync(all.TwampEndPoint, any, TestServer.Identity, TestServer.Passphrase, 32768, CancellationToken.None).DefaultTimeout();
        await using TwampControlClient second = await TwampControlClient.ConnectAsync(noEncryption.TwampEndPoint, any, TestServer.Identity, TestServer.Passphrase, 32768, CancellationToken.None).DefaultTimeout();

        Assert.Equal(SecurityMode.Encrypted, first.Mode);
        Assert.Equal(SecurityMode.Authenticated, second.Mode);
    }

    [Fact]
    public async Task Server_IdleControlConnection_ClosedAfterServWait()
    {
        await using var server = new TestServer(o => o.ServWait = TimeSpan.FromMilliseconds(300));
        await using TwampControlClient client = await TwampControlClient.ConnectAsync(
            server.TwampEndPoint, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout();

        await WaitForAsync(() => server.LoggerFactory.Contains(202));

        // Whether the reset or the end of stream is seen first, the client says the peer closed the connection.
        var closed = await Assert.ThrowsAsync<ControlProtocolException>(() => client.RequestSessionAsync(new IPEndPoint(IPAddress.Loopback, 9999), 0, 27, TimeSpan.FromSeconds(1), 0, CancellationToken.None).DefaultTimeout());
        Assert.Contains("closed", closed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reflector_NoTestPackets_StopsAfterRefWait()
    {
        await using var server = new TestServer(o => o.RefWait = TimeSpan.FromMilliseconds(300));
        await using TwampControlClient client = await TwampControlClient.ConnectAsync(
            server.TwampEndPoint, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout();
        AcceptSession accept = await client.RequestSessionAsync(new IPEndPoint(IPAddress.Loopback, 9999), 0, 27, TimeSpan.FromSeconds(1), 0, CancellationToken.None).DefaultTimeout();
        await client.StartSessionsAsync(CancellationToken.None).DefaultTimeout();

        await WaitForAsync(() => server.LoggerFactory.Contains(302));

        Assert.Contains(server.LoggerFactory.Entries, e => e.EventId == 302 && e.Message.Contains(accept.Sid.ToString(), StringComparison.Ordinal));
    }

    [Fact]
    public async Task Reflector_GarbageAndForgedPackets_DroppedSessionUnaffected()
    {
        await using var server = new TestServer();
        await using TwampControlClient client = await TwampControlClient.ConnectAsync(
            server.TwampEndPoint, (uint)SecurityMode.Authenticated, TestServer.Identity, TestServer.Passphrase, 32768, CancellationToken.None).DefaultTimeout();
        using var socket = new UdpTestSocket(new IPEndPoint(IPAddress.Loopback, 0), TimeSpan.FromMilliseconds(50));
        AcceptSession accept = await client.RequestSessionAsync(socket.LocalEndPoint, 0, 64, TimeSpan.FromSeconds(1), 0, CancellationToken.None).DefaultTimeout();
        socket.Connect(new IPEndPoint(IPAddress.Loopback, accept.Port));
        await client.StartSessionsAsync(CancellationToken.None).DefaultTimeout();

        // Truncated datagrams, random 112-octet packets (bad HMAC), and a valid packet with one bit flipped.
        for (int i = 0; i < 200; i++)
        {
            socket.Send(RandomNumberGenerator.GetBytes(i % 48));
            socket.Send(RandomNumberGenerator.GetBytes(112));
        }
        using (TestPacketCipher forger = TestPacketCipher.Create(SecurityMode.Authenticated, client.Handshake.Keys!, accept.Sid))
        {
            byte[] packet = new byte[112];
            new SenderPacket(7, default, ErrorEstimate.FromSeconds(1, false)).Write(packet, protectedLayout: true);
            forger.Protect(packet, TestPacketLayout.SenderHmacOffset);
            packet[3] ^= 1;
            socket.Send(packet);
        }
        TwampSessionResult result = await TwampSessionSender.RunAsync(
            socket, accept.Sid, SecurityMode.Authenticated, () => TestPacketCipher.Create(SecurityMode.Authenticated, client.Handshake.Keys!, accept.Sid),
            20, new SendSchedule(0.002, false), 64, TimeSpan.FromSeconds(1), CancellationToken.None).DefaultTimeout();
        await client.StopSessionsAsync(AcceptCode.Ok, CancellationToken.None).DefaultTimeout();

        Assert.Equal(20, result.Replies.Select(r => r.SenderSequence).Distinct().Count());
        Assert.Equal(0, result.BadHmac);
        await WaitForAsync(() => server.LoggerFactory.Contains(300) && server.LoggerFactory.Contains(301));
        Assert.Equal(Enumerable.Range(0, 20).Select(i => (uint)i), result.Replies.Select(r => r.ReflectorSequence).Order());
    }

    [Fact]
    public async Task Control_GarbageAfterGreeting_ConnectionClosedOthersServed()
    {
        await using var server = new TestServer();
        using (var tcp = new TcpClient())
        {
            await tcp.ConnectAsync(server.TwampEndPoint);
            NetworkStream stream = tcp.GetStream();
            await stream.ReadExactlyAsync(new byte[ServerGreeting.Length]).AsTask().DefaultTimeout();
            // Mode 2 with a random Token: refused with Accept=1.
            byte[] junk = RandomNumberGenerator.GetBytes(SetUpResponse.Length);
            junk[0] = 0; junk[1] = 0; junk[2] = 0; junk[3] = 2;
            await stream.WriteAsync(junk);
            byte[] start = new byte[ServerStart.Length];
            await stream.ReadExactlyAsync(start).AsTask().DefaultTimeout();
            Assert.Equal((byte)AcceptCode.Failure, start[15]);
            Assert.Equal(0, await stream.ReadAsync(new byte[1]).AsTask().DefaultTimeout());
        }

        TwampSessionResult ok = await TwampMeasurement.RunAsync(Options(server.TwampEndPoint, SecurityMode.Open, 5), CancellationToken.None).DefaultTimeout();
        Assert.Equal(5, ok.Replies.Count);
    }

    [Fact]
    public async Task Control_TamperedCommandInEncryptedMode_ServerClosesConnection()
    {
        await using var server = new TestServer();
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.TwampEndPoint);
        await using var channel = new ControlChannel(tcp.GetStream());
        using ControlHandshakeResult handshake = await ControlHandshake.ConnectAsync(
            channel, ControlProtocol.Twamp, (uint)SecurityMode.Encrypted, TestServer.Identity, TestServer.Passphrase, 32768, CancellationToken.None).DefaultTimeout();

        byte[] request = new byte[SessionRequest.Length];
        new SessionRequest { SenderPort = 9000, Timeout = NtpTimestamp.FromSeconds(1) }.Write(request);
        channel.SendCipher.Seal(request);
        request[40] ^= 0x80;
        await channel.WriteRawAsync(request, CancellationToken.None);

        byte[] probe = new byte[1];
        int read = await tcp.GetStream().ReadAsync(probe).AsTask().DefaultTimeout();
        Assert.Equal(0, read);
        await WaitForAsync(() => server.LoggerFactory.Contains(201));
    }

    [Fact]
    public async Task Control_UnknownCommand_ServerClosesConnectionAndKeepsServing()
    {
        await using var server = new TestServer();
        using (var tcp = new TcpClient())
        {
            await tcp.ConnectAsync(server.TwampEndPoint);
            await using var channel = new ControlChannel(tcp.GetStream());
            using ControlHandshakeResult handshake = await ControlHandshake.ConnectAsync(
                channel, ControlProtocol.Twamp, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout();
            byte[] unknown = new byte[32];
            unknown[0] = 77;
            await channel.SendMessageAsync(unknown, CancellationToken.None);
            Assert.Equal(0, await tcp.GetStream().ReadAsync(new byte[1]).AsTask().DefaultTimeout());
        }
        TwampSessionResult ok = await TwampMeasurement.RunAsync(Options(server.TwampEndPoint, SecurityMode.Open, 3), CancellationToken.None).DefaultTimeout();
        Assert.Equal(3, ok.Replies.Count);
    }

    [Fact]
    public async Task Request_HostileFields_RefusedWithAccept3()
    {
        await using var server = new TestServer(o => o.MaxPaddingLength = 1000);
        await using TwampControlClient client = await TwampControlClient.ConnectAsync(
            server.TwampEndPoint, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout();

        AcceptSession tooMuchPadding = await client.RequestSessionAsync(new IPEndPoint(IPAddress.Loopback, 9999), 0, 5000, TimeSpan.FromSeconds(1), 0, CancellationToken.None).DefaultTimeout();
        AcceptSession fine = await client.RequestSessionAsync(new IPEndPoint(IPAddress.Loopback, 9999), 0, 27, TimeSpan.FromSeconds(1), 0, CancellationToken.None).DefaultTimeout();

        Assert.Equal(AcceptCode.NotSupported, tooMuchPadding.Accept);
        Assert.Equal(AcceptCode.Ok, fine.Accept);
        Assert.NotEqual(0, fine.Port);
    }

    [Fact]
    public async Task Request_SessionLimit_RefusedWithAccept4()
    {
        await using var server = new TestServer(o => o.MaxSessionsPerConnection = 2);
        await using TwampControlClient client = await TwampControlClient.ConnectAsync(
            server.TwampEndPoint, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout();

        var answers = new List<AcceptCode>();
        for (int i = 0; i < 3; i++)
        {
            answers.Add((await client.RequestSessionAsync(new IPEndPoint(IPAddress.Loopback, 9999), 0, 27, TimeSpan.FromSeconds(1), 0, CancellationToken.None).DefaultTimeout()).Accept);
        }

        Assert.Equal([AcceptCode.Ok, AcceptCode.Ok, AcceptCode.PermanentResourceLimitation], answers);
    }

    [Fact]
    public async Task Request_PortInRange_HonouredWhenFree()
    {
        // The range must be known to ask for a port in it: below Linux's ephemeral range (32768-60999), so no client
        // socket of a test running meanwhile lands on it, and away from the fixed ports of the strongSwan tests (155xx-158xx).
        int low = 20000 + Random.Shared.Next(10000);
        await using var server = new TestServer(o => o.TestPorts = new Ippm.Sessions.Server.PortRange((ushort)low, (ushort)(low + 20)));
        await using TwampControlClient client = await TwampControlClient.ConnectAsync(
            server.TwampEndPoint, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout();

        AcceptSession requested = await client.RequestSessionAsync(new IPEndPoint(IPAddress.Loopback, 9999), low + 5, 27, TimeSpan.FromSeconds(1), 0, CancellationToken.None).DefaultTimeout();
        AcceptSession outside = await client.RequestSessionAsync(new IPEndPoint(IPAddress.Loopback, 9999), 80, 27, TimeSpan.FromSeconds(1), 0, CancellationToken.None).DefaultTimeout();

        Assert.Equal(low + 5, requested.Port);
        Assert.InRange(outside.Port, low, low + 20);
    }

    [Fact]
    public async Task Connect_HostileCount_ClientRefuses()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        Task fakeServer = Task.Run(async () =>
        {
            using TcpClient peer = await listener.AcceptTcpClientAsync();
            byte[] greeting = new byte[ServerGreeting.Length];
            new ServerGreeting((uint)SecurityMode.Authenticated, new byte[16], new byte[16], 50_000_000).Write(greeting);
            await peer.GetStream().WriteAsync(greeting);
            await peer.GetStream().ReadAtLeastAsync(new byte[SetUpResponse.Length], 1, throwOnEndOfStream: false);
        });

        var refused = await Assert.ThrowsAsync<ControlProtocolException>(() => TwampMeasurement.RunAsync(
            Options((IPEndPoint)listener.LocalEndpoint, SecurityMode.Authenticated), CancellationToken.None).DefaultTimeout());

        Assert.Contains("Count 50000000", refused.Message, StringComparison.Ordinal);
        await fakeServer.DefaultTimeout();
    }

    [Fact]
    public async Task Server_ManyClientsAtOnce_AllMeasured()
    {
        await using var server = new TestServer();
        SecurityMode[] modes = [SecurityMode.Open, SecurityMode.Authenticated, SecurityMode.Encrypted, SecurityMode.Mixed];
        Task<TwampSessionResult>[] runs = Enumerable.Range(0, 8)
            .Select(i => TwampMeasurement.RunAsync(Options(server.TwampEndPoint, modes[i % 4], 20), CancellationToken.None))
            .ToArray();

        TwampSessionResult[] results = await Task.WhenAll(runs).DefaultTimeout();

        Assert.All(results, r => Assert.Equal(20, r.Replies.Select(s => s.SenderSequence).Distinct().Count()));
    }

    private static Task WaitForAsync(Func<bool> condition) => TaskTimeouts.UntilAsync(condition);
}
