using System.Net;
using Ippm.Security;
using Ippm.Sessions.Owamp;
using Ippm.Sessions.Time;
using Ippm.Sessions.Transport;
using Ippm.Tests.Loopback;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ippm.Tests.Owamp;

/// <summary>The on-disk Session-Receiver store (<c>--data-dir</c>): file format, loopback fetches, size limit, damage.</summary>
public sealed class OwampStoreTests : IDisposable
{
    private static readonly ScheduleSlot[] Fast = [new(ScheduleSlotType.Exponential, NtpTimestamp.FromSeconds(0.005))];

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "ippm-store-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private static OwpingOptions Options(IPEndPoint server, SecurityMode mode, int count = 40) => new()
    {
        Server = server,
        AcceptableModes = (uint)mode,
        Identity = TestServer.Identity,
        Secret = TestServer.Passphrase,
        Count = count,
        Schedule = Fast,
        Timeout = TimeSpan.FromSeconds(1),
        StartDelay = TimeSpan.FromSeconds(0.6),
        Inbound = false,
    };

    private static OwampStoredSession Sample(SessionId sid, string? identity, int records)
    {
        var request = new SessionRequest
        {
            Command = CommandNumber.RequestSession, ConfReceiver = 1, ScheduleSlotCount = 2, PacketCount = (uint)records,
            SenderPort = 4000, ReceiverPort = 5000, SenderAddress = IPAddress.Parse("192.0.2.1"), ReceiverAddress = IPAddress.Parse("192.0.2.2"),
            Sid = sid, PaddingLength = 7, StartTime = new NtpTimestamp(0xEEB5_4D90_0000_0000), Timeout = NtpTimestamp.FromSeconds(2),
        };
        byte[] requestBytes = new byte[SessionRequest.Length];
        request.Write(requestBytes);
        byte[] slots = new byte[2 * ScheduleSlot.Length];
        new ScheduleSlot(ScheduleSlotType.Exponential, NtpTimestamp.FromSeconds(0.1)).Write(slots);
        new ScheduleSlot(ScheduleSlotType.Fixed, NtpTimestamp.FromSeconds(0.2)).Write(slots.AsSpan(ScheduleSlot.Length));
        OwampDataRecord[] data = Enumerable.Range(0, records)
            .Select(i => new OwampDataRecord((uint)i, new ErrorEstimate(0x8101), new ErrorEstimate(0x0001), new NtpTimestamp(0xEEB5_4D90_0000_0000 + (ulong)i), i % 5 == 3 ? default : new NtpTimestamp(0xEEB5_4D91_0000_0000 + (ulong)i), (byte)(250 + (i % 6))))
            .ToArray();
        return new OwampStoredSession(sid, 1, (uint)records, [new SkipRange(2, 3), new SkipRange(9, 9)], requestBytes, slots, identity, data);
    }

    private static byte[] Encode(OwampStoredSession session)
    {
        using var stream = new MemoryStream();
        OwampSessionFile.Write(session, stream);
        return stream.ToArray();
    }

    [Theory]
    [InlineData("alice", 100)]
    [InlineData(null, 0)]
    [InlineData(null, 1025)]
    public void FileFormat_RoundTrip(string? identity, int records)
    {
        OwampStoredSession session = Sample(new SessionId(0x7f000001_eeb54d90, 0x9c9613d3_36cd38ef), identity, records);

        byte[] file = Encode(session);
        OwampStoredSession? read = OwampSessionFile.TryRead(file, out string reason);

        Assert.Equal(OwampSessionFile.EncodedLength(session), file.Length);
        Assert.NotNull(read);
        Assert.Equal("", reason);
        Assert.Equal(session.Sid, read.Sid);
        Assert.Equal(session.Finished, read.Finished);
        Assert.Equal(session.NextSeqno, read.NextSeqno);
        Assert.Equal(session.SkipRanges, read.SkipRanges);
        Assert.Equal(session.Request, read.Request);
        Assert.Equal(session.SlotBlocks, read.SlotBlocks);
        Assert.Equal(identity, read.Identity);
        Assert.Equal(session.Records, read.Records);
        Assert.Equal(file, Encode(read));
        Assert.Equal(records == 0 ? [] : [3u, 4u, 5u], read.RecordsBetween(3, 5).Select(r => r.SequenceNumber));
    }

