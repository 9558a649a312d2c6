using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Ippm.Security;
using Ippm.Sessions.Stamp;
using Ippm.Sessions.Twamp;
using Ippm.Wire;
using Ippm.Wire.Stamp;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ippm.Tests.Loopback;

/// <summary>STAMP and TWAMP-Light end to end over real loopback sockets: ippm's Session-Sender against its reflector.</summary>
public sealed class StampLoopbackTests
{
    private static readonly byte[] s_key = Convert.FromHexString("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");

    private static StampReflector Start(IPAddress address, bool authenticated, out StampKeyStore? keys, bool stateful = true, int maxPacketLength = 9000, bool answerShort = false)
    {
        keys = null;
        if (authenticated)
        {
            using KeyFile file = KeyFile.Parse(KeyFile.FormatLine(address.ToString(), s_key));
            keys = new StampKeyStore(file);
        }
        var reflector = new StampReflector(
            new StampReflectorOptions { Listen = new IPEndPoint(address, 0), Keys = keys, Stateful = stateful, MaxPacketLength = maxPacketLength, AnswerShortPackets = answerShort },
            NullLogger.Instance);
        reflector.Start();
        return reflector;
    }

    private static StampSenderOptions AllTlvs(bool authenticated, int count = 50) => new()
    {
        Count = count,
        Schedule = new SendSchedule(0.005, Exponential: false),
        Timeout = TimeSpan.FromSeconds(2),
        Ssid = 4242,
        Key = authenticated ? s_key : null,
        ExtraPadding = 64,
        ClassOfService = true,
        TimestampInformation = true,
        DirectMeasurement = true,
        FollowUpTelemetry = true,
        Location = true,
        AccessReport = (1, 1),
    };

