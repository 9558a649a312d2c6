using System.Net;
using System.Security.Cryptography;
using Ippm.Sessions.Control;
using Ippm.Sessions.Owamp;
using Ippm.Sessions.Time;
using Ippm.Sessions.Transport;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ippm.Tests.Loopback;

/// <summary>OWAMP end to end over real loopback sockets: owping against the ippm server, both directions.</summary>
public sealed class OwampLoopbackTests
{
    private static readonly ScheduleSlot[] Fast = [new(ScheduleSlotType.Exponential, NtpTimestamp.FromSeconds(0.005))];

    private static OwpingOptions Options(IPEndPoint server, SecurityMode mode, int count = 40) => new()
    {
        Server = server,
        AcceptableModes = (uint)mode,
        Identity = TestServer.Identity,
        Secret = TestServer.Passphrase,
        Count = count,
        Schedule = Fast,
        // A sender later than Timeout skips packets (RFC 4656 §4.1.1); a loaded machine has started one over 1 s late.
        Timeout = TimeSpan.FromSeconds(3),
        StartDelay = TimeSpan.FromSeconds(0.6),
    };

    [Theory]
    [InlineData(SecurityMode.Open)]
    [InlineData(SecurityMode.Authenticated)]
    [InlineData(SecurityMode.Encrypted)]
    public async Task Measure_BothDirections_EveryPacketRecordedAndFetched(SecurityMode mode)
    {
        await using var server = new TestServer();

        OwampResult result = await OwampMeasurement.RunAsync(Options(server.OwampEndPoint, mode), CancellationToken.None).DefaultTimeout();
        OwampReport report = OwampReport.Create("test", result);

        Assert.Equal(mode, result.Mode);
        foreach (OwampDirectionReport direction in new[] { report.Outbound!, report.Inbound! })
        {
            Assert.Equal(40, direction.Sent);
            Assert.Equal(0, direction.Lost);
            Assert.Equal(0, direction.Duplicates);
            Assert.Equal(40, direction.Delay.Count);
            Assert.Equal(40u, direction.Data.NextSeqno);
            Assert.Empty(direction.Data.SkipRanges);
            Assert.Equal(Enumerable.Range(0, 40).Select(i => (uint)i), direction.Data.Records.Select(r => r.SequenceNumber).Order());
            Assert.All(direction.Data.Records, r => Assert.True(r.SendError.IsValid && r.ReceiveError.IsValid));
            if (OperatingSystem.IsLinux())
            {
                Assert.All(direction.Data.Records, r => Assert.Equal((byte)255, r.Ttl));
            }
        }
        Assert.NotEqual(report.Outbound!.Data.Sid, report.Inbound!.Data.Sid);
    }

    [Fact]
    public async Task Measure_OverIpv6_BothDirections()
    {
        await using var server = new TestServer(o => o.OwampListen = new IPEndPoint(IPAddress.IPv6Loopback, 0));

        OwampResult result = await OwampMeasurement.RunAsync(Options(server.OwampEndPoint, SecurityMode.Authenticated, 20), CancellationToken.None).DefaultTimeout();

        Assert.Equal(20, result.Outbound!.Records.Count(r => !r.IsLost));
        Assert.Equal(20, result.Inbound!.Records.Count(r => !r.IsLost));
    }