    [Fact]
    public void FileFormat_TruncatedOrDamaged_RejectedWithAReason()
    {
        byte[] file = Encode(Sample(new SessionId(1, 2), "alice", 30));

        for (int length = 0; length < file.Length; length += 7)
        {
            Assert.Null(OwampSessionFile.TryRead(file.AsSpan(0, length), out string reason));
            Assert.NotEmpty(reason);
        }
        for (int i = 0; i < file.Length; i += 13)
        {
            byte[] damaged = (byte[])file.Clone();
            damaged[i] ^= 0x40;
            Assert.Null(OwampSessionFile.TryRead(damaged, out _));
        }
        Assert.Null(OwampSessionFile.TryRead([.. file, 0], out _));
    }

    [Fact]
    public async Task Loopback_SessionStoredOnDisk_FetchedFromDiskAndFromALaterConnectionOfTheSameIdentity()
    {
        await using var server = new TestServer(o => o.DataDirectory = _dir);

        OwampResult result = await OwampMeasurement.RunAsync(Options(server.OwampEndPoint, SecurityMode.Encrypted), CancellationToken.None).DefaultTimeout();

        // Stored at Stop-Sessions, then the owping fetch on the same connection came from the file.
        SessionId sid = result.Outbound!.Sid;
        string path = Path.Combine(_dir, sid + ".owp");
        Assert.True(File.Exists(path));
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }
        Assert.True(server.LoggerFactory.Contains(410));
        Assert.Equal(Enumerable.Range(0, 40).Select(i => (uint)i), result.Outbound.Records.Where(r => !r.IsLost).Select(r => r.SequenceNumber).Order());
        Assert.Equal(40u, result.Outbound.NextSeqno);

        // A later connection of the same identity, in another mode, fetches it too, with Begin/End honoured.
        await using (OwampControlClient again = await OwampControlClient.ConnectAsync(
            server.OwampEndPoint, (uint)SecurityMode.Authenticated, TestServer.Identity, TestServer.Passphrase, 32768, CancellationToken.None).DefaultTimeout())
        {
            FetchedSession? all = await again.FetchAsync(sid, 0, FetchSession.ToEnd, 1000, CancellationToken.None).DefaultTimeout();
            FetchedSession? some = await again.FetchAsync(sid, 10, 19, 1000, CancellationToken.None).DefaultTimeout();

            Assert.NotNull(all);
            Assert.Equal(result.Outbound.Records, all.Records);
            Assert.Equal(1, all.Ack.Finished);
            Assert.Equal(40u, all.Ack.NextSeqno);
            Assert.Equal(40u, all.Request.PacketCount);
            Assert.Equal(Fast, all.Slots);
            Assert.Equal(Enumerable.Range(10, 10).Select(i => (uint)i), some!.Records.Select(r => r.SequenceNumber).Order());
        }

