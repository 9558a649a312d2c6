using System.Net;
using System.Net.Sockets;
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

namespace Ippm.Tests.Rfc7717;

/// <summary>
/// O/TWAMP keyed from an IKEv2 SA (RFC 7717) end to end over real sockets: an ippm IKE responder inside the
/// O/TWAMP server, an ippm IKE initiator on the client, no passphrase anywhere.
/// </summary>
public sealed class Rfc7717LoopbackTests
{
    private static readonly byte[] s_psk = "rfc7717 loopback psk"u8.ToArray();

    private sealed class IkeServer : IAsyncDisposable
    {
        public IkeSaDatabase Database { get; } = new();
        public IkeResponder Responder { get; }
        public TestServer Server { get; }

        public IkeServer(IkeCredentials credentials, Rfc7717KeyDerivation derivation = Rfc7717KeyDerivation.Pbkdf2)
        {
            Responder = new IkeResponder(new IkeResponderOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), Credentials = credentials }, Database);
            Responder.Start();
            Server = new TestServer(o => o.IkeSecrets = IkeSecretSource.FromDatabase(Database, derivation));
        }

        public async ValueTask DisposeAsync()
        {
            await Server.DisposeAsync();
            await Responder.DisposeAsync();
            Database.Dispose();
        }
    }

    private static Task<IkeInitiatorSession> EstablishAsync(IkeServer server, IkeCredentials credentials) =>
        IkeInitiator.ConnectAsync(server.Responder.LocalEndPoint, new IkeInitiatorOptions { Credentials = credentials }).DefaultTimeout();

    private static TwpingOptions Twping(IPEndPoint server, SecurityMode mode, Rfc7717Secret ike, int count = 30) => new()
    {
        Server = server,
        AcceptableModes = (uint)mode,
        Ike = ike,
        Count = count,
        Schedule = new SendSchedule(0.005, Exponential: false),
        Timeout = TimeSpan.FromSeconds(1),
    };

    [Theory]
    [InlineData(SecurityMode.Authenticated)]
    [InlineData(SecurityMode.Encrypted)]
    [InlineData(SecurityMode.Mixed)]
    public async Task Twamp_KeyedFromPskIkeSa_MeasuresWithZeroLoss(SecurityMode mode)
    {
        await using var server = new IkeServer(new IkeCredentials { PreSharedKey = s_psk });
        await using IkeInitiatorSession sa = await EstablishAsync(server, new IkeCredentials { PreSharedKey = s_psk });
        using Rfc7717Secret ike = IkeSecretSource.ForClient(sa.Entry, Rfc7717KeyDerivation.Pbkdf2);

        TwampSessionResult result = await TwampMeasurement.RunAsync(Twping(server.Server.TwampEndPoint, mode, ike), CancellationToken.None).DefaultTimeout();

        Assert.Equal(mode, result.Mode);
        Assert.Equal(KeySource.Ikev2, result.KeySource);
        Assert.Equal((sa.Entry.SpiI, sa.Entry.SpiR), result.IkeSpis);
        Assert.Equal(30, result.Replies.Select(r => r.SenderSequence).Distinct().Count());
        string json = TwampReport.Create("t", result).ToJson();
        Assert.Contains("\"key_source\": \"ikev2\"", json, StringComparison.Ordinal);
        Assert.Contains($"\"spi_i\": \"{sa.Entry.SpiI:x16}\"", json, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(SecurityMode.Authenticated)]
    [InlineData(SecurityMode.Encrypted)]
    public async Task Owamp_KeyedFromCertificateIkeSa_BothDirectionsZeroLoss(SecurityMode mode)
    {
        using var ca = Ikev2.LoopbackTests.MakeCa("CN=ippm rfc7717 CA", out var caKey);
        using var serverCert = Ikev2.LoopbackTests.Issue(ca, caKey, "CN=server.test", rsa: true);
        using var clientCert = Ikev2.LoopbackTests.Issue(ca, caKey, "CN=client.test", rsa: false);
        await using var server = new IkeServer(new IkeCredentials { Certificate = serverCert, TrustedCas = [ca] });
        await using IkeInitiatorSession sa = await EstablishAsync(server, new IkeCredentials { Certificate = clientCert, TrustedCas = [ca] });
        using Rfc7717Secret ike = IkeSecretSource.ForClient(sa.Entry, Rfc7717KeyDerivation.Pbkdf2);

        OwampResult result = await OwampMeasurement.RunAsync(new OwpingOptions
        {
            Server = server.Server.OwampEndPoint,
            AcceptableModes = (uint)mode,
            Ike = ike,
            Count = 30,
            Schedule = [new ScheduleSlot(ScheduleSlotType.Exponential, NtpTimestamp.FromSeconds(0.005))],
            Timeout = TimeSpan.FromSeconds(1),
            StartDelay = TimeSpan.FromSeconds(0.6),
        }, CancellationToken.None).DefaultTimeout();

        Assert.Equal(KeySource.Ikev2, result.KeySource);
        string Describe(OwampDirectionData d) => $"next {d.NextSeqno}, skips {string.Join(",", d.SkipRanges.Select(r => $"{r.First}-{r.Last}"))}, first send {d.Records.Select(r => r.SendTime).Min()}, last recv {d.Records.Select(r => r.ReceiveTime).Max()}, records {d.Records.Count}, lost {d.Records.Count(r => r.IsLost)}, malformed {d.Malformed}, bad HMAC {d.BadHmac}; server log: "
            + string.Join(" | ", server.Server.LoggerFactory.Entries.Where(e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Information).Select(e => e.Message));
        Assert.True(result.Outbound!.Records.Count(r => !r.IsLost) == 30, Describe(result.Outbound));
        Assert.True(result.Inbound!.Records.Count(r => !r.IsLost) == 30, Describe(result.Inbound!));
        Assert.Contains(server.Server.LoggerFactory.Entries, e => e.EventId == 200 && e.Message.Contains("CN=client.test", StringComparison.Ordinal));
    }

    [Fact]
    public async Task UnknownSpis_RefusedWithAccept6AndLogged()
    {
        await using var server = new IkeServer(new IkeCredentials { PreSharedKey = s_psk });
        using var forged = new Rfc7717Secret(0x0123456789abcdef, 0xfedcba9876543210, new byte[32], Rfc7717KeyDerivation.Pbkdf2);

        var refused = await Assert.ThrowsAsync<ControlProtocolException>(
            () => TwampMeasurement.RunAsync(Twping(server.Server.TwampEndPoint, SecurityMode.Encrypted, forged), CancellationToken.None).DefaultTimeout());

        Assert.Equal(AcceptCode.NoMatchingIkeSa, refused.Accept);
        Assert.Contains(server.Server.LoggerFactory.Entries, e => e.EventId == 104 && e.Message.Contains("0123456789abcdef", StringComparison.Ordinal));
        TwampSessionResult legacy = await TwampMeasurement.RunAsync(new TwpingOptions
        {
            Server = server.Server.TwampEndPoint, AcceptableModes = (uint)SecurityMode.Authenticated,
            Identity = TestServer.Identity, Secret = TestServer.Passphrase, Count = 5, Schedule = new SendSchedule(0.005, false),
        }, CancellationToken.None).DefaultTimeout();
        Assert.Equal(KeySource.Passphrase, legacy.KeySource);
        Assert.Equal(5, legacy.Replies.Count);
    }

    [Fact]
    public async Task DeletedSa_RefusedWithAccept6_RunningSessionUninterrupted()
    {
        await using var server = new IkeServer(new IkeCredentials { PreSharedKey = s_psk });
        IkeInitiatorSession sa = await EstablishAsync(server, new IkeCredentials { PreSharedKey = s_psk });
        using Rfc7717Secret ike = IkeSecretSource.ForClient(sa.Entry, Rfc7717KeyDerivation.Pbkdf2);

        // A 1.5 s session; the IKE SA is deleted half-way through. RFC 7717 §5.1: the derived key stays in use.
        Task<TwampSessionResult> running = TwampMeasurement.RunAsync(Twping(server.Server.TwampEndPoint, SecurityMode.Encrypted, ike, count: 150) with { Schedule = new SendSchedule(0.01, false) }, CancellationToken.None);
        // Delete only once the server has started the session (event 206, "session(s) started"): the control
        // handshake, and with it the key derivation, is then done however slowly the machine runs.
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!server.Server.LoggerFactory.Contains(206) && !running.IsCompleted && waited.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(20);
        }
        if (running.IsFaulted)
        {
            await running; // surfaces why the session never started
        }
        Assert.True(server.Server.LoggerFactory.Contains(206), "the server did not start the session within 10 s");
        await sa.DeleteAsync().DefaultTimeout();
        await sa.DisposeAsync();
        TwampSessionResult result = await running.DefaultTimeout();

        Assert.Equal(150, result.Replies.Select(r => r.SenderSequence).Distinct().Count());
        Assert.True(server.Database.TryGet(ike.SpiI, ike.SpiR, out IkeSaEntry? entry));
        Assert.Equal(IkeSaState.Deleted, entry!.State);
        var refused = await Assert.ThrowsAsync<ControlProtocolException>(
            () => TwampMeasurement.RunAsync(Twping(server.Server.TwampEndPoint, SecurityMode.Encrypted, ike), CancellationToken.None).DefaultTimeout());
        Assert.Equal(AcceptCode.NoMatchingIkeSa, refused.Accept);
    }

    [Fact]
    public async Task MismatchedDerivation_RefusedWithAccept1()
    {
        await using var server = new IkeServer(new IkeCredentials { PreSharedKey = s_psk }, Rfc7717KeyDerivation.Direct);
        await using IkeInitiatorSession sa = await EstablishAsync(server, new IkeCredentials { PreSharedKey = s_psk });
        using Rfc7717Secret pbkdf2 = IkeSecretSource.ForClient(sa.Entry, Rfc7717KeyDerivation.Pbkdf2);
        using Rfc7717Secret direct = IkeSecretSource.ForClient(sa.Entry, Rfc7717KeyDerivation.Direct);

        var refused = await Assert.ThrowsAsync<ControlProtocolException>(
            () => TwampMeasurement.RunAsync(Twping(server.Server.TwampEndPoint, SecurityMode.Authenticated, pbkdf2), CancellationToken.None).DefaultTimeout());
        TwampSessionResult ok = await TwampMeasurement.RunAsync(Twping(server.Server.TwampEndPoint, SecurityMode.Authenticated, direct, 5), CancellationToken.None).DefaultTimeout();

        Assert.Equal(AcceptCode.Failure, refused.Accept);
        // Told apart from a wrong passphrase: the client knows its key came from an SA the server recognised.
        Assert.Contains("the server may use the other RFC 7717 key derivation (--ike-key-derivation direct", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("passphrase", refused.Message, StringComparison.Ordinal);
        Assert.Equal(5, ok.Replies.Count);
    }

    [Fact]
    public async Task IkeClient_AgainstLegacyServer_ClearErrorWithoutSettingTheBit()
    {
        await using var legacy = new TestServer();
        using var ike = new Rfc7717Secret(1, 2, new byte[32], Rfc7717KeyDerivation.Pbkdf2);

        var refused = await Assert.ThrowsAsync<ControlProtocolException>(
            () => TwampMeasurement.RunAsync(Twping(legacy.TwampEndPoint, SecurityMode.Encrypted, ike), CancellationToken.None).DefaultTimeout());

        Assert.Contains("does not offer IKEv2", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(legacy.LoggerFactory.Entries, e => e.EventId == 100);
    }

    [Fact]
    public async Task IkeBit_WithOpenMode_OrToServerThatDidNotOfferIt_RefusedWithAccept3()
    {
        await using var server = new IkeServer(new IkeCredentials { PreSharedKey = s_psk });
        await using var legacy = new TestServer();
        foreach ((IPEndPoint endPoint, uint mode) in new[]
        {
            (server.Server.TwampEndPoint, (uint)SecurityMode.Open | (uint)TwampModes.IkeV2Derived),
            (legacy.TwampEndPoint, (uint)SecurityMode.Encrypted | (uint)TwampModes.IkeV2Derived),
        })
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(endPoint);
            NetworkStream stream = tcp.GetStream();
            byte[] greeting = new byte[ServerGreeting.Length];
            await stream.ReadExactlyAsync(greeting).AsTask().DefaultTimeout();
            byte[] setUp = new byte[SetUpResponse.Length];
            new SetUpResponse(mode, new byte[80], new byte[64], new byte[16]).Write(setUp);
            await stream.WriteAsync(setUp);
            byte[] start = new byte[ServerStart.Length];
            await stream.ReadExactlyAsync(start).AsTask().DefaultTimeout();
            Assert.Equal((byte)AcceptCode.NotSupported, start[15]);
        }
        Assert.True(server.Server.LoggerFactory.Contains(105));
        Assert.True(legacy.LoggerFactory.Contains(100));
    }

    [Fact]
    public async Task Greeting_IkeServerAdvertisesTheBitBesideItsSecurityModes()
    {
        await using var server = new IkeServer(new IkeCredentials { PreSharedKey = s_psk });
        foreach ((IPEndPoint endPoint, uint bit) in new[] { (server.Server.TwampEndPoint, 128u), (server.Server.OwampEndPoint, 16u) })
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(endPoint);
            byte[] greeting = new byte[ServerGreeting.Length];
            await tcp.GetStream().ReadExactlyAsync(greeting).AsTask().DefaultTimeout();
            ServerGreeting.TryRead(greeting, out ServerGreeting? parsed);
            Assert.Equal(bit, parsed!.Modes & bit);
            Assert.NotEqual(0u, parsed.Modes & (uint)SecurityMode.Encrypted);
        }
    }
}
