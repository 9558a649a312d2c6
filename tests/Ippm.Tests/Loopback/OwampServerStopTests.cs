using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Ippm.Security;
using Ippm.Sessions.Control;
using Ippm.Sessions.Owamp;
using Ippm.Sessions.Time;
using Ippm.Wire;
using Ippm.Wire.Control;

namespace Ippm.Tests.Loopback;

/// <summary>
/// An OWAMP server that shuts down during a test ends the sessions with its own Stop-Sessions (RFC 4656 §3.8), over
/// real loopback sockets: what it describes is what went on the wire, and owping reports exactly that.
/// </summary>
public sealed class OwampServerStopTests
{
    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!condition())
        {
            await Task.Delay(20, deadline.Token).ContinueWith(t => t.IsCanceled ? throw new TimeoutException(what) : t, TaskScheduler.Default).Unwrap();
        }
    }

    [Fact]
    public async Task ServerStops_ItsStopSessionsDescribesExactlyThePacketsOnTheWire_SkipsIncluded()
    {
        await using var server = new TestServer();
        // The oracle: a plain UDP socket that records the sequence number of every datagram the server sends.
        using var wire = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var seen = new List<uint>();
        using var reading = new CancellationTokenSource();
        Task reader = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    UdpReceiveResult datagram = await wire.ReceiveAsync(reading.Token);
                    lock (seen)
                    {
                        seen.Add(BinaryPrimitives.ReadUInt32BigEndian(datagram.Buffer));
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
        });

        await using OwampControlClient client = await OwampControlClient.ConnectAsync(
            server.OwampEndPoint, (uint)SecurityMode.Open, null, null, ControlHandshake.DefaultMaxCount, CancellationToken.None);
        ScheduleSlot[] every10ms = [new(ScheduleSlotType.Fixed, NtpTimestamp.FromSeconds(0.01))];
        // Start Time 3 s ago with a Timeout of 1 s: the packets of the first ~2 s are already later than Timeout, so the
        // sender skips them (RFC 4656 §4.1.1) and its Stop-Sessions must carry that skip range.
        long now = SystemClock.Instance.Now().ToUnixNanoseconds();
        SessionId sid = SessionIdGenerator.Create(IPAddress.Loopback);
        var request = new SessionRequest
        {
            Command = CommandNumber.RequestSession,
            ConfSender = 1,
            PacketCount = 100_000,
            ReceiverPort = (ushort)((IPEndPoint)wire.Client.LocalEndPoint!).Port,
            SenderAddress = IPAddress.Loopback,
            ReceiverAddress = IPAddress.Loopback,
            Sid = sid,
            StartTime = NtpTimestamp.FromUnixNanoseconds(now - 3_000_000_000L),
            Timeout = NtpTimestamp.FromSeconds(1),
        };
        AcceptSession accept = await client.RequestSessionAsync(request, every10ms, CancellationToken.None).DefaultTimeout();
        Assert.Equal(AcceptCode.Ok, accept.Accept);
        await client.StartSessionsAsync(CancellationToken.None).DefaultTimeout();
        Task serverMessage = client.WaitForServerMessageAsync();
        await WaitUntilAsync(() => { lock (seen) { return seen.Count >= 30; } }, "30 test packets");
        long after30 = SystemClock.Instance.Now().ToUnixNanoseconds();
        Assert.False(serverMessage.IsCompleted);

        Task stopping = server.Server.StopAsync();
        OwampStopSessions stop = await client.ReadServerStopSessionsAsync(CancellationToken.None).DefaultTimeout();
        Assert.Equal(AcceptCode.Ok, stop.Accept);
        SessionDescription description = Assert.Single(stop.Sessions);
        Assert.Equal(accept.Sid, description.Sid);
        // Every datagram left before the Stop-Sessions; wait until the reader has taken as many as it describes
        // (an event, however slow the reader thread is), then check exactly which ones they were.
        long described = description.NextSeqno - description.SkipRanges.Sum(r => (long)r.Last - r.First + 1);
        await WaitUntilAsync(() => { lock (seen) { return seen.Count >= described; } }, $"the {described} packets the Stop-Sessions describes");
        await reading.CancelAsync();
        await reader;
        uint[] sent;
        lock (seen)
        {
            sent = [.. seen];
        }
        Assert.Equal(sent.Length, sent.Distinct().Count());
        uint firstSent = sent.Min();
        uint lastSent = sent.Max();
        // Packets scheduled more than Timeout (1 s) before the sender started are skipped: at least 0..199, since the
        // start was 3 s before the request. The first one sent left before the test had seen 30 packets, so it was
        // scheduled at most 1 s before that moment (an upper bound read off the test's own clock, not a guess).
        long latestFirst = ((after30 - (now - 3_000_000_000L) - 1_000_000_000L) / 10_000_000L) + 1;
        Assert.InRange(firstSent, 200u, (uint)latestFirst);
        Assert.Equal(new SkipRange(0, firstSent - 1), description.SkipRanges[0]);
        Assert.Equal(lastSent + 1, description.NextSeqno);
        // Loopback loses nothing: every sequence number up to Next Seqno outside the skip ranges went on the wire once
        // (a sender the machine starves for over a Timeout skips more, and says so in further ranges).
        Assert.Equal(NotSkipped(description.NextSeqno, description.SkipRanges), sent.Order());

        // RFC 4656 §3.8: the receiving side answers with its own Stop-Sessions (it sent nothing); the server then closes.
        await client.SendStopSessionsAsync(AcceptCode.Ok, [], CancellationToken.None).DefaultTimeout();
        await stopping.DefaultTimeout();
        Assert.True(server.LoggerFactory.Contains(213), string.Join('\n', server.LoggerFactory.Entries.Select(e => e.Message)));
        Assert.Contains(server.LoggerFactory.Entries, e => e.EventId == 207 && e.Message.Contains("1 session(s) stopped (Accept=0)", StringComparison.Ordinal));
    }

    private static IEnumerable<uint> NotSkipped(uint nextSeqno, IEnumerable<SkipRange> skips) =>
        Enumerable.Range(0, (int)nextSeqno).Select(i => (uint)i).Where(seq => !skips.Any(r => r.First <= seq && seq <= r.Last));

    [Theory]
    [InlineData(SecurityMode.Open)]
    [InlineData(SecurityMode.Encrypted)]
    public async Task ServerStops_Owping_ReportsWhatWasMeasured_NoFakeLoss(SecurityMode mode)
    {
        await using var server = new TestServer();
        var options = new OwpingOptions
        {
            Server = server.OwampEndPoint,
            AcceptableModes = (uint)mode,
            Identity = TestServer.Identity,
            Secret = TestServer.Passphrase,
            Count = 100_000,
            Schedule = [new ScheduleSlot(ScheduleSlotType.Exponential, NtpTimestamp.FromSeconds(0.005))],
            Timeout = TimeSpan.FromSeconds(1),
            StartDelay = TimeSpan.FromSeconds(0.3),
        };
        Task<OwampResult> measuring = OwampMeasurement.RunAsync(options, CancellationToken.None);
        await WaitUntilAsync(() => server.LoggerFactory.Contains(206), "the sessions' start");
        await Task.Delay(800);
        Task stopping = server.Server.StopAsync();

        OwampResult result = await measuring.DefaultTimeout();
        await stopping.DefaultTimeout();
        OwampReport report = OwampReport.Create("test", result);

        Assert.True(result.Interrupted);
        Assert.True(result.EndedByServer);
        foreach (OwampDirectionReport direction in new[] { report.Outbound!, report.Inbound! })
        {
            Assert.InRange(direction.Sent, 20, 99_999);
            // Loopback: every packet counted as sent arrived; none of the schedule the stop cut off counts as lost.
            Assert.True(direction.Lost == 0, $"{(direction == report.Outbound ? "outbound" : "inbound")}: lost {string.Join(',', direction.Data.Records.Where(r => r.IsLost).Select(r => r.SequenceNumber))} of next {direction.Data.NextSeqno}; received max {direction.Data.Records.Where(r => !r.IsLost).Max(r => r.SequenceNumber)}; skips {string.Join(',', direction.Data.SkipRanges.Select(r => $"{r.First}-{r.Last}"))}; sent {direction.Sent} received {direction.Received} records {direction.Data.Records.Count}");
            Assert.Equal(direction.Sent, direction.Received);
            // Received: exactly what was sent, i.e. everything up to Next Seqno but what the sender skipped (packets it
            // could not send within the Timeout of their time are skipped, RFC 4656 §4.1.1, not lost).
            Assert.Equal(NotSkipped(direction.Data.NextSeqno, direction.Data.SkipRanges), direction.Data.Records.Where(r => !r.IsLost).Select(r => r.SequenceNumber).Order());
        }
        Assert.Contains("interrupted: the server ended the test", report.ToHumanReadable(), StringComparison.Ordinal);
        using (var json = System.Text.Json.JsonDocument.Parse(report.ToJson()))
        {
            Assert.Equal("server", json.RootElement.GetProperty("interrupted_by").GetString());
        }
        Assert.True(server.LoggerFactory.Contains(213));
        // The client answered (its outbound description), then fetched that session before the server closed.
        Assert.Contains(server.LoggerFactory.Entries, e => e.EventId == 207 && e.Message.Contains("2 session(s) stopped (Accept=0)", StringComparison.Ordinal));
        Assert.Contains(server.LoggerFactory.Entries, e => e.EventId == 211 && e.Message.Contains(report.Outbound!.Data.Sid.ToString(), StringComparison.Ordinal));
    }

    [Fact]
    public async Task ServerStops_ClientClosesWithoutAnswering_ReceivedSessionIsStoredAndFetchableLater()
    {
        string dataDir = Directory.CreateTempSubdirectory("ippm-owstop-").FullName;
        try
        {
            SessionId sid;
            await using (var server = new TestServer(o => o.DataDirectory = dataDir))
            {
                OwampControlClient client = await OwampControlClient.ConnectAsync(
                    server.OwampEndPoint, (uint)SecurityMode.Open, null, null, ControlHandshake.DefaultMaxCount, CancellationToken.None);
                using var socket = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
                var request = new SessionRequest
                {
                    Command = CommandNumber.RequestSession,
                    ConfReceiver = 1,
                    PacketCount = 1000,
                    SenderPort = (ushort)((IPEndPoint)socket.Client.LocalEndPoint!).Port,
                    SenderAddress = IPAddress.Loopback,
                    ReceiverAddress = IPAddress.Loopback,
                    StartTime = NtpTimestamp.FromUnixNanoseconds(SystemClock.Instance.Now().ToUnixNanoseconds() + 200_000_000L),
                    Timeout = NtpTimestamp.FromSeconds(1),
                };
                AcceptSession accept = await client.RequestSessionAsync(request, [new(ScheduleSlotType.Fixed, NtpTimestamp.FromSeconds(1))], CancellationToken.None).DefaultTimeout();
                Assert.Equal(AcceptCode.Ok, accept.Accept);
                sid = accept.Sid;
                await client.StartSessionsAsync(CancellationToken.None).DefaultTimeout();
                Task serverMessage = client.WaitForServerMessageAsync();

                Task stopping = server.Server.StopAsync();
                await serverMessage.DefaultTimeout();
                await client.DisposeAsync();
                await stopping.DefaultTimeout();
            }

            // A new server on the same data directory serves the session the stopped one kept.
            await using var later = new TestServer(o => o.DataDirectory = dataDir);
            await using OwampControlClient fetcher = await OwampControlClient.ConnectAsync(
                later.OwampEndPoint, (uint)SecurityMode.Open, null, null, ControlHandshake.DefaultMaxCount, CancellationToken.None);
            FetchedSession? fetched = await fetcher.FetchAsync(sid, 0, FetchSession.ToEnd, 10_000, CancellationToken.None).DefaultTimeout();
            Assert.NotNull(fetched);
            Assert.Equal((byte)2, fetched.Ack.Finished);
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Fact]
    public async Task TestLongerThanTheReplyTimeout_RunsToTheEnd_WatchingTheServerHasNoDeadline()
    {
        await using var server = new TestServer();
        // 300 packets every 10 ms: 3 s of test, three times the reply deadline of 1 s.
        var options = new OwpingOptions
        {
            Server = server.OwampEndPoint,
            Count = 300,
            Schedule = [new ScheduleSlot(ScheduleSlotType.Fixed, NtpTimestamp.FromSeconds(0.01))],
            Timeout = TimeSpan.FromSeconds(0.5),
            StartDelay = TimeSpan.FromSeconds(0.2),
            ReplyTimeout = TimeSpan.FromSeconds(1),
        };
        OwampResult result = await OwampMeasurement.RunAsync(options, CancellationToken.None).DefaultTimeout();

        Assert.False(result.Interrupted);
        Assert.Equal(300u, result.Outbound!.NextSeqno);
        Assert.Equal(300u, result.Inbound!.NextSeqno);
    }

    [Fact]
    public async Task Twping_TestLongerThanTheReplyTimeout_SendsEveryPacket()
    {
        await using var server = new TestServer();
        var options = new Ippm.Sessions.Twamp.TwpingOptions
        {
            Server = server.TwampEndPoint,
            Count = 300,
            Schedule = new Ippm.Sessions.Twamp.SendSchedule(0.01, Exponential: false),
            Timeout = TimeSpan.FromSeconds(0.5),
            ReplyTimeout = TimeSpan.FromSeconds(1),
        };
        Ippm.Sessions.Twamp.TwampSessionResult result = await Ippm.Sessions.Twamp.TwampMeasurement.RunAsync(options, CancellationToken.None).DefaultTimeout();

        Assert.False(result.Interrupted);
        Assert.Equal(300, result.Sent);
    }
}