        // Anyone else (open mode, no identity) is refused: the session belongs to alice.
        await using (OwampControlClient stranger = await OwampControlClient.ConnectAsync(
            server.OwampEndPoint, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout())
        {
            Assert.Null(await stranger.FetchAsync(sid, 0, FetchSession.ToEnd, 1000, CancellationToken.None).DefaultTimeout());
        }
        Assert.Contains(server.LoggerFactory.Entries, e => e.EventId == 210 && e.Message.Contains("another identity", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Loopback_OpenModeSession_FetchableFromAnotherConnection()
    {
        await using var server = new TestServer(o => o.DataDirectory = _dir);

        OwampResult result = await OwampMeasurement.RunAsync(Options(server.OwampEndPoint, SecurityMode.Open, 10), CancellationToken.None).DefaultTimeout();
        await using OwampControlClient other = await OwampControlClient.ConnectAsync(
            server.OwampEndPoint, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout();
        FetchedSession? fetched = await other.FetchAsync(result.Outbound!.Sid, 0, FetchSession.ToEnd, 1000, CancellationToken.None).DefaultTimeout();

        Assert.Equal(10, fetched!.Records.Count(r => !r.IsLost));
    }

    [Fact]
    public async Task Loopback_CorruptedOrTruncatedFile_FetchRefusedAndLogged()
    {
        await using var server = new TestServer(o => o.DataDirectory = _dir);
        OwampResult result = await OwampMeasurement.RunAsync(Options(server.OwampEndPoint, SecurityMode.Open, 10), CancellationToken.None).DefaultTimeout();
        SessionId sid = result.Outbound!.Sid;
        string path = Path.Combine(_dir, sid + ".owp");
        byte[] file = await File.ReadAllBytesAsync(path);
        await File.WriteAllBytesAsync(path, file[..(file.Length - 30)]);
        var garbage = new SessionId(0x7f000001_00000001, 0x1234);
        await File.WriteAllBytesAsync(Path.Combine(_dir, garbage + ".owp"), "not a session"u8.ToArray());

        await using OwampControlClient client = await OwampControlClient.ConnectAsync(
            server.OwampEndPoint, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout();
        FetchedSession? truncated = await client.FetchAsync(sid, 0, FetchSession.ToEnd, 1000, CancellationToken.None).DefaultTimeout();
        FetchedSession? junk = await client.FetchAsync(garbage, 0, FetchSession.ToEnd, 1000, CancellationToken.None).DefaultTimeout();

        Assert.Null(truncated);
        Assert.Null(junk);
        Assert.Equal(2, server.LoggerFactory.Entries.Count(e => e.EventId == 414));
        Assert.Equal(2, server.LoggerFactory.Entries.Count(e => e.EventId == 210 && e.Message.Contains("Accept=2", StringComparison.Ordinal)));
        // The connection and the server go on.
        OwampResult next = await OwampMeasurement.RunAsync(Options(server.OwampEndPoint, SecurityMode.Open, 5), CancellationToken.None).DefaultTimeout();
        Assert.Equal(5, next.Outbound!.Records.Count(r => !r.IsLost));
    }

    [Fact]
    public async Task Loopback_UnwritableDirectory_SessionKeptInMemory()
    {
        // A regular file where the directory should be: every write fails, the fetch is served from memory.
        await File.WriteAllBytesAsync(_dir, [1]);
        try
        {
            await using var server = new TestServer(o => o.DataDirectory = _dir);
            OwampResult result = await OwampMeasurement.RunAsync(Options(server.OwampEndPoint, SecurityMode.Open, 10), CancellationToken.None).DefaultTimeout();

            Assert.Equal(10, result.Outbound!.Records.Count(r => !r.IsLost));
            Assert.True(server.LoggerFactory.Contains(412));
        }
        finally
        {
            File.Delete(_dir);
        }
    }

    [Fact]
    public void SizeLimit_OldestFilesEvicted_OversizedSessionRefused()
    {
        var logs = new RecordingLoggerFactory();
        long size = OwampSessionFile.EncodedLength(Sample(new SessionId(1, 0), null, 100));
        var store = new OwampSessionStore(_dir, (size * 5 / 2) + 1, logs.CreateLogger("test"));
        DateTime start = DateTime.UtcNow.AddHours(-1);

        for (int i = 0; i < 4; i++)
        {
            Assert.True(store.TrySave(Sample(new SessionId(1, (ulong)i), null, 100)));
            File.SetLastWriteTimeUtc(store.PathOf(new SessionId(1, (ulong)i)), start.AddMinutes(i));
        }

        // Room for two: each new file evicted the oldest one.
        Assert.Equal(
            [OwampSessionFile.FileName(new SessionId(1, 2)), OwampSessionFile.FileName(new SessionId(1, 3))],
            Directory.GetFiles(_dir, "*.owp").Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(2, logs.Entries.Count(e => e.EventId == 413));
        Assert.Equal(OwampStoreLookup.NotFound, store.TryLoad(new SessionId(1, 0), null, out _, out _));
        Assert.Equal(OwampStoreLookup.Found, store.TryLoad(new SessionId(1, 3), "anyone", out OwampStoredSession? kept, out _));
        Assert.Equal(100, kept!.Records.Count);

        // A session larger than the whole limit stays in memory; nothing is evicted for it.
        Assert.False(store.TrySave(Sample(new SessionId(2, 0), null, 1000)));
        Assert.True(logs.Contains(411));
        Assert.Equal(2, Directory.GetFiles(_dir, "*.owp").Length);
    }

    [Fact]
    public void Store_IdentityRule()
    {
        var store = new OwampSessionStore(_dir, 1 << 20, NullLogger.Instance);
        Assert.True(store.TrySave(Sample(new SessionId(3, 1), "alice", 5)));

        Assert.Equal(OwampStoreLookup.Found, store.TryLoad(new SessionId(3, 1), "alice", out _, out _));
        Assert.Equal(OwampStoreLookup.Forbidden, store.TryLoad(new SessionId(3, 1), "bob", out _, out _));
        Assert.Equal(OwampStoreLookup.Forbidden, store.TryLoad(new SessionId(3, 1), null, out OwampStoredSession? none, out _));
        Assert.Null(none);
    }

    [Fact]
    public async Task Receiver_DuplicateFlood_CappedAtTwicePacketCountPlus1024()
    {
        using var receiveSocket = new UdpTestSocket(new IPEndPoint(IPAddress.Loopback, 0), TimeSpan.FromMilliseconds(20));
        using var sendSocket = new UdpTestSocket(new IPEndPoint(IPAddress.Loopback, 0), TimeSpan.FromMilliseconds(20));
        receiveSocket.Connect(sendSocket.LocalEndPoint);
        sendSocket.Connect(receiveSocket.LocalEndPoint);
        var sid = new SessionId(0x7f000001_00000000, 43);
        var request = new SessionRequest
        {
            Command = CommandNumber.RequestSession, ConfReceiver = 1, PacketCount = 2,
            StartTime = SystemClock.Instance.Now(), Timeout = NtpTimestamp.FromSeconds(0.2),
        };
        var spec = new OwampSessionSpec(request, [new ScheduleSlot(ScheduleSlotType.Fixed, NtpTimestamp.FromSeconds(0.001))], sid);
        using var receiver = new OwampReceiver(receiveSocket, spec, null, NullLogger.Instance);
        receiver.Start();

        byte[] packet = new byte[TestPacketLayout.SenderOpenHeader];
        new SenderPacket(0, SystemClock.Instance.Now(), SystemClock.UnknownError).Write(packet, false);
        for (int i = 0; i < 2000; i++)
        {
            sendSocket.Send(packet);
            if (i % 100 == 99)
            {
                await Task.Delay(5);
            }
        }
        // Until the cap is reached and something beyond it was counted (the kernel may drop some of the 2000).
        NtpTimestamp due = new(spec.ScheduledSendTime(1).Value + request.Timeout.Value); // RFC 4656 §3.8 cut-off
        await TaskTimeouts.UntilAsync(() => receiver.Dropped > 0 && receiver.Records().Length == (2 * 2) + 1024 && SystemClock.Instance.Now() > due);
        receiver.Complete(new SessionDescription(sid, 2, []), SystemClock.Instance.Now());

        OwampDataRecord[] records = receiver.Records();
        Assert.Equal(2 * 2 + 1024, records.Count(r => !r.IsLost));
        Assert.True(receiver.Dropped > 0);
        Assert.Equal([1u], records.Where(r => r.IsLost).Select(r => r.SequenceNumber));
    }
}
