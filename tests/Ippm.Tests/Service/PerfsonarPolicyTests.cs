using System.Net;
using Ippm.Sessions.Control;
using Ippm.Sessions.Owamp;
using Ippm.Sessions.Twamp;
using Ippm.Tests.Cli;
using Ippm.Tests.Loopback;
using Ippm.Wire;
using Ippm.Wire.Control;

namespace Ippm.Tests.Service;

/// <summary>
/// The done-when of the service work: <c>ippm server --perfsonar-config DIR</c> (the executable) on a perfSONAR
/// directory makes exactly the decisions the limits file describes, seen by clients over real sockets. The bandwidth
/// figures are worked out by hand from RFC 4656 §4.1.2 packet sizes (open 14, authenticated 48 octets) plus 20 octets
/// of IPv4 and 8 of UDP header, times the packet rate of the fixed schedule.
/// </summary>
public sealed class PerfsonarPolicyTests
{
    private static async Task<AcceptCode> RequestOwampAsync(IPEndPoint server, SecurityMode mode, string? identity, byte[]? secret, double intervalSeconds)
    {
        await using OwampControlClient client = await OwampControlClient.ConnectAsync(server, (uint)mode, identity, secret, 32768, CancellationToken.None).DefaultTimeout();
        IPAddress local = client.LocalEndPoint.Address;
        var request = new SessionRequest
        {
            ConfReceiver = 1,
            IpVersion = SessionRequest.IpVersionOf(local),
            SenderPort = 9,
            SenderAddress = local,
            ReceiverAddress = client.RemoteEndPoint.Address,
            PacketCount = 10,
            Timeout = NtpTimestamp.FromSeconds(1),
        };
        AcceptSession answer = await client.RequestSessionAsync(request, [new ScheduleSlot(ScheduleSlotType.Fixed, NtpTimestamp.FromSeconds(intervalSeconds))], CancellationToken.None).DefaultTimeout();
        return answer.Accept;
    }

    private static async Task<AcceptCode> RequestTwampAsync(IPEndPoint server, SecurityMode mode, string? identity, byte[]? secret)
    {
        await using TwampControlClient client = await TwampControlClient.ConnectAsync(server, (uint)mode, identity, secret, 32768, CancellationToken.None).DefaultTimeout();
        AcceptSession answer = await client.RequestSessionAsync(new IPEndPoint(client.LocalEndPoint.Address, 9), 0, 27, TimeSpan.FromSeconds(1), 0, CancellationToken.None).DefaultTimeout();
        return answer.Accept;
    }

