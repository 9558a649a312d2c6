using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using Ippm.Ikev2.Crypto;
using Ippm.Ikev2.Exchanges;
using Ippm.Ikev2.Messages;
using Ippm.Ikev2.SaDatabase;
using Ippm.Tests.Cli;
using Xunit.Abstractions;

namespace Ippm.Tests.Fairness;

/// <summary>
/// IKE under attack on loopback (127.0.0.x addresses stand for hosts): SPIi = 0 (RFC 7296 §3.1), one cookie replayed
/// from many source ports, and a bounded IKE_SA_INIT flood with MODP-2048 from several sources that answer cookies,
/// while a legitimate initiator on 127.0.0.1 sets up SAs — in process and with the <c>ippm ike initiate</c> executable.
/// </summary>
public sealed class IkeFloodTests(ITestOutputHelper output)
{
    private static readonly byte[] s_psk = "flood psk"u8.ToArray();
    private const string Modp = "aes256-sha256-modp2048";
    private static readonly RetransmitPolicy s_fast = new(TimeSpan.FromMilliseconds(500), 5);

    private static IkeResponder StartResponder(IkeSaDatabase db, int cookieThreshold = 64)
    {
        var responder = new IkeResponder(new IkeResponderOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Credentials = new IkeCredentials { PreSharedKey = s_psk },
            Proposals = IkeProposalSpec.ParseList(Modp),
            CookieThreshold = cookieThreshold,
        }, db);
        responder.Start();
        return responder;
    }

    /// <summary>An IKE_SA_INIT offering MODP-2048 with a KE value in range (nobody needs to know its exponent).</summary>
    private static byte[] SaInit(ulong spiI, byte[] nonce, byte[]? cookie = null)
    {
        byte[] y = RandomNumberGenerator.GetBytes(256);
        y[0] = 0x7F;
        var payloads = new List<OutgoingPayload>();
        if (cookie is not null)
        {
            payloads.Add(new NotifyPayload(NotifyType.Cookie, cookie).ToOutgoing());
        }
        payloads.Add(new(PayloadType.SecurityAssociation, new SaPayload([IkeProposalSpec.ParseList(Modp)[0].ToProposal(1)]).Encode()));
        payloads.Add(new(PayloadType.KeyExchange, new KePayload(DhGroup.Modp2048, y).Encode()));
        payloads.Add(new(PayloadType.Nonce, nonce));
        return IkeMessage.Build(new IkeHeader(spiI, 0, PayloadType.None, ExchangeType.IkeSaInit, IkeFlags.Initiator, 0, 0), payloads);
    }

    private static Socket Bind(IPAddress address)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(address, 0));
        return s;
    }

    private static async Task<IkeMessage?> ExchangeAsync(Socket socket, byte[] request, EndPoint responder, TimeSpan wait)
    {
        await socket.SendToAsync(Transport.Frame(request, responder), responder);
        byte[] buffer = new byte[Transport.MaxDatagram];
        using var timeout = new CancellationTokenSource(wait);
        try
        {
            int n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            return IkeMessage.TryParse(Transport.Unframe(buffer.AsSpan(0, n)), out IkeMessage? m) == System.Buffers.OperationStatus.Done ? m : null;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    private static byte[]? CookieOf(IkeMessage? answer) =>
        answer?.Payloads.Notifies().FirstOrDefault(n => n.Type == NotifyType.Cookie)?.Data;

    private IkeInitiatorOptions Legit() => new() { Credentials = new IkeCredentials { PreSharedKey = s_psk }, Proposals = IkeProposalSpec.ParseList(Modp), Retransmit = s_fast };

    [Fact]
    public async Task SaInitWithSpiIZero_DroppedWithoutDiffieHellman_LegitStillServed()
    {
        using var db = new IkeSaDatabase();
        await using IkeResponder responder = StartResponder(db);
        using Socket attacker = Bind(IPAddress.Parse("127.0.0.2"));
        IkeMessage? answer = await ExchangeAsync(attacker, SaInit(0, RandomNumberGenerator.GetBytes(32)), responder.LocalEndPoint, TimeSpan.FromSeconds(1));
        Assert.Null(answer);
        Assert.Equal(0, responder.DiffieHellmanCount);
        Assert.Equal(0, responder.HalfOpenCount);
        Assert.True(responder.DroppedCount >= 1);

        await using IkeInitiatorSession legit = await IkeInitiator.ConnectAsync(responder.LocalEndPoint, Legit());
        Assert.Equal(1, db.Count);
        Assert.Equal(1, responder.DiffieHellmanCount);
    }

    [Fact]
    public async Task CookieReplayedFromManyPorts_CostsOneDiffieHellman_LegitStillServed()
    {
        using var db = new IkeSaDatabase();
        await using IkeResponder responder = StartResponder(db, cookieThreshold: 0); // cookies always, as under attack
        var attackerAddress = IPAddress.Parse("127.0.0.2");
        ulong spiI = 0x5151_0000_0000_0001;
        byte[] nonce = RandomNumberGenerator.GetBytes(32);
        using Socket first = Bind(attackerAddress);
        byte[]? cookie = CookieOf(await ExchangeAsync(first, SaInit(spiI, nonce), responder.LocalEndPoint, TimeSpan.FromSeconds(5)));
        Assert.NotNull(cookie);
        byte[] withCookie = SaInit(spiI, nonce, cookie);
        IkeMessage? accepted = await ExchangeAsync(first, withCookie, responder.LocalEndPoint, TimeSpan.FromSeconds(5));
        Assert.NotNull(accepted);
        Assert.NotEqual(0UL, accepted!.Header.SpiR);
        Assert.Equal(1, responder.DiffieHellmanCount);

        // The same request (same cookie, SPIi, Ni) from 200 other source ports of the same host: the cookie is bound to
        // the port, so each gets a fresh COOKIE (an HMAC) and no Diffie-Hellman.
        int cookieReplies = 0;
        for (int i = 0; i < 200; i++)
        {
            using Socket other = Bind(attackerAddress);
            IkeMessage? answer = await ExchangeAsync(other, withCookie, responder.LocalEndPoint, TimeSpan.FromSeconds(2));
            if (CookieOf(answer) is not null)
            {
                cookieReplies++;
            }
        }
        Assert.Equal(200, cookieReplies);
        // A second, different request carrying the already used cookie from the original port is a replay: dropped.
        Assert.Null(await ExchangeAsync(first, SaInit(spiI, nonce, cookie), responder.LocalEndPoint, TimeSpan.FromMilliseconds(500)));
        Assert.Equal(1, responder.DiffieHellmanCount);
        Assert.Equal(1, responder.HalfOpenCount);

        await using IkeInitiatorSession legit = await IkeInitiator.ConnectAsync(responder.LocalEndPoint, Legit());
        Assert.Equal(1, db.Count);
    }

    [Fact]
    public async Task CookieRepliesToAFlood_LoggedAsAnAggregate_NotOneLineEach()
    {
        using var db = new IkeSaDatabase();
        var logs = new Ippm.Tests.Loopback.RecordingLoggerFactory();
        await using var responder = new IkeResponder(new IkeResponderOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Credentials = new IkeCredentials { PreSharedKey = s_psk },
            Proposals = IkeProposalSpec.ParseList(Modp),
            CookieThreshold = 0,
        }, db, logs.CreateLogger("Ippm.Ike"));
        responder.Start();
        using Socket attacker = Bind(IPAddress.Parse("127.0.0.2"));
        int cookies = 0;
        for (int i = 0; i < 300; i++)
        {
            if (CookieOf(await ExchangeAsync(attacker, SaInit(0x4000_0000_0000_0000UL + (ulong)i, RandomNumberGenerator.GetBytes(32)), responder.LocalEndPoint, TimeSpan.FromSeconds(2))) is not null)
            {
                cookies++;
            }
        }
        Assert.Equal(300, cookies);
        Assert.Equal(300, responder.CookieReplies);
        Assert.Equal(0, responder.DiffieHellmanCount);
        // Before: one Information line per cookie reply (19 829 lines for 20 000 packets). Now the first one, and an
        // aggregate line only when a 10 s window closes.
        Assert.InRange(logs.Entries.Count(e => e.Message.Contains("COOKIE", StringComparison.Ordinal) || e.Message.Contains("cookie replies", StringComparison.Ordinal)), 1, 2);
        await using IkeInitiatorSession legit = await IkeInitiator.ConnectAsync(responder.LocalEndPoint, Legit());
        Assert.Equal(1, db.Count);
    }

    /// <summary>
    /// Attackers on 127.0.0.2–5, 16 concurrent loops each: every loop sends IKE_SA_INITs with fresh SPIs and nonces and
    /// answers each COOKIE (the hardest flood for cookies to stop), plus blasts of unanswered requests; bounded by
    /// <paramref name="stop"/> and a packet cap. Returns the datagrams sent.
    /// </summary>
    private static async Task<long> FloodAsync(IPEndPoint responder, CancellationToken stop, int maxPackets)
    {
        long sent = 0;
        ulong nextSpi = 0x6000_0000_0000_0000;
        var loops = new List<Task>();
        var sockets = new List<Socket>();
        for (int a = 2; a <= 5; a++)
        {
            for (int l = 0; l < 16; l++)
            {
                Socket s = Bind(IPAddress.Parse($"127.0.0.{a}"));
                sockets.Add(s);
                loops.Add(Task.Run(async () =>
                {
                    byte[] buffer = new byte[Transport.MaxDatagram];
                    while (!stop.IsCancellationRequested && Interlocked.Read(ref sent) < maxPackets)
                    {
                        ulong spi = Interlocked.Increment(ref nextSpi);
                        byte[] nonce = RandomNumberGenerator.GetBytes(32);
                        byte[] request = SaInit(spi, nonce);
                        // A burst of three copies per try: the blast part that the per-source queue must absorb.
                        for (int k = 0; k < 3; k++)
                        {
                            await s.SendToAsync(Transport.Frame(request, responder), responder);
                        }
                        Interlocked.Add(ref sent, 3);
                        using var wait = CancellationTokenSource.CreateLinkedTokenSource(stop);
                        wait.CancelAfter(TimeSpan.FromMilliseconds(10));
                        try
                        {
                            int n = await s.ReceiveAsync(buffer, SocketFlags.None, wait.Token);
                            if (IkeMessage.TryParse(Transport.Unframe(buffer.AsSpan(0, n)), out IkeMessage? m) == System.Buffers.OperationStatus.Done
                                && CookieOf(m) is byte[] cookie && m!.Header.SpiI == spi)
                            {
                                await s.SendToAsync(Transport.Frame(SaInit(spi, nonce, cookie), responder), responder);
                                Interlocked.Increment(ref sent);
                            }
                        }
                        catch (OperationCanceledException)
                        {
                        }
                    }
                }));
            }
        }
        try
        {
            await Task.WhenAll(loops);
        }
        finally
        {
            foreach (Socket s in sockets)
            {
                s.Dispose();
            }
        }
        return sent;
    }

    private static double Percentile(List<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];

    [Fact]
    public async Task Modp2048SaInitFloodFromFourSources_LegitInitiatorSetsUpPromptly()
    {
        using var db = new IkeSaDatabase();
        await using IkeResponder responder = StartResponder(db);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        Task<long> flood = FloodAsync(responder.LocalEndPoint, stop.Token, maxPackets: 200_000);
        try
        {
            // Let the flood fill every half-open share first.
            var warmup = Stopwatch.StartNew();
            while (responder.HalfOpenCount < 64 && warmup.Elapsed < TimeSpan.FromSeconds(20))
            {
                await Task.Delay(50);
            }
            Assert.True(responder.HalfOpenCount >= 64, $"the flood reached only {responder.HalfOpenCount} half-open SAs");

            var setups = new List<double>();
            for (int i = 0; i < 10; i++)
            {
                var clock = Stopwatch.StartNew();
                await using IkeInitiatorSession legit = await IkeInitiator.ConnectAsync(responder.LocalEndPoint, Legit());
                setups.Add(clock.Elapsed.TotalMilliseconds);
                await legit.DeleteAsync();
            }

            // The executable, as a user runs it, also under the flood.
            string psk = Path.GetTempFileName();
            await File.WriteAllBytesAsync(psk, s_psk);
            (int exit, string stdout, string stderr) = await IppmProcess.RunAsync(TimeSpan.FromSeconds(120),
                "ike", "initiate", $"127.0.0.1:{responder.LocalEndPoint.Port}", "--psk-file", psk, "--proposal", Modp, "--count", "5", "--json");
            File.Delete(psk);
            Assert.True(exit == 0, stderr);
            using JsonDocument summary = JsonDocument.Parse(stdout.Trim().Split('\n')[^1]);
            double cliMedian = summary.RootElement.GetProperty("setup_ms_median").GetDouble();
            double cliP90 = summary.RootElement.GetProperty("setup_ms_p90").GetDouble();

            setups.Sort();
            long dh = responder.DiffieHellmanCount;
            await stop.CancelAsync();
            long sent = await flood;
            output.WriteLine($"flood: {sent} datagrams from 4 sources; responder: {dh} Diffie-Hellman, {responder.CookieReplies} cookie replies, {responder.QueueDrops} queue drops, {responder.DroppedCount} dropped");
            output.WriteLine($"legit in-process set-up (ms): median {Percentile(setups, 0.5):0.0}, p90 {Percentile(setups, 0.9):0.0}, max {setups[^1]:0.0}");
            output.WriteLine($"legit `ippm ike initiate --count 5` under the flood (ms): median {cliMedian:0.0}, p90 {cliP90:0.0}");

            Assert.True(sent > 1000, $"the flood sent only {sent} datagrams");
            // Each source holds at most its 16 half-open SAs (they expire after 30 s): the flood bought at most 64
            // Diffie-Hellman computations (plus the legit 15), not one per datagram.
            Assert.True(dh <= 4 * 16 + 15 + 4, $"{dh} Diffie-Hellman computations");
            Assert.True(Percentile(setups, 0.5) < 2000, $"legit median set-up {Percentile(setups, 0.5)} ms");
        }
        finally
        {
            await stop.CancelAsync();
            await flood.ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }
}
