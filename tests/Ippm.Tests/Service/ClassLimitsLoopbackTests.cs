using System.Net;
using Ippm.Policy;
using Ippm.Sessions.Owamp;
using Ippm.Sessions.Twamp;
using Ippm.Tests.Loopback;
using Ippm.Wire;
using Ippm.Wire.Control;

namespace Ippm.Tests.Service;

/// <summary>test_sessions, disk and delete_on_fetch of a limits class, over real sockets against the in-process server.</summary>
public sealed class ClassLimitsLoopbackTests : IDisposable
{
    private static readonly ScheduleSlot[] s_slot = [new(ScheduleSlotType.Fixed, NtpTimestamp.FromSeconds(0.01))];
    private readonly string _dir = Directory.CreateTempSubdirectory("ippm-class-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static SessionRequest Receive(uint packets) => new()
    {
        ConfReceiver = 1, SenderPort = 9, SenderAddress = IPAddress.Loopback, ReceiverAddress = IPAddress.Loopback, PacketCount = packets, Timeout = NtpTimestamp.FromSeconds(1),
    };

    [Fact]
    public async Task TestSessions_LimitsSessionsPerConnection_BothProtocols()
    {
        await using var server = new TestServer(o => o.Policy = LimitsFile.Parse("limit root with test_sessions=2", "t.limits"));

        await using OwampControlClient owamp = await OwampControlClient.ConnectAsync(server.OwampEndPoint, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout();
        var owampAnswers = new List<AcceptCode>();
        for (int i = 0; i < 3; i++)
        {
            owampAnswers.Add((await owamp.RequestSessionAsync(Receive(5), s_slot, CancellationToken.None).DefaultTimeout()).Accept);
        }
        await using TwampControlClient twamp = await TwampControlClient.ConnectAsync(server.TwampEndPoint, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout();
        var twampAnswers = new List<AcceptCode>();
        for (int i = 0; i < 3; i++)
        {
            twampAnswers.Add((await twamp.RequestSessionAsync(new IPEndPoint(IPAddress.Loopback, 9 + i), 0, 27, TimeSpan.FromSeconds(1), 0, CancellationToken.None).DefaultTimeout()).Accept);
        }

        Assert.Equal([AcceptCode.Ok, AcceptCode.Ok, AcceptCode.PermanentResourceLimitation], owampAnswers);
        Assert.Equal([AcceptCode.Ok, AcceptCode.Ok, AcceptCode.PermanentResourceLimitation], twampAnswers);
        Assert.Equal(2, server.LoggerFactory.Entries.Count(e => e.EventId == 230 && e.Message.Contains("class 'root' limit test_sessions", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Disk_RefusesAReceiveSessionWhoseFileWouldBeTooLarge_NotASendSession()
    {
        // Stored size: 44 header + 112 request + 16 per slot + 25 per record + 32 digest: 10 packets 454 octets, 100 packets 2704.
        await using var server = new TestServer(o => o.Policy = LimitsFile.Parse("limit root with disk=1k", "t.limits"));
        await using OwampControlClient client = await OwampControlClient.ConnectAsync(server.OwampEndPoint, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout();

        AcceptCode small = (await client.RequestSessionAsync(Receive(10), s_slot, CancellationToken.None).DefaultTimeout()).Accept;
        AcceptCode large = (await client.RequestSessionAsync(Receive(100), s_slot, CancellationToken.None).DefaultTimeout()).Accept;
        AcceptCode send = (await client.RequestSessionAsync(Receive(100) with { ConfReceiver = 0, ConfSender = 1, ReceiverPort = 9 }, s_slot, CancellationToken.None).DefaultTimeout()).Accept;

        Assert.Equal(AcceptCode.Ok, small);
        Assert.Equal(AcceptCode.PermanentResourceLimitation, large);
        Assert.Equal(AcceptCode.Ok, send);
        Assert.Contains(server.LoggerFactory.Entries, e => e.EventId == 230 && e.Message.Contains("limit disk: the session would store about 2704 octets, limit 1000", StringComparison.Ordinal));
    }

    [Fact]
    public async Task DeleteOnFetch_StoredSessionIsGoneAfterTheFetch()
    {
        await using var server = new TestServer(o =>
        {
            o.DataDirectory = _dir;
            o.Policy = LimitsFile.Parse("limit root with delete_on_fetch=on", "t.limits");
        });

        // owping stores the session at Stop-Sessions, then fetches it on the same connection.
        OwampResult result = await OwampMeasurement.RunAsync(new OwpingOptions
        {
            Server = server.OwampEndPoint, Count = 10, Inbound = false, Schedule = s_slot, Timeout = TimeSpan.FromSeconds(1), StartDelay = TimeSpan.FromSeconds(0.6),
        }, CancellationToken.None).DefaultTimeout();
        SessionId sid = result.Outbound!.Sid;
        Assert.Equal(10, result.Outbound.Records.Count(r => !r.IsLost));
        // The server deletes, then logs, right after the records went out, so the client may see them first: wait for
        // the line (bounded) before looking at the disk and fetching again.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!server.LoggerFactory.Entries.Any(e => e.EventId == 233) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
        Assert.Contains(server.LoggerFactory.Entries, e => e.EventId == 233 && e.Message.Contains("(disk and memory)", StringComparison.Ordinal));
        Assert.False(File.Exists(Path.Combine(_dir, sid + ".owp")));
        await using OwampControlClient later = await OwampControlClient.ConnectAsync(server.OwampEndPoint, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout();
        FetchedSession? again = await later.FetchAsync(sid, 0, FetchSession.ToEnd, 1000, CancellationToken.None).DefaultTimeout();
        Assert.Null(again);
        Assert.Contains(server.LoggerFactory.Entries, e => e.EventId == 233 && e.Message.Contains("delete_on_fetch=on", StringComparison.Ordinal));
    }
}