    [Fact]
    public async Task Owamp_PerfsonarDirectory_GivesTheLimitsFileDecisions()
    {
        using var directory = new PerfsonarDirectory();
        using ServerProcess server = await directory.StartServerAsync();
        IPEndPoint v4 = directory.Owamp(IPAddress.Loopback), v6 = directory.Owamp(IPAddress.IPv6Loopback);

        // opennet, open mode: (14 + 28) octets × 8 × 1000/s = 336 kbit/s fits 1 Mbit/s; × 5000/s = 1.68 Mbit/s does not.
        Assert.Equal(AcceptCode.Ok, await RequestOwampAsync(v4, SecurityMode.Open, null, null, 0.001));
        Assert.Equal(AcceptCode.PermanentResourceLimitation, await RequestOwampAsync(v4, SecurityMode.Open, null, null, 0.0002));
        // alice, authenticated: (48 + 28) × 8 × 10000/s = 6.08 Mbit/s fits 10 Mbit/s; × 20000/s = 12.16 Mbit/s does not.
        Assert.Equal(AcceptCode.Ok, await RequestOwampAsync(v4, SecurityMode.Authenticated, "alice", PerfsonarDirectory.AlicePassphrase, 0.0001));
        Assert.Equal(AcceptCode.PermanentResourceLimitation, await RequestOwampAsync(v4, SecurityMode.Authenticated, "alice", PerfsonarDirectory.AlicePassphrase, 0.00005));
        // alice keeps her class from any address.
        Assert.Equal(AcceptCode.Ok, await RequestOwampAsync(v6, SecurityMode.Authenticated, "alice", PerfsonarDirectory.AlicePassphrase, 0.0001));
        // Default (::1 is in no assign net): open mode is not even offered...
        ControlProtocolException refused = await Assert.ThrowsAsync<ControlProtocolException>(() => RequestOwampAsync(v6, SecurityMode.Open, null, null, 1));
        // ...and bob, a valid .pfs user with no class of his own, gets the jail: one packet a second is over 1 bit/s.
        Assert.Equal(AcceptCode.PermanentResourceLimitation, await RequestOwampAsync(v6, SecurityMode.Authenticated, "bob", PerfsonarDirectory.BobPassphrase, 1));

        await server.WaitForLogAsync("class 'jail' limit bandwidth", TimeSpan.FromSeconds(10));
        Assert.Contains("class 'opennet' limit bandwidth: the test needs 1.68 Mbit/s", server.Log, StringComparison.Ordinal);
        Assert.Contains("class 'authuser' limit bandwidth: the test needs 12.16 Mbit/s", server.Log, StringComparison.Ordinal);
        Assert.Contains("class 'jail' limit allow_open_mode=off: open mode not offered", server.Log, StringComparison.Ordinal);
        Assert.StartsWith("No common mode: the server offers", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("open", refused.Message.Split(", this client")[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Owamp_ClassBandwidth_IsSharedByConcurrentTests_Accept5UntilOneEnds()
    {
        using var directory = new PerfsonarDirectory();
        using ServerProcess server = await directory.StartServerAsync();
        IPEndPoint v4 = directory.Owamp(IPAddress.Loopback);
        var slot = new ScheduleSlot[] { new(ScheduleSlotType.Fixed, NtpTimestamp.FromSeconds(0.0005)) }; // 672 kbit/s each

        await using OwampControlClient first = await OwampControlClient.ConnectAsync(v4, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout();
        var request = new SessionRequest { ConfReceiver = 1, SenderPort = 9, SenderAddress = IPAddress.Loopback, ReceiverAddress = IPAddress.Loopback, PacketCount = 10, Timeout = NtpTimestamp.FromSeconds(1) };
        AcceptCode a = (await first.RequestSessionAsync(request, slot, CancellationToken.None).DefaultTimeout()).Accept;
        AcceptCode b;
        await using (OwampControlClient second = await OwampControlClient.ConnectAsync(v4, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout())
        {
            b = (await second.RequestSessionAsync(request, slot, CancellationToken.None).DefaultTimeout()).Accept;
        }
        await first.DisposeAsync();
        await server.WaitForLogAsync("connection lost", TimeSpan.FromSeconds(10)).ContinueWith(_ => { });
        AcceptCode c = AcceptCode.Failure;
        for (int attempt = 0; attempt < 50 && c != AcceptCode.Ok; attempt++)
        {
            // The server frees the first test's bandwidth when it sees the close; poll a bounded number of times.
            await using OwampControlClient third = await OwampControlClient.ConnectAsync(v4, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout();
            c = (await third.RequestSessionAsync(request, slot, CancellationToken.None).DefaultTimeout()).Accept;
            if (c != AcceptCode.Ok)
            {
                await Task.Delay(100);
            }
        }

        Assert.Equal(AcceptCode.Ok, a);
        Assert.Equal(AcceptCode.TemporaryResourceLimitation, b);
        Assert.Equal(AcceptCode.Ok, c);
    }

    [Fact]
    public async Task Twamp_PerfsonarDirectory_GivesTheLimitsFileDecisions()
    {
        using var directory = new PerfsonarDirectory();
        using ServerProcess server = await directory.StartServerAsync();
        IPEndPoint v4 = directory.Twamp(IPAddress.Loopback), v6 = directory.Twamp(IPAddress.IPv6Loopback);

        Assert.Equal(AcceptCode.Ok, await RequestTwampAsync(v4, SecurityMode.Open, null, null));
        Assert.Equal(AcceptCode.Ok, await RequestTwampAsync(v6, SecurityMode.Authenticated, "alice", PerfsonarDirectory.AlicePassphrase));
        await Assert.ThrowsAsync<ControlProtocolException>(() => RequestTwampAsync(v6, SecurityMode.Open, null, null));
        Assert.Equal(AcceptCode.PermanentResourceLimitation, await RequestTwampAsync(v6, SecurityMode.Authenticated, "bob", PerfsonarDirectory.BobPassphrase));

        await server.WaitForLogAsync("class 'jail' limit bandwidth: one reflected packet per second needs", TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Sighup_ChangesAClass_RunningSessionContinues_BrokenFileKeepsTheOldPolicy()
    {
        using var directory = new PerfsonarDirectory();
        using ServerProcess server = await directory.StartServerAsync();
        IPEndPoint v4 = directory.Twamp(IPAddress.Loopback);

        // A TWAMP measurement of 4 s in open mode from opennet is running when the class loses open mode.
        Task<TwampSessionResult> running = TwampMeasurement.RunAsync(
            new TwpingOptions { Server = v4, Count = 200, Schedule = new SendSchedule(0.02, Exponential: false) }, CancellationToken.None);
        await server.WaitForLogAsync("session(s) started", TimeSpan.FromSeconds(20));
        directory.WriteLimits(PerfsonarDirectory.Limits.Replace("bandwidth=1m, \\\n    allow_open_mode=on", "bandwidth=1m, \\\n    allow_open_mode=off", StringComparison.Ordinal));
        Assert.Contains("allow_open_mode=off", File.ReadAllText(directory.Combine("twamp-server.limits")).Split("limit opennet")[1], StringComparison.Ordinal);
        PerfsonarDirectory.Hangup(server);
        await server.WaitForLogAsync("reloaded:", TimeSpan.FromSeconds(20));
        Assert.False(running.IsCompleted);

        // New connections from the same network now get the new class; the running one finishes under the old policy.
        await Assert.ThrowsAsync<ControlProtocolException>(() => RequestTwampAsync(v4, SecurityMode.Open, null, null));
        TwampSessionResult result = await running.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(200, result.Sent);
        Assert.Equal(200, result.Replies.Count);

        // A limits file that does not parse: the reload fails with file:line, and the previous policy stays.
        directory.WriteLimits("limit root with bandwidth=lots\n");
        PerfsonarDirectory.Hangup(server);
        await server.WaitForLogAsync("reload failed", TimeSpan.FromSeconds(20));
        Assert.Contains("owamp-server.limits:1: bandwidth: expected an integer", server.Log, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ControlProtocolException>(() => RequestTwampAsync(v4, SecurityMode.Open, null, null));
        Assert.Equal(AcceptCode.Ok, await RequestTwampAsync(v4, SecurityMode.Authenticated, "alice", PerfsonarDirectory.AlicePassphrase));
        Assert.False(server.HasExited);
    }

    [Fact]
    public async Task BrokenLimitsFile_StopsStartUp_WithFileAndLine()
    {
        using var directory = new PerfsonarDirectory();
        directory.WriteLimits("limit root with allow_open_mode=on\nlimit child with bandwidth=1m\n");

        (int exit, _, string stderr) = await IppmProcess.RunAsync(TimeSpan.FromSeconds(30), "server", "--perfsonar-config", directory.Path);

        Assert.NotEqual(0, exit);
        Assert.Contains("limits:2: expected 'parent=CLASS'", stderr, StringComparison.Ordinal);
    }
}
