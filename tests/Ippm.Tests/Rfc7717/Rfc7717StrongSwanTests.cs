using System.Globalization;
using System.Net;
using Ippm.Ikev2.Exchanges;
using Ippm.Ikev2.SaDatabase;
using Ippm.Security;
using Ippm.Sessions.Control;
using Ippm.Sessions.Owamp;
using Ippm.Sessions.Server;
using Ippm.Sessions.Twamp;
using Ippm.Tests.Loopback;
using Ippm.Wire;
using Ippm.Wire.Control;
using Sw = Ippm.Tests.Ikev2.StrongSwanInteropTests;

namespace Ippm.Tests.Rfc7717;

/// <summary>
/// RFC 7717 with a foreign IKE implementation: strongSwan sets up (and later rekeys and deletes) the IKE SA with
/// ippm's in-process IKE responder, and the O/TWAMP client is keyed only from the numbers strongSwan computed
/// (SPIi, SPIr, prf(SK_d, "IPPM") from its log). Loopback ports 158xx; strongSwan is installed by the scripts if
/// missing, and the test FAILS (never skips) if it cannot run.
/// </summary>
[Collection("strongswan")]
public sealed class Rfc7717StrongSwanTests
{
    private const string Psk = "ippm rfc7717 strongswan psk";
    // charon's port goes into the configuration written before it starts, so it is fixed (below the ephemeral range,
    // where no client socket lands); ippm's responder binds port 0 and tells charon the port it got.
    private const int CharonPort = 15810; // and 15811 for NAT-T
    private const string Conn = "to-peer-psk";

    /// <summary>strongSwan's view of one IKE SA: "spi_i spi_r prf sk_d ippm".</summary>
    private sealed record SwSa(ulong SpiI, ulong SpiR, string Prf, string IppmHex)
    {
        public static SwSa Parse(string line)
        {
            string[] f = line.Trim().Split(' ');
            Assert.True(f.Length == 5 && f[4] != "?", $"expected 'spi_i spi_r prf sk_d ippm' from strongSwan, got '{line.Trim()}'");
            return new SwSa(ulong.Parse(f[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture), ulong.Parse(f[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture), f[2], f[4]);
        }

        /// <summary>The client's RFC 7717 secret, built from strongSwan's numbers only.</summary>
        public Rfc7717Secret Secret() => new(SpiI, SpiR, Convert.FromHexString(IppmHex), Rfc7717KeyDerivation.Pbkdf2);
    }

    private static TwpingOptions Twping(IPEndPoint server, Rfc7717Secret ike, int count) => new()
    {
        Server = server,
        AcceptableModes = (uint)SecurityMode.Encrypted,
        Ike = ike,
        Count = count,
        Schedule = new SendSchedule(0.01, Exponential: false),
        Timeout = TimeSpan.FromSeconds(1),
    };

    private static OwpingOptions Owping(IPEndPoint server, Rfc7717Secret ike, int count) => new()
    {
        Server = server,
        AcceptableModes = (uint)SecurityMode.Authenticated,
        Ike = ike,
        Count = count,
        Schedule = [new ScheduleSlot(ScheduleSlotType.Fixed, NtpTimestamp.FromSeconds(0.01))],
        Timeout = TimeSpan.FromSeconds(1),
        StartDelay = TimeSpan.FromSeconds(0.6),
    };

    private static async Task WaitFor(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, what + " not seen within 20 s");
            await Task.Delay(25);
        }
    }

    private static async Task AssertRefusedWithAccept6(Task measurement, TestServer server, ulong spiI, string problem)
    {
        var refused = await Assert.ThrowsAsync<ControlProtocolException>(() => measurement.WaitAsync(TaskTimeouts.Default));
        Assert.Equal(AcceptCode.NoMatchingIkeSa, refused.Accept);
        string spi = spiI.ToString("x16", CultureInfo.InvariantCulture);
        Assert.Contains(server.LoggerFactory.Entries, e => e.EventId == 104 && e.Message.Contains(spi, StringComparison.Ordinal) && e.Message.Contains(problem, StringComparison.Ordinal));
    }

