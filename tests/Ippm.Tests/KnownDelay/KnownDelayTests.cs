using System.Net;
using Ippm.Sessions.Owamp;
using Ippm.Sessions.Time;
using Ippm.Sessions.Transport;
using Ippm.Sessions.Twamp;
using Ippm.Tests.Loopback;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;

namespace Ippm.Tests.KnownDelay;

/// <summary>
/// End to end over real sockets with delays the test imposes: a <see cref="DelayProxy"/> sits on the test-packet
/// path between ippm's Session-Sender and its reflector (the request names the proxy's port as the sender's,
/// so the reflector answers through it; the control connection is direct). The oracle is the proxy's own record
/// of every hold, stamped on the same clock: causality makes the lower bounds exact (T1 ≤ proxy in, proxy out ≤
/// T2, T3 ≤ proxy in, proxy out ≤ T4), and the upper bound allows what loopback and thread wake-ups add.
/// </summary>
public sealed class KnownDelayTests
{
    private static readonly TimeSpan s_forward = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan s_backward = TimeSpan.FromMilliseconds(5);

    /// <summary>
    /// Stated tolerance: what ippm measured beyond the proxy's hold, for the quickest of the 40 packets in each
    /// direction (loopback plus a thread wake-up; the minimum, not the median, so a loaded machine that delays
    /// most wake-ups cannot fail it — the lower bounds are exact whatever the load).
    /// </summary>
    private const double ExcessSeconds = 0.010;

