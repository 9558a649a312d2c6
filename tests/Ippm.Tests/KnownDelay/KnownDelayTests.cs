using System.Net;
using Ippm.Sessions.Transport;
using Ippm.Sessions.Twamp;
using Ippm.Tests.Loopback;
using Ippm.Wire;
using Ippm.Wire.Control;

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
        }

        // The report's figures against the imposed delays: never below them, and the minimum within the stated
        // tolerance above them (round trip: both tolerances).
        Assert.InRange(excessForward.Min(), 0, ExcessSeconds);
        Assert.InRange(excessBackward.Min(), 0, ExcessSeconds);
        Assert.InRange(report.Forward.Min, s_forward.TotalSeconds, s_forward.TotalSeconds + ExcessSeconds);
        Assert.InRange(report.Backward.Min, s_backward.TotalSeconds, s_backward.TotalSeconds + ExcessSeconds);
        Assert.InRange(report.RoundTrip.Min, (s_forward + s_backward).TotalSeconds, (s_forward + s_backward).TotalSeconds + (2 * ExcessSeconds));
        Assert.True(report.Forward.Median >= s_forward.TotalSeconds && report.Backward.Median >= s_backward.TotalSeconds);
        // The reflector's own time is not in the round trip: RTT ≈ forward + backward, to the nanosecond.
        Assert.All(result.Replies, s => Assert.Equal(
            NtpTimestamp.DifferenceSeconds(s.T2, s.T1) + NtpTimestamp.DifferenceSeconds(s.T4, s.T3),
            NtpTimestamp.DifferenceSeconds(s.T4, s.T1) - NtpTimestamp.DifferenceSeconds(s.T3, s.T2), 9));
    }
}