    [Fact]
    public async Task Measure_SentPacketsFollowTheSharedSchedule()
    {
        await using var server = new TestServer();
        ScheduleSlot[] slots = [new(ScheduleSlotType.Exponential, NtpTimestamp.FromSeconds(0.02)), new(ScheduleSlotType.Fixed, NtpTimestamp.FromSeconds(0.002))];
        const int count = 100;

        OwampResult result = await OwampMeasurement.RunAsync(Options(server.OwampEndPoint, SecurityMode.Open, count) with { Schedule = slots, Outbound = false }, CancellationToken.None).DefaultTimeout();

        // The server sent on the schedule both ends derive from the SID. A busy machine makes packets late, never
        // early, so the send times are checked against the schedule without a bound on how late a packet may be:
        // the start is estimated from the least late packet (min of send time - scheduled offset), making every
        // packet's lateness >= 0 by construction, and what shows the schedule is followed is that lateness does not
        // grow: in every run of 20 consecutive packets (about 0.2 s of schedule) one packet left on time, within
        // 0.1 s of the least late packet. A sender on another schedule, on the right one at another rate, or sending
        // as fast as it can drifts by more than that within two runs; a correct sender fails only if none of 20
        // packets over 0.2 s could leave within 0.1 s of its time.
        OwampDirectionData inbound = result.Inbound!;
        ulong[] offsets = Ippm.Security.Schedules.SessionSchedule.Offsets(inbound.Sid, slots, count);
        OwampDataRecord[] received = [.. inbound.Records.Where(r => !r.IsLost)];
        double startEstimate = received.Min(r => NtpTimestamp.DifferenceSeconds(r.SendTime, default) - offsets[r.SequenceNumber] / 4_294_967_296.0);
        var lateness = received.ToDictionary(
            r => r.SequenceNumber,
            r => NtpTimestamp.DifferenceSeconds(r.SendTime, default) - (startEstimate + offsets[r.SequenceNumber] / 4_294_967_296.0));
        for (uint first = 0; first < count; first += 20)
        {
            double[] run = [.. Enumerable.Range((int)first, 20).Where(seq => lateness.ContainsKey((uint)seq)).Select(seq => lateness[(uint)seq])];
            Assert.True(run.Length > 0 && run.Min() < 0.1, $"packets {first}..{first + 19}: least lateness {(run.Length > 0 ? run.Min() * 1000 : double.NaN):F1} ms; all: {string.Join(' ', lateness.OrderBy(p => p.Key).Select(p => $"{p.Value * 1000:F1}"))}");
        }
    }

    [Fact]
    public async Task Measure_OutboundOnly_And_InboundOnly()
    {
        await using var server = new TestServer();

        OwampResult to = await OwampMeasurement.RunAsync(Options(server.OwampEndPoint, SecurityMode.Authenticated) with { Inbound = false }, CancellationToken.None).DefaultTimeout();
        OwampResult from = await OwampMeasurement.RunAsync(Options(server.OwampEndPoint, SecurityMode.Encrypted) with { Outbound = false }, CancellationToken.None).DefaultTimeout();

        Assert.NotNull(to.Outbound);
        Assert.Null(to.Inbound);
        Assert.Equal(40, to.Outbound!.Records.Count(r => !r.IsLost));
        Assert.Null(from.Outbound);
        Assert.Equal(40, from.Inbound!.Records.Count(r => !r.IsLost));
    }

    [Fact]
    public async Task Request_BeyondPacketLimit_RefusedWithAccept4()
    {
        await using var server = new TestServer(o => o.MaxPacketsPerSession = 100);

        var refused = await Assert.ThrowsAsync<ControlProtocolException>(
            () => OwampMeasurement.RunAsync(Options(server.OwampEndPoint, SecurityMode.Open, 101), CancellationToken.None).DefaultTimeout());

        Assert.Equal(AcceptCode.PermanentResourceLimitation, refused.Accept);
        OwampResult ok = await OwampMeasurement.RunAsync(Options(server.OwampEndPoint, SecurityMode.Open, 5), CancellationToken.None).DefaultTimeout();
        Assert.Equal(5, ok.Outbound!.Records.Count);
    }

    [Fact]
    public async Task Fetch_UnknownSid_RefusedAndConnectionUsable()
    {
        await using var server = new TestServer();
        await using OwampControlClient client = await OwampControlClient.ConnectAsync(
            server.OwampEndPoint, (uint)SecurityMode.Encrypted, TestServer.Identity, TestServer.Passphrase, 32768, CancellationToken.None).DefaultTimeout();

        FetchedSession? unknown = await client.FetchAsync(new SessionId(1, 2), 0, FetchSession.ToEnd, 100, CancellationToken.None).DefaultTimeout();
        AcceptSession next = await client.RequestSessionAsync(
            new SessionRequest { ConfReceiver = 1, PacketCount = 1, SenderPort = 9, SenderAddress = IPAddress.Loopback, ReceiverAddress = IPAddress.Loopback, Timeout = NtpTimestamp.FromSeconds(1) },
            Fast, CancellationToken.None).DefaultTimeout();

        Assert.Null(unknown);
        Assert.Equal(AcceptCode.Ok, next.Accept);
        Assert.True(server.LoggerFactory.Contains(210));
    }