    /// <summary>
    /// strongSwan initiates a PSK IKE SA to ippm; TWAMP (E) keyed from strongSwan's SA runs while strongSwan rekeys
    /// the SA and loses nothing; the old SPIs are then refused (Accept=6), the new ones (with strongSwan's new key)
    /// measure. OWAMP (A) keyed from the new SA runs while strongSwan deletes it, loses nothing, and afterwards the
    /// deleted SA's SPIs are refused (Accept=6). RFC 7717 §5.1: a derived key stays in use until its session ends.
    /// </summary>
    [Fact]
    public async Task StrongSwanSa_KeysTwampAndOwamp_RekeyAndDeleteDuringSessions_Uninterrupted()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"ippm-ike-sw-rfc7717-i-{Environment.ProcessId}");
        using var db = new IkeSaDatabase();
        await using var responder = new IkeResponder(new IkeResponderOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Credentials = new IkeCredentials { PreSharedKey = System.Text.Encoding.UTF8.GetBytes(Psk) },
        }, db);
        responder.Start();
        await using var server = new TestServer(o => o.IkeSecrets = IkeSecretSource.FromDatabase(db, Rfc7717KeyDerivation.Pbkdf2));
        try
        {
            using var sw = new Sw.Charon("rfc7717-i", ["--port", CharonPort.ToString(CultureInfo.InvariantCulture), "--psk", Psk, "--id", "initiator.test",
                "--peer-addr", "127.0.0.1", "--peer-port", responder.LocalEndPoint.Port.ToString(CultureInfo.InvariantCulture), "--peer-proposals", "aes256gcm16-prfsha384-x25519"]);
            Assert.Equal(dir, sw.Dir);
            string swctl = Path.Combine(sw.Dir, "sw");

            // 1. strongSwan → ippm: the SA, as strongSwan computed it.
            SwSa first = SwSa.Parse(Sw.Run(Path.Combine(Sw.Scripts, "initiate.sh"), "--dir", sw.Dir, "--conn", Conn, "--ippm"));
            Assert.Equal("PRF_HMAC_SHA2_384", first.Prf);
            await WaitFor(() => db.TryGet(first.SpiI, first.SpiR, out _), $"strongSwan's SA {first.SpiI:x16} in ippm's database");
            Assert.True(db.TryGet(first.SpiI, first.SpiR, out IkeSaEntry? old));
            Assert.Equal(IkeSaState.Established, old!.State);
            using Rfc7717Secret firstSecret = first.Secret();

            // 2. TWAMP (encrypted) keyed from it, ~2 s; strongSwan rekeys the IKE SA half a second in.
            Task<TwampSessionResult> twamp = TwampMeasurement.RunAsync(Twping(server.TwampEndPoint, firstSecret, 200), CancellationToken.None);
            await Task.Delay(500);
            Assert.False(twamp.IsCompleted, "the TWAMP session ended before the rekey: " + (twamp.Exception?.GetBaseException().Message ?? "completed"));
            await Task.Run(() => Sw.Run(swctl, "--rekey", "--ike", Conn));
            await WaitFor(() => db.Count == 2 && old.State == IkeSaState.Rekeyed, "the rekeyed SA in ippm's database");
            Assert.False(twamp.IsCompleted, "the rekey finished only after the TWAMP session: it did not happen during it");
            TwampSessionResult result = await twamp.WaitAsync(TaskTimeouts.Default);

            Assert.Equal(SecurityMode.Encrypted, result.Mode);
            Assert.Equal(KeySource.Ikev2, result.KeySource);
            Assert.Equal((first.SpiI, first.SpiR), result.IkeSpis);
            Assert.Equal(200, result.Sent);
            Assert.Equal(200, result.Replies.Select(r => r.SenderSequence).Distinct().Count());
            Assert.Equal(0, result.BadHmac);

            // The new SA: new SPIs, established; the old one rekeyed and pointing at it.
            IkeSaEntry fresh = db.Entries.Single(e => e != old);
            Assert.Equal(IkeSaState.Established, fresh.State);
            Assert.NotEqual(old.SpiI, fresh.SpiI);
            Assert.NotEqual(old.SpiR, fresh.SpiR);
            Assert.Equal((fresh.SpiI, fresh.SpiR), old.ReplacedBy);
            Assert.Equal(IkeSaState.Rekeyed, old.State);

            // strongSwan's numbers for the new SA, from its log, by the SPIi strongSwan logged for it.
            await WaitFor(() => File.ReadAllText(sw.Log).Contains("rekeyed between", StringComparison.Ordinal), "strongSwan's rekey in its log");
            string[] all = Sw.Run(Path.Combine(Sw.Scripts, "extract-keys.sh"), "--ippm", sw.Log).Trim().Split('\n');
            Assert.True(all.Length == 2, "strongSwan should have logged exactly two IKE SAs:\n" + string.Join('\n', all));
            ulong newSpiI = SwSa.Parse(all.Single(l => !l.StartsWith(first.SpiI.ToString("x16", CultureInfo.InvariantCulture), StringComparison.Ordinal))).SpiI;
            SwSa second = SwSa.Parse(Sw.Run(Path.Combine(Sw.Scripts, "extract-keys.sh"), "--ippm", sw.Log, newSpiI.ToString("x16", CultureInfo.InvariantCulture)));
            Assert.Equal((fresh.SpiI, fresh.SpiR), (second.SpiI, second.SpiR));
            Assert.NotEqual(first.IppmHex, second.IppmHex);
            using Rfc7717Secret secondSecret = second.Secret();

            // 3. A new connection with the old SPIs is refused; one with the new SPIs and key measures.
            using (Rfc7717Secret stale = first.Secret())
            {
                await AssertRefusedWithAccept6(TwampMeasurement.RunAsync(Twping(server.TwampEndPoint, stale, 5), CancellationToken.None), server, first.SpiI, "rekeyed");
            }
            TwampSessionResult after = await TwampMeasurement.RunAsync(Twping(server.TwampEndPoint, secondSecret, 50) with { Schedule = new SendSchedule(0.005, false) }, CancellationToken.None).WaitAsync(TaskTimeouts.Default);
            Assert.Equal((second.SpiI, second.SpiR), after.IkeSpis);
            Assert.Equal(50, after.Replies.Select(r => r.SenderSequence).Distinct().Count());

            // 4. OWAMP (authenticated) keyed from the new SA, ~2 s; strongSwan deletes the SA half a second in.
            Task<OwampResult> owamp = OwampMeasurement.RunAsync(Owping(server.OwampEndPoint, secondSecret, 200), CancellationToken.None);
            await Task.Delay(700);
            Assert.False(owamp.IsCompleted, "the OWAMP session ended before the delete: " + (owamp.Exception?.GetBaseException().Message ?? "completed"));
            await Task.Run(() => Sw.Run(swctl, "--terminate", "--ike", Conn, "--timeout", "10"));
            await WaitFor(() => fresh.State == IkeSaState.Deleted, "the Delete in ippm's database");
            Assert.False(owamp.IsCompleted, "the delete finished only after the OWAMP session: it did not happen during it");
            OwampResult oneWay = await owamp.WaitAsync(TaskTimeouts.Default);

            Assert.Equal(SecurityMode.Authenticated, oneWay.Mode);
            Assert.Equal(KeySource.Ikev2, oneWay.KeySource);
            Assert.Equal((second.SpiI, second.SpiR), oneWay.IkeSpis);
            Assert.Equal(200, oneWay.Outbound!.Records.Count(r => !r.IsLost));
            Assert.Equal(200, oneWay.Inbound!.Records.Count(r => !r.IsLost));
            Assert.Equal(0, oneWay.Outbound.BadHmac + oneWay.Inbound.BadHmac);

            // 5. The deleted SA's SPIs are refused for new connections, OWAMP and TWAMP alike.
            await AssertRefusedWithAccept6(OwampMeasurement.RunAsync(Owping(server.OwampEndPoint, secondSecret, 5), CancellationToken.None), server, second.SpiI, "deleted");
            await AssertRefusedWithAccept6(TwampMeasurement.RunAsync(Twping(server.TwampEndPoint, secondSecret, 5), CancellationToken.None), server, second.SpiI, "deleted");
            Assert.DoesNotContain("retransmit", File.ReadAllText(sw.Log), StringComparison.Ordinal);
        }
        finally
        {
            // Idempotent; covers a charon left behind by a run-responder.sh that failed half-way.
            Sw.Run(Path.Combine(Sw.Scripts, "stop-responder.sh"), "--dir", dir, "--purge");
        }
    }
}