    [Theory]
    [InlineData("127.0.0.1", false)]
    [InlineData("127.0.0.1", true)]
    [InlineData("::1", false)]
    [InlineData("::1", true)]
    public async Task Measure_EachModeAndFamily_EveryTlvAnswered_NothingLost(string address, bool authenticated)
    {
        IPAddress ip = IPAddress.Parse(address);
        using StampReflector reflector = Start(ip, authenticated, out StampKeyStore? keys);
        using (keys)
        {
            StampSessionResult result = await StampMeasurement.RunAsync(reflector.LocalEndPoint, AllTlvs(authenticated), CancellationToken.None).DefaultTimeout();
            TwampReport report = TwampReport.Create("test", result.Session);

            Assert.Equal(authenticated ? SecurityMode.Authenticated : SecurityMode.Open, result.Session.Mode);
            Assert.Equal(50, result.Session.Sent);
            Assert.Equal(0, report.Sequence.Lost);
            Assert.Equal(0, result.Session.BadHmac + result.Session.Malformed);
            Assert.Equal(result.Session.SenderPacketLength, result.BackwardLength); // symmetric (RFC 8762 §4.2)
            Assert.Equal(0, reflector.BadHmac + reflector.TlvIntegrityFailures + reflector.UnrecognizedTlvs + reflector.MalformedTlvs);
            StampTlvSummary t = result.Tlvs;
            Assert.Equal(50, t.RepliesWithTlvs);
            Assert.Equal(0, t.Unrecognized + t.Malformed + t.IntegrityFailed);
            Assert.Equal(50, t.ClassOfService[(0, 0, 0)]);
            Assert.Equal(new DirectMeasurementTlv(50, 50, 50), t.LastDirectMeasurement);
            Assert.Equal((byte)StampTimestampMethod.SoftwareLocal, t.TimestampInformation!.Value.TimestampOut);
            Assert.True(t.FollowUpReports >= 49);
            Assert.Equal(50, t.AccessReportsEchoed);
            Assert.Equal(reflector.LocalEndPoint.Port, t.Location!.Value.DestinationPort);
            Assert.Equal(ip.ToString(), t.Location.Value.Destination);
            Assert.Equal(ip.ToString(), t.Location.Value.Source);
            // Stateful reflector: its own sequence numbers 0..49.
            Assert.Equal(Enumerable.Range(0, 50).Select(i => (uint)i), result.Session.Replies.Select(r => r.ReflectorSequence).Order());
            Assert.All(result.Session.Replies, s => Assert.Equal((byte)255, s.ForwardTtl));
            Assert.All(result.Session.Replies, s => Assert.True(s.T2 <= s.T3, $"T2 {s.T2} > T3 {s.T3}"));
            Assert.All(result.Session.Replies, s => Assert.True(s.T1 <= s.T4, $"T1 {s.T1} > T4 {s.T4}"));
        }
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    public async Task PtpTimestamps_EitherEnd_DecodedByTheZBit_OneWayDelaysStayOnTheSameClock(bool senderPtp, bool reflectorPtp)
    {
        using var reflector = new StampReflector(new StampReflectorOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), PtpTimestamps = reflectorPtp }, NullLogger.Instance);
        reflector.Start();
        StampSenderOptions options = AllTlvs(false, 10) with { PtpTimestamps = senderPtp };
        StampSessionResult result = await StampMeasurement.RunAsync(reflector.LocalEndPoint, options, CancellationToken.None).DefaultTimeout();
        TwampReport report = TwampReport.Create("ptp", result.Session);
        Assert.Equal(10, report.RoundTrip.Count);
        // One clock on loopback: misread formats would put T2/T3 decades away.
        Assert.InRange(report.Forward.Min, -0.001, 1);
        Assert.InRange(report.Backward.Max, -0.001, 1);
        Assert.All(result.Session.Replies, s => Assert.Equal(reflectorPtp, s.ReflectorError.IsPtpFormat));
    }

    [Fact]
    public async Task DualStackListener_ServesIpv4AndIpv6_KeysMatchIpv4PeersByTheirIpv4Address()
    {
        using KeyFile file = KeyFile.Parse(KeyFile.FormatLine("127.0.0.0/8", s_key));
        using var keys = new StampKeyStore(file);
        using var reflector = new StampReflector(new StampReflectorOptions { Listen = new IPEndPoint(IPAddress.IPv6Any, 0), Keys = keys }, NullLogger.Instance);
        reflector.Start();
        int port = reflector.LocalEndPoint.Port;
        StampSessionResult v4 = await StampMeasurement.RunAsync(new IPEndPoint(IPAddress.Loopback, port), AllTlvs(true, 10), CancellationToken.None).DefaultTimeout();
        Assert.Equal(10, v4.Session.Replies.Count);
        Assert.Equal("127.0.0.1", v4.Tlvs.Location!.Value.Source);
        Assert.Equal("127.0.0.1", v4.Tlvs.Location.Value.Destination);
        // Replies to a v4-mapped peer leave through the IPv4 path: TTL 255 there too (0 hops on loopback), not the default 64.
        Assert.All(v4.Session.Replies, s => Assert.Equal((byte)255, s.BackwardTtl));
        StampSessionResult v6 = await StampMeasurement.RunAsync(new IPEndPoint(IPAddress.IPv6Loopback, port), AllTlvs(false, 10), CancellationToken.None).DefaultTimeout();
        Assert.Equal(10, v6.Session.Replies.Count);
        Assert.Equal("::1", v6.Tlvs.Location!.Value.Source);
        Assert.Equal(0, reflector.BadHmac + reflector.Short);
    }

    [Fact]
    public async Task StatelessReflector_CopiesTheSendersSequenceNumbers()
    {
        using StampReflector reflector = Start(IPAddress.Loopback, false, out _, stateful: false);
        StampSessionResult result = await StampMeasurement.RunAsync(reflector.LocalEndPoint, AllTlvs(false, 20), CancellationToken.None).DefaultTimeout();
        Assert.Equal(20, result.Session.Replies.Count);
        Assert.All(result.Session.Replies, s => Assert.Equal(s.SenderSequence, s.ReflectorSequence));
        Assert.Equal(new DirectMeasurementTlv(20, 0, 0), result.Tlvs.LastDirectMeasurement); // no session counters
        Assert.Equal(0, result.Tlvs.FollowUpReports);
        Assert.Equal(0, reflector.Sessions);
    }

    [Fact]
    public void SessionTableFull_NewPeersAnsweredStatelessly_KnownSessionsKeepTheirCounters()
    {
        // One session fits; a flood of spoofed sources could fill a real table the same way.
        using var reflector = new StampReflector(new StampReflectorOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), MaxSessions = 1 }, NullLogger.Instance);
        reflector.Start();
        using var first = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        using var second = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        foreach (Socket s in new[] { first, second })
        {
            s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            s.ReceiveTimeout = (int)TaskTimeouts.Default.TotalMilliseconds; // a safety bound only
        }
        byte[] buffer = new byte[256];
        StampReflectorPacket Exchange(Socket s, uint sequence)
        {
            byte[] packet = new byte[44];
            new StampSenderPacket(sequence, NtpTimestamp.FromDateTimeOffset(DateTimeOffset.UtcNow), new ErrorEstimate(0x0001), 7).Write(packet, false);
            s.SendTo(packet, reflector.LocalEndPoint);
            int length = s.Receive(buffer);
            Assert.Equal(OperationStatus.Done, StampReflectorPacket.TryRead(buffer.AsSpan(0, length), false, out StampReflectorPacket reply));
            Assert.Equal(sequence, reply.SenderSequenceNumber);
            return reply;
        }

        Assert.Equal(0u, Exchange(first, 100).SequenceNumber); // the table's one session: the reflector's own count
        Assert.Equal(500u, Exchange(second, 500).SequenceNumber); // table full: answered, the sender's number reflected
        Assert.Equal(501u, Exchange(second, 501).SequenceNumber);
        Assert.Equal(1u, Exchange(first, 101).SequenceNumber);
        Assert.Equal(2, reflector.SessionsFull);
        Assert.Equal(1, reflector.Sessions);
    }

    [Fact]
    public async Task ClassOfService_DscpMeasuredInBothDirections()
    {
        using StampReflector reflector = Start(IPAddress.Loopback, false, out _);
        StampSenderOptions options = AllTlvs(false, 20) with { Dscp = 46 };
        StampSessionResult result = await StampMeasurement.RunAsync(reflector.LocalEndPoint, options, CancellationToken.None).DefaultTimeout();
        Assert.Equal(20, result.Tlvs.ClassOfService[(46, 0, 0)]);          // the reflector received DSCP 46
        Assert.Equal(20, result.Tlvs.BackwardTrafficClass[46 << 2]);        // and answered with DSCP1 = 46
    }

    [Fact]
    public async Task TwampLightSender_AnsweredBySameReflector_SameSize()
    {
        using StampReflector reflector = Start(IPAddress.Loopback, false, out _);
        TwampSessionResult result = await StampMeasurement.RunTwampLightAsync(
            reflector.LocalEndPoint, 30, new SendSchedule(0.005, false), StampMeasurement.TwampLightDefaultPadding, 0, TimeSpan.FromSeconds(2), CancellationToken.None).DefaultTimeout();
        Assert.Equal(30, result.Replies.Count);
        Assert.Equal(44, result.SenderPacketLength);
        Assert.Equal(0, result.Malformed);
        await TaskTimeouts.UntilAsync(() => reflector.Reflected >= 30); // counted after the send: the reply can arrive first
        Assert.Equal(30, reflector.Reflected);
    }

    [Fact]
    public async Task HmacTlvInUnauthenticatedMode_VerifiedAndAnswered()
    {
        using KeyFile file = KeyFile.Parse(KeyFile.FormatLine("*", s_key));
        using var keys = new StampKeyStore(file);
        // The reflector knows the key but the peer is unauthenticated: only the HMAC TLV uses it.
        using var reflector = new StampReflector(new StampReflectorOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0) }, NullLogger.Instance);
        reflector.Start();
        StampSenderOptions options = AllTlvs(false, 10) with { HmacTlv = true, TlvKey = s_key };
        StampSessionResult result = await StampMeasurement.RunAsync(reflector.LocalEndPoint, options, CancellationToken.None).DefaultTimeout();
        // This reflector has no key, so it cannot verify: every TLV comes back with I = 1 (RFC 8972 §4.8).
        Assert.Equal(10, result.Tlvs.IntegrityFailed);
        Assert.Equal(10, reflector.TlvIntegrityFailures);
    }

    [Fact]
    public async Task ImposedDelay_ReportedRoundTripIncludesIt()
    {
        // A test-owned reflector that holds each packet 40 ms and stamps T2 = T3: the oracle is the imposed delay.
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var cts = new CancellationTokenSource();
        Task slow = Task.Run(async () =>
        {
            byte[] buffer = new byte[2048];
            while (!cts.IsCancellationRequested)
            {
                SocketReceiveFromResult r = await socket.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0), cts.Token);
                var held = System.Diagnostics.Stopwatch.StartNew();
                while (held.Elapsed < TimeSpan.FromMilliseconds(40))
                {
                    await Task.Delay(5, cts.Token); // timers may fire early: the stopwatch decides
                }
                StampSenderPacket.TryRead(buffer.AsSpan(0, r.ReceivedBytes), false, out StampSenderPacket p);
                NtpTimestamp now = NtpTimestamp.FromDateTimeOffset(DateTimeOffset.UtcNow);
                byte[] reply = new byte[r.ReceivedBytes];
                new StampReflectorPacket(p.SequenceNumber, now, new ErrorEstimate(0x0001), p.Ssid, now, p.SequenceNumber, p.Timestamp, p.ErrorEstimate, 255).Write(reply, false);
                await socket.SendToAsync(reply, r.RemoteEndPoint, cts.Token);
            }
        });
        // A Timeout long enough that a busy machine's late replies still count (the session ends at the last reply).
        StampSenderOptions options = new() { Count = 5, Schedule = new SendSchedule(0.1, false), Timeout = TimeSpan.FromSeconds(20) };
        var session = System.Diagnostics.Stopwatch.StartNew();
        StampSessionResult result = await StampMeasurement.RunAsync((IPEndPoint)socket.LocalEndPoint!, options, CancellationToken.None).DefaultTimeout();
        TimeSpan sessionLength = session.Elapsed;
        await cts.CancelAsync();
        TwampReport report = TwampReport.Create("slow", result.Session);
        Assert.Equal(5, report.RoundTrip.Count);
        // At least the hold; at most the whole session as the test saw it (the bound of a sane figure on any machine).
        Assert.InRange(report.RoundTrip.Min, 0.040, sessionLength.TotalSeconds);
        Assert.InRange(report.RoundTrip.Max, 0.040, sessionLength.TotalSeconds);
        try
        {
            await slow;
        }
        catch (OperationCanceledException)
        {
        }
    }

    [Fact]
    public async Task BadInput_CountedAndDropped_NeverAmplified_OthersStillServed()
    {
        using StampKeyStore? none = null;
        using KeyFile file = KeyFile.Parse(KeyFile.FormatLine("127.0.0.2", s_key));
        using var keys = new StampKeyStore(file);
        using var reflector = new StampReflector(
            new StampReflectorOptions { Listen = new IPEndPoint(IPAddress.Any, 0), Keys = keys, MaxPacketLength = 600 }, NullLogger.Instance);
        reflector.Start();
        var target = new IPEndPoint(IPAddress.Loopback, reflector.LocalEndPoint.Port);

        // A good sender measures while the bad input arrives.
        Task<StampSessionResult> good = StampMeasurement.RunAsync(target, AllTlvs(false, 100), CancellationToken.None);

        // Whether a datagram is answered is decided by order, not by a receive timeout a busy machine can outlast:
        // the reflector serves its socket in arrival order, so after each datagram the test sends a probe that is
        // always answered; the first reply is the datagram's own, or the probe's when the datagram got none.
        using var raw = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        raw.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        raw.ReceiveTimeout = (int)TaskTimeouts.Default.TotalMilliseconds; // a safety bound only
        using var authenticatedPeer = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        authenticatedPeer.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
        authenticatedPeer.ReceiveTimeout = raw.ReceiveTimeout;
        using var auth = new StampAuthenticator(s_key);

        byte[] buffer = new byte[2048];
        byte[] probeReply = new byte[2048];
        uint probeSequence = 0xF0000000;
        bool IsProbeReply(ReadOnlySpan<byte> reply, bool authenticated, uint sequence) =>
            StampReflectorPacket.TryRead(reply, authenticated, out StampReflectorPacket r) == OperationStatus.Done && r.SenderSequenceNumber == sequence;
        int? Exchange(Socket s, byte[] datagram)
        {
            bool authenticated = s == authenticatedPeer;
            uint sequence = ++probeSequence;
            byte[] probe = new byte[authenticated ? 112 : 44];
            new StampSenderPacket(sequence, NtpTimestamp.FromDateTimeOffset(DateTimeOffset.UtcNow), new ErrorEstimate(0x0001), 7).Write(probe, authenticated);
            if (authenticated)
            {
                auth.Sign(probe);
            }
            s.SendTo(datagram, target);
            s.SendTo(probe, target);
            int length = s.Receive(buffer);
            if (IsProbeReply(buffer.AsSpan(0, length), authenticated, sequence))
            {
                return null;
            }
            int probeLength = s.Receive(probeReply);
            Assert.True(IsProbeReply(probeReply.AsSpan(0, probeLength), authenticated, sequence), "one reply per datagram");
            return length;
        }

        // Never more out than in: every size from 0 to 120 octets, unauthenticated.
        for (int size = 1; size <= 120; size++)
        {
            byte[] datagram = new byte[size];
            int? reply = Exchange(raw, datagram);
            Assert.Equal(size < 44 ? null : size, reply);
        }
        // Oversized: dropped.
        Assert.Null(Exchange(raw, new byte[601]));
        // Garbage after a base packet: reflected, the garbage flagged as TLVs, same size.
        byte[] garbage = RandomNumberGenerator.GetBytes(44 + 37);
        garbage[0] = 0; // not a probe's sequence number
        garbage[44] = 0;
        garbage[45] = 250;
        garbage[46] = 0xFF; // length past the packet
        Assert.Equal(garbage.Length, Exchange(raw, garbage));
        Assert.Equal((byte)StampTlvFlags.Malformed, buffer[44]);
        // Bad HMAC from the peer that must authenticate; and its unauthenticated-size packets are too short.
        byte[] forged = RandomNumberGenerator.GetBytes(112);
        Assert.Null(Exchange(authenticatedPeer, forged));
        Assert.Null(Exchange(authenticatedPeer, new byte[44]));
        // The same peer with the right key is answered, in authenticated mode.
        byte[] signed = new byte[112];
        new StampSenderPacket(1, NtpTimestamp.FromDateTimeOffset(DateTimeOffset.UtcNow), new ErrorEstimate(0x0001), 7).Write(signed, true);
        auth.Sign(signed);
        Assert.Equal(112, Exchange(authenticatedPeer, signed));
        Assert.True(auth.Verify(buffer.AsSpan(0, 112)));

        StampSessionResult result = await good.DefaultTimeout();
        Assert.Equal(0, TwampReport.Create("good", result.Session).Sequence.Lost);
        Assert.Equal(0, result.Tlvs.Malformed + result.Tlvs.IntegrityFailed);
        Assert.Equal(43, reflector.Short - 1); // 1..43 octets, plus the 44-octet packet of the authenticated peer
        Assert.Equal(1, reflector.Oversized);
        Assert.Equal(1, reflector.BadHmac);
        // Zero-filled sizes 45..120 carry empty TLVs of type 0 (unrecognized); a tail of 1-3 octets is a malformed
        // header: 57 of them, plus the garbage packet.
        Assert.Equal(57 + 1, reflector.MalformedTlvs);
    }

    [Fact]
    public async Task AnswerShortPackets_Rfc8762Section46_BasePacketForShortTwampLight()
    {
        using StampReflector reflector = Start(IPAddress.Loopback, false, out _, answerShort: true);
        using var raw = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        raw.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        raw.ReceiveTimeout = (int)TaskTimeouts.Default.TotalMilliseconds; // the reply is expected: a safety bound only
        byte[] twampLight = new byte[14];
        twampLight[3] = 9;
        await raw.SendToAsync(twampLight, reflector.LocalEndPoint);
        byte[] buffer = new byte[100];
        int length = raw.Receive(buffer);
        Assert.Equal(44, length);
        StampReflectorPacket.TryRead(buffer.AsSpan(0, length), false, out StampReflectorPacket reply);
        Assert.Equal(9u, reply.SenderSequenceNumber);
    }
}