    [Fact]
    public async Task Request_HostileSlotCount_ConnectionClosedServerKeepsServing()
    {
        await using var server = new TestServer();
        using (var tcp = new System.Net.Sockets.TcpClient())
        {
            await tcp.ConnectAsync(server.OwampEndPoint);
            await using var channel = new ControlChannel(tcp.GetStream());
            using ControlHandshakeResult handshake = await ControlHandshake.ConnectAsync(
                channel, ControlProtocol.Owamp, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout();
            byte[] message = new byte[SessionRequest.Length];
            new SessionRequest { Command = CommandNumber.RequestSession, ConfReceiver = 1, ScheduleSlotCount = uint.MaxValue, PacketCount = 1, SenderPort = 9 }.Write(message);
            await channel.SendMessageAsync(message, CancellationToken.None);
            Assert.Equal(0, await tcp.GetStream().ReadAtLeastAsync(new byte[1], 1, throwOnEndOfStream: false).AsTask().DefaultTimeout());
        }
        OwampResult ok = await OwampMeasurement.RunAsync(Options(server.OwampEndPoint, SecurityMode.Open, 5), CancellationToken.None).DefaultTimeout();
        Assert.Equal(5, ok.Inbound!.Records.Count);
    }

    [Fact]
    public async Task Receiver_GarbageFromTheSender_DroppedPerPacketNotPerSession()
    {
        using var receiveSocket = new UdpTestSocket(new IPEndPoint(IPAddress.Loopback, 0), TimeSpan.FromMilliseconds(20));
        using var sendSocket = new UdpTestSocket(new IPEndPoint(IPAddress.Loopback, 0), TimeSpan.FromMilliseconds(20));
        receiveSocket.Connect(sendSocket.LocalEndPoint);
        sendSocket.Connect(receiveSocket.LocalEndPoint);
        var sid = new SessionId(0x7f000001_00000000, 42);
        var request = new SessionRequest
        {
            Command = CommandNumber.RequestSession, ConfReceiver = 1, PacketCount = 10,
            StartTime = SystemClock.Instance.Now(), Timeout = NtpTimestamp.FromSeconds(0.2),
        };
        var spec = new OwampSessionSpec(request, [new ScheduleSlot(ScheduleSlotType.Fixed, NtpTimestamp.FromSeconds(0.001))], sid);
        using var receiver = new OwampReceiver(receiveSocket, spec, null, NullLogger.Instance);
        receiver.Start();

        byte[] packet = new byte[TestPacketLayout.SenderOpenHeader];
        sendSocket.Send(RandomNumberGenerator.GetBytes(5));                                   // truncated
        new SenderPacket(9999, SystemClock.Instance.Now(), SystemClock.UnknownError).Write(packet, false);
        sendSocket.Send(packet);                                                               // sequence number out of range
        new SenderPacket(1, SystemClock.Instance.Now(), new ErrorEstimate(0)).Write(packet, false);
        sendSocket.Send(packet);                                                               // Multiplier 0
        for (uint seq = 0; seq < 10; seq += 2)
        {
            new SenderPacket(seq, SystemClock.Instance.Now(), SystemClock.UnknownError).Write(packet, false);
            sendSocket.Send(packet);
        }
        // Until all eight datagrams were handled (3 malformed, 5 recorded) and, as RFC 4656 §3.8 requires before
        // Stop-Sessions, the Timeout has passed since the last scheduled packet: events, not a guessed sleep.
        NtpTimestamp due = new(spec.ScheduledSendTime(9).Value + request.Timeout.Value);
        await TaskTimeouts.UntilAsync(() => receiver.Malformed == 3 && receiver.Records().Length == 5 && SystemClock.Instance.Now() > due);
        receiver.Complete(new SessionDescription(sid, 10, [new SkipRange(9, 9)]), SystemClock.Instance.Now());

        OwampDataRecord[] records = receiver.Records();
        Assert.Equal(3, receiver.Malformed);
        Assert.Equal(new uint[] { 0, 2, 4, 6, 8 }, records.Where(r => !r.IsLost).Select(r => r.SequenceNumber).Order());
        // Lost records: every missing number below Next Seqno, with the scheduled send time and TTL 255.
        Assert.Equal(new uint[] { 1, 3, 5, 7, 9 }, records.Where(r => r.IsLost).Select(r => r.SequenceNumber).Order());
        Assert.All(records.Where(r => r.IsLost), r =>
        {
            Assert.Equal((byte)255, r.Ttl);
            Assert.Equal(spec.ScheduledSendTime(r.SequenceNumber), r.SendTime);
        });
        OwampDirectionReport report = OwampDirectionReport.Create(new OwampDirectionData(sid, 10, 10, [new SkipRange(9, 9)], records, receiver.Malformed, 0));
        Assert.Equal(9, report.Sent);
        Assert.Equal(4, report.Lost);
        Assert.Equal(1, report.Skipped);
    }

    /// <summary>
    /// A receiver on a loopback socket for a <paramref name="packets"/>-packet session whose schedule (one packet a
    /// millisecond) started 5 s ago with Timeout 2 s, and a sender socket to feed it test packets by number.
    /// </summary>
    private sealed class ReceiverRig : IDisposable
    {
        private readonly UdpTestSocket _receiveSocket = new(new IPEndPoint(IPAddress.Loopback, 0), TimeSpan.FromMilliseconds(20));
        private readonly UdpTestSocket _sendSocket = new(new IPEndPoint(IPAddress.Loopback, 0), TimeSpan.FromMilliseconds(20));
        private readonly byte[] _packet = new byte[TestPacketLayout.SenderOpenHeader];

        public ReceiverRig(ulong sidLow, uint packets)
        {
            _receiveSocket.Connect(_sendSocket.LocalEndPoint);
            _sendSocket.Connect(_receiveSocket.LocalEndPoint);
            Sid = new SessionId(0x7f000001_00000000, sidLow);
            Request = new SessionRequest
            {
                Command = CommandNumber.RequestSession, ConfReceiver = 1, PacketCount = packets,
                StartTime = new NtpTimestamp(SystemClock.Instance.Now().Value - NtpTimestamp.FromSeconds(5).Value), Timeout = NtpTimestamp.FromSeconds(2),
            };
            Spec = new OwampSessionSpec(Request, [new ScheduleSlot(ScheduleSlotType.Fixed, NtpTimestamp.FromSeconds(0.001))], Sid);
            Receiver = new OwampReceiver(_receiveSocket, Spec, null, NullLogger.Instance);
            Receiver.Start();
        }

        public SessionId Sid { get; }
        public SessionRequest Request { get; }
        public OwampSessionSpec Spec { get; }
        public OwampReceiver Receiver { get; }

        public void Send(params uint[] sequenceNumbers)
        {
            foreach (uint seq in sequenceNumbers)
            {
                new SenderPacket(seq, SystemClock.Instance.Now(), SystemClock.UnknownError).Write(_packet, false);
                _sendSocket.Send(_packet);
            }
        }

        public void Dispose()
        {
            Receiver.Dispose();
            _sendSocket.Dispose();
            _receiveSocket.Dispose();
        }
    }

    [Fact]
    public async Task Receiver_PacketSentBeforeStopArrivesAfterIt_WaitedForNotLost()
    {
        using var rig = new ReceiverRig(43, 10);
        rig.Send(0, 1, 2, 3, 4, 5, 6, 7);
        await TaskTimeouts.UntilAsync(() => rig.Receiver.Records().Length == 8);
        // The sender says it sent 0..9 (all scheduled > Timeout before the stop, so all are judged); 8 and 9 are still
        // on their way when the Stop-Sessions is read. The wait ends when they are in, well before its bound.
        var description = new SessionDescription(rig.Sid, 10, []);
        NtpTimestamp stopTime = SystemClock.Instance.Now();
        Assert.Equal(2, rig.Receiver.MissingSent(description, stopTime));
        Task waiting = rig.Receiver.WaitForInFlightAsync(description, stopTime, CancellationToken.None);
        await Task.Delay(40);
        Assert.False(waiting.IsCompleted);
        rig.Send(8, 9);
        await waiting.DefaultTimeout();
        rig.Receiver.Complete(description, stopTime);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (uint)i), rig.Receiver.Records().Where(r => !r.IsLost).Select(r => r.SequenceNumber).Order());
        Assert.DoesNotContain(rig.Receiver.Records(), r => r.IsLost);
    }

    [Fact]
    public async Task Receiver_StopLessThanTimeoutAfterTheLastPackets_ThoseAreNeitherSentNorLost()
    {
        using var rig = new ReceiverRig(45, 10);
        rig.Send(0, 1, 2, 3, 4, 6, 7, 8, 9);
        await TaskTimeouts.UntilAsync(() => rig.Receiver.Records().Length == 9);
        // The Stop-Sessions arrives Timeout after packet 7's scheduled time: 8 and 9 (received) are cut off by RFC 4656
        // §3.8, 5 (missing) is judged lost. Next Seqno ends at 8, so a report counts 8 sent, 7 received, 1 lost.
        NtpTimestamp stopTime = new(rig.Spec.ScheduledSendTime(7).Value + rig.Request.Timeout.Value);
        rig.Receiver.Complete(new SessionDescription(rig.Sid, 10, []), stopTime);
        Assert.Equal(8u, rig.Receiver.Completion!.NextSeqno);
        OwampDirectionReport report = OwampDirectionReport.Create(new OwampDirectionData(rig.Sid, 10, rig.Receiver.Completion.NextSeqno, [], rig.Receiver.Records(), 0, 0));
        Assert.Equal((8, 7, 1), (report.Sent, report.Received, report.Lost));
        Assert.Equal(new uint[] { 5 }, rig.Receiver.Records().Where(r => r.IsLost).Select(r => r.SequenceNumber));
    }

    [Fact]
    public async Task Receiver_PacketReallyLost_WaitBoundedThenCountedLost()
    {
        using var rig = new ReceiverRig(44, 4);
        rig.Send(0, 2);
        await TaskTimeouts.UntilAsync(() => rig.Receiver.Records().Length == 2);
        // 3 was skipped by the sender (not missing); 1 never comes: the wait gives up at its bound.
        var description = new SessionDescription(rig.Sid, 4, [new SkipRange(3, 3)]);
        NtpTimestamp stopTime = SystemClock.Instance.Now();
        Assert.Equal(1, rig.Receiver.MissingSent(description, stopTime));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await rig.Receiver.WaitForInFlightAsync(description, stopTime, CancellationToken.None).DefaultTimeout();
        Assert.True(clock.Elapsed >= OwampReceiver.InFlightBound - TimeSpan.FromMilliseconds(20), $"returned after {clock.Elapsed}");
        rig.Receiver.Complete(description, stopTime);
        // As ever, Complete writes a lost record for every missing number (the skipped 3 too; the report tells them apart).
        Assert.Equal(new uint[] { 1, 3 }, rig.Receiver.Records().Where(r => r.IsLost).Select(r => r.SequenceNumber).Order());
        // Nothing missing: no wait at all (the ordinary stop).
        Assert.Equal(0, rig.Receiver.MissingSent(new SessionDescription(rig.Sid, 1, []), stopTime));
    }

    [Fact]
    public async Task Receiver_MissingSent_SkipRangesOnBothSidesOfEachGap()
    {
        using var rig = new ReceiverRig(46, 12);
        rig.Send(0, 2, 10);
        await TaskTimeouts.UntilAsync(() => rig.Receiver.Records().Length == 3);
        NtpTimestamp stopTime = SystemClock.Instance.Now();
        // Sent 0..11 but for 1, 4–5, 7 and 9 (and ranges past Next Seqno, which count for nothing); 0, 2, 10 came in:
        // 3, 6, 8 and 11 are missing.
        SkipRange[] skips = [new(1, 1), new(4, 5), new(7, 7), new(9, 9), new(12, 20), new(30, 40)];
        Assert.Equal(4, rig.Receiver.MissingSent(new SessionDescription(rig.Sid, 12, skips), stopTime));
        Assert.Equal(3, rig.Receiver.MissingSent(new SessionDescription(rig.Sid, 11, skips), stopTime));
        Assert.Equal(9, rig.Receiver.MissingSent(new SessionDescription(rig.Sid, 12, []), stopTime));
        Assert.Equal(0, rig.Receiver.MissingSent(new SessionDescription(rig.Sid, 12, [new(0, 11)]), stopTime));
    }

    [Fact]
    public async Task Measure_WrongPassphrase_RefusedWithAccept1()
    {
        await using var server = new TestServer();

        var refused = await Assert.ThrowsAsync<ControlProtocolException>(() => OwampMeasurement.RunAsync(
            Options(server.OwampEndPoint, SecurityMode.Authenticated) with { Secret = "wrongpass"u8.ToArray() }, CancellationToken.None).DefaultTimeout());

        Assert.Equal(AcceptCode.Failure, refused.Accept);
    }
}
