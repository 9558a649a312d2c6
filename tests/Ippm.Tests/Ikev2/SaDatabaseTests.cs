using System.Net;
using Ippm.Ikev2.Crypto;
using Ippm.Ikev2.Messages;
using Ippm.Ikev2.SaDatabase;

namespace Ippm.Tests.Ikev2;

/// <summary>IkeSaDatabase retirement: rekeyed and deleted SAs are dropped (SK_d zeroed) after a grace period, established ones never.</summary>
public sealed class SaDatabaseTests
{
    private static readonly IkeSuite s_suite = new(EncryptionId.AesCbc, 128, PrfId.HmacSha1, IntegrityId.HmacSha1_96, DhGroup.Modp2048);
    private static readonly TimeSpan s_grace = TimeSpan.FromSeconds(60);

    private sealed class ManualTime : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => Now;

        public void Advance(TimeSpan by) => Now += by;
    }

    private static IkeSaEntry Entry(ulong spiI, ulong spiR) =>
        new(spiI, spiR, s_suite, Enumerable.Range(1, 20).Select(i => (byte)i).ToArray(), "peer", new IPEndPoint(IPAddress.Loopback, 500), IkeSaRole.Responder);

    [Fact]
    public void EstablishedEntries_AreNeverRemoved()
    {
        var time = new ManualTime();
        using var db = new IkeSaDatabase(time);
        IkeSaEntry a = Entry(1, 2), b = Entry(3, 4);
        db.Add(a);
        db.Add(b);

        Assert.Equal(0, db.RemoveRetired(s_grace));
        time.Advance(TimeSpan.FromDays(365));
        Assert.Equal(0, db.RemoveRetired(s_grace));
        Assert.Equal(0, db.RemoveRetired(TimeSpan.Zero));

        Assert.Equal(2, db.Count);
        Assert.All(new[] { a, b }, e =>
        {
            Assert.Equal(IkeSaState.Established, e.State);
            Assert.Null(e.StateChangedAt);
            Assert.Contains(e.SkD.ToArray(), x => x != 0);
        });
    }

    [Fact]
    public void DeletedEntry_RemovedOnlyAfterGrace_AndSkDZeroed()
    {
        var time = new ManualTime();
        using var db = new IkeSaDatabase(time);
        IkeSaEntry deleted = Entry(1, 2), established = Entry(3, 4);
        db.Add(deleted);
        db.Add(established);

        time.Advance(TimeSpan.FromMinutes(5)); // time spent established does not count
        db.MarkDeleted(1, 2);
        Assert.Equal(IkeSaState.Deleted, deleted.State);
        Assert.Equal(time.Now, deleted.StateChangedAt);

        Assert.Equal(0, db.RemoveRetired(s_grace));
        time.Advance(s_grace);
        Assert.Equal(0, db.RemoveRetired(s_grace)); // exactly the grace period: still kept
        Assert.True(db.TryGet(1, 2, out _));
        Assert.Contains(deleted.SkD.ToArray(), x => x != 0);

        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, db.RemoveRetired(s_grace));

        Assert.False(db.TryGet(1, 2, out _));
        Assert.Null(db.DeriveIppmSecret(1, 2));
        Assert.Equal(20, deleted.SkD.Length);
        Assert.All(deleted.SkD.ToArray(), x => Assert.Equal(0, x));
        Assert.True(db.TryGet(3, 4, out IkeSaEntry? kept));
        Assert.Same(established, kept);
        Assert.Contains(established.SkD.ToArray(), x => x != 0);
        Assert.Equal(0, db.RemoveRetired(s_grace));
    }

    [Fact]
    public void RekeyedEntry_RemovedOnlyAfterGrace_AndSkDZeroed_NewSaKept()
    {
        var time = new ManualTime();
        using var db = new IkeSaDatabase(time);
        IkeSaEntry old = Entry(1, 2), replacement = Entry(5, 6);
        db.Add(old);
        time.Advance(TimeSpan.FromSeconds(30));
        db.Add(replacement);
        db.MarkRekeyed(1, 2, 5, 6);
        Assert.Equal(IkeSaState.Rekeyed, old.State);
        Assert.Equal(time.Now, old.StateChangedAt);

        time.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal(0, db.RemoveRetired(s_grace));
        Assert.True(db.TryGet(1, 2, out _));

        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(1, db.RemoveRetired(s_grace));

        Assert.False(db.TryGet(1, 2, out _));
        Assert.All(old.SkD.ToArray(), x => Assert.Equal(0, x));
        Assert.True(db.TryGet(5, 6, out IkeSaEntry? current));
        Assert.Equal(IkeSaState.Established, current!.State);
        Assert.Contains(replacement.SkD.ToArray(), x => x != 0);
    }

    [Fact]
    public void RetiredAtDifferentTimes_EachRemovedWhenItsOwnGraceEnds()
    {
        var time = new ManualTime();
        using var db = new IkeSaDatabase(time);
        IkeSaEntry first = Entry(1, 2), second = Entry(3, 4);
        db.Add(first);
        db.Add(second);

        db.MarkDeleted(1, 2);
        time.Advance(TimeSpan.FromSeconds(40));
        db.MarkRekeyed(3, 4, 7, 8);
        time.Advance(TimeSpan.FromSeconds(30)); // first retired 70 s ago, second 30 s ago

        Assert.Equal(1, db.RemoveRetired(s_grace));
        Assert.False(db.TryGet(1, 2, out _));
        Assert.True(db.TryGet(3, 4, out _));
        Assert.All(first.SkD.ToArray(), x => Assert.Equal(0, x));
        Assert.Contains(second.SkD.ToArray(), x => x != 0);

        time.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal(1, db.RemoveRetired(s_grace));
        Assert.Equal(0, db.Count);
        Assert.All(second.SkD.ToArray(), x => Assert.Equal(0, x));
    }

    [Fact]
    public async Task StartSweeping_RemovesRetiredEntriesInTheBackground_UntilDisposed()
    {
        var time = new ManualTime();
        using var db = new IkeSaDatabase(time);
        IkeSaEntry deleted = Entry(1, 2), established = Entry(3, 4);
        db.Add(deleted);
        db.Add(established);
        db.MarkDeleted(1, 2);

        using (db.StartSweeping(s_grace, TimeSpan.FromMilliseconds(10)))
        {
            await Task.Delay(100);
            Assert.True(db.TryGet(1, 2, out _)); // the sweep runs, but the grace period has not passed

            time.Advance(s_grace + TimeSpan.FromSeconds(1));
            var waited = System.Diagnostics.Stopwatch.StartNew();
            while (db.TryGet(1, 2, out _) && waited.Elapsed < TimeSpan.FromSeconds(10))
            {
                await Task.Delay(10);
            }
        }

        Assert.False(db.TryGet(1, 2, out _));
        Assert.All(deleted.SkD.ToArray(), x => Assert.Equal(0, x));
        Assert.True(db.TryGet(3, 4, out _));
        Assert.Contains(established.SkD.ToArray(), x => x != 0);
    }
}