    [Fact]
    public async Task Twamp_TwentyMillisecondsOutFiveBack_ReportedAsImposed()
    {
        await using var server = new TestServer();
        await using TwampControlClient client = await TwampControlClient.ConnectAsync(
            server.TwampEndPoint, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout();
        using var socket = new UdpTestSocket(new IPEndPoint(IPAddress.Loopback, 0), TimeSpan.FromMilliseconds(50));

        // The reflector's port is known only after Accept-Session, the proxy's must be in the request.
        IPEndPoint? reflector = null;
        using var proxy = new DelayProxy(() => reflector, s_forward, s_backward, DelayProxy.SenderSeq, DelayProxy.ReflectedSenderSeq);
        AcceptSession accept = await client.RequestSessionAsync(proxy.ServerFacing, 0, 27, TimeSpan.FromSeconds(2), 0, CancellationToken.None).DefaultTimeout();
        Assert.Equal(AcceptCode.Ok, accept.Accept);
        reflector = new IPEndPoint(IPAddress.Loopback, accept.Port);
        socket.Connect(proxy.ClientFacing);

        await client.StartSessionsAsync(CancellationToken.None).DefaultTimeout();
        TwampSessionResult result = await TwampSessionSender.RunAsync(
            socket, accept.Sid, SecurityMode.Open, null, 40, new SendSchedule(0.01, Exponential: false), 27, TimeSpan.FromSeconds(2), CancellationToken.None).DefaultTimeout();
        await client.StopSessionsAsync(AcceptCode.Ok, CancellationToken.None).DefaultTimeout();
        TwampReport report = TwampReport.Create("proxy", result);

        Assert.Equal(0, report.Sequence.Lost);
        Assert.Equal(40, report.RoundTrip.Count);
        var excessForward = new List<double>();
        var excessBackward = new List<double>();
        var excessRoundTrip = new List<double>();
        foreach (TwampSample s in result.Replies)
        {
            (NtpTimestamp fin, NtpTimestamp fout) = proxy.Forward[s.SenderSequence];
            (NtpTimestamp bin, NtpTimestamp bout) = proxy.Backward[s.SenderSequence];
            Assert.True(s.T1 <= fin && fout <= s.T2, $"packet {s.SenderSequence}: T1 ≤ proxy in, proxy out ≤ T2");
            Assert.True(s.T3 <= bin && bout <= s.T4, $"packet {s.SenderSequence}: T3 ≤ proxy in, proxy out ≤ T4");
            double holdForward = NtpTimestamp.DifferenceSeconds(fout, fin);
            double holdBackward = NtpTimestamp.DifferenceSeconds(bout, bin);
            Assert.True(holdForward >= s_forward.TotalSeconds && holdBackward >= s_backward.TotalSeconds, "the proxy held at least as told");
            excessForward.Add(NtpTimestamp.DifferenceSeconds(s.T2, s.T1) - holdForward);
            excessBackward.Add(NtpTimestamp.DifferenceSeconds(s.T4, s.T3) - holdBackward);
            excessRoundTrip.Add(NtpTimestamp.DifferenceSeconds(s.T4, s.T1) - NtpTimestamp.DifferenceSeconds(s.T3, s.T2) - holdForward - holdBackward);
        }

        // The report's figures against the delays imposed: never below what the proxy was told to hold, and for
        // the quickest packet within the stated tolerance above what it actually held (a loaded machine may
        // make the proxy itself hold longer; its stamps say by how much).
        Assert.InRange(report.Forward.Min, s_forward.TotalSeconds, double.MaxValue);
        Assert.InRange(report.Backward.Min, s_backward.TotalSeconds, double.MaxValue);
        Assert.InRange(report.RoundTrip.Min, (s_forward + s_backward).TotalSeconds, double.MaxValue);
        Assert.InRange(excessForward.Min(), 0, ExcessSeconds);
        Assert.InRange(excessBackward.Min(), 0, ExcessSeconds);
        Assert.InRange(excessRoundTrip.Min(), 0, 2 * ExcessSeconds);
        Assert.True(report.Forward.Median >= s_forward.TotalSeconds && report.Backward.Median >= s_backward.TotalSeconds);
        // The reflector's own time is not in the round trip: RTT ≈ forward + backward, to the nanosecond.
        Assert.All(result.Replies, s => Assert.Equal(
            NtpTimestamp.DifferenceSeconds(s.T2, s.T1) + NtpTimestamp.DifferenceSeconds(s.T4, s.T3),
            NtpTimestamp.DifferenceSeconds(s.T4, s.T1) - NtpTimestamp.DifferenceSeconds(s.T3, s.T2), 9));
    }

    [Fact]
    public async Task Owamp_TwentyMillisecondsToTheServer_OneWayDelayAsImposed()
    {
        await using var server = new TestServer();
        await using OwampControlClient client = await OwampControlClient.ConnectAsync(
            server.OwampEndPoint, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout();
        IPEndPoint? receiver = null;
        using var proxy = new DelayProxy(() => receiver, s_forward, s_backward, DelayProxy.SenderSeq, DelayProxy.SenderSeq);
        using var socket = new UdpTestSocket(new IPEndPoint(IPAddress.Loopback, 0), TimeSpan.FromMilliseconds(50));
        ScheduleSlot[] schedule = [new ScheduleSlot(ScheduleSlotType.Fixed, NtpTimestamp.FromSeconds(0.01))];
        var request = new SessionRequest
        {
            Command = CommandNumber.RequestSession,
            IpVersion = 4,
            ConfReceiver = 1,
            PacketCount = 40,
            SenderPort = (ushort)proxy.ServerFacing.Port, // the server sees the proxy as the sender
            SenderAddress = IPAddress.Loopback,
            ReceiverAddress = IPAddress.Loopback,
            StartTime = NtpTimestamp.FromUnixNanoseconds(SystemClock.Instance.Now().ToUnixNanoseconds() + 300_000_000),
            Timeout = NtpTimestamp.FromSeconds(1),
        };
        AcceptSession accept = await client.RequestSessionAsync(request, schedule, CancellationToken.None).DefaultTimeout();
        Assert.Equal(AcceptCode.Ok, accept.Accept);
        receiver = new IPEndPoint(IPAddress.Loopback, accept.Port);
        socket.Connect(proxy.ClientFacing);
        using var sender = new OwampSender(socket, new OwampSessionSpec(request, schedule, accept.Sid), null);

        await client.StartSessionsAsync(CancellationToken.None).DefaultTimeout();
        sender.Start();
        SessionDescription sent = await sender.Completion.DefaultTimeout();
        // RFC 4656 §3.8: Stop-Sessions no sooner than the loss timeout after the last scheduled packet (the
        // receiver drops what was scheduled later), and only once the proxy has delivered all 40.
        await TaskTimeouts.UntilAsync(() => proxy.Forward.Count == 40);
        NtpTimestamp due = new(sender.Spec.LastScheduledSendTime.Value + NtpTimestamp.FromSeconds(1.05).Value);
        await TaskTimeouts.UntilAsync(() => SystemClock.Instance.Now() > due);
        await client.StopSessionsAsync(AcceptCode.Ok, [sent], CancellationToken.None).DefaultTimeout();
        FetchedSession fetched = (await client.FetchAsync(accept.Sid, 0, FetchSession.ToEnd, 1024, CancellationToken.None).DefaultTimeout())!;
        OwampDirectionReport report = OwampDirectionReport.Create(new OwampDirectionData(accept.Sid, 40, fetched.Ack.NextSeqno, fetched.SkipRanges, fetched.Records, 0, 0));

        Assert.Equal((40L, 0L), (report.Received, report.Lost));
        var excess = new List<double>();
        foreach (OwampDataRecord r in fetched.Records)
        {
            (NtpTimestamp pin, NtpTimestamp pout) = proxy.Forward[r.SequenceNumber];
            Assert.True(r.SendTime <= pin && pout <= r.ReceiveTime, $"packet {r.SequenceNumber}: send ≤ proxy in, proxy out ≤ receive");
            double hold = NtpTimestamp.DifferenceSeconds(pout, pin);
            Assert.True(hold >= s_forward.TotalSeconds);
            excess.Add(NtpTimestamp.DifferenceSeconds(r.ReceiveTime, r.SendTime) - hold);
        }
        Assert.InRange(excess.Min(), 0, ExcessSeconds);
        Assert.InRange(report.Delay.Min, s_forward.TotalSeconds, double.MaxValue);
        Assert.True(report.Delay.Median >= s_forward.TotalSeconds);
        Assert.Equal(0, report.NegativeDelays);
    }
}
