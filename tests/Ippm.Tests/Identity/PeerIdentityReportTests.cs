using System.Net;
using System.Text.Json;
using Ippm.Ikev2.Exchanges;
using Ippm.Ikev2.Identity;
using Ippm.Ikev2.SaDatabase;
using Ippm.Security;
using Ippm.Sessions.Owamp;
using Ippm.Sessions.Server;
using Ippm.Sessions.Twamp;
using Ippm.Tests.Loopback;
using Ippm.Wire;
using Ippm.Wire.Control;

namespace Ippm.Tests.Identity;

/// <summary>The peer's IKE identity reaches the client's result and reports and the server's session log lines.</summary>
public sealed class PeerIdentityReportTests
{
    [Fact]
    public async Task IkeKeyedMeasurements_CarryTheServersIdentity_AndTheServerLogsTheClients()
    {
        using var pki = new TestPki();
        using var database = new IkeSaDatabase();
        await using var responder = new IkeResponder(new IkeResponderOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Credentials = new IkeCredentials { Certificate = pki.Issue("server.test"), TrustedCas = [pki.Root] },
            AllowedPeers = new IkePeerPolicy([IkeIdentityPattern.Parse("client.test")]),
        }, database);
        responder.Start();
        await using var server = new TestServer(o => o.IkeSecrets = IkeSecretSource.FromDatabase(database, Rfc7717KeyDerivation.Pbkdf2));
        await using IkeInitiatorSession sa = await IkeInitiator.ConnectAsync(responder.LocalEndPoint, new IkeInitiatorOptions
        {
            Credentials = new IkeCredentials { Certificate = pki.Issue("client.test"), TrustedCas = [pki.Root] },
            ExpectedPeer = IkeIdentityPattern.Parse("server.test"),
        }).DefaultTimeout();
        using Rfc7717Secret secret = IkeSecretSource.ForClient(sa.Entry, Rfc7717KeyDerivation.Pbkdf2);

        TwampSessionResult twamp = await TwampMeasurement.RunAsync(new TwpingOptions
        {
            Server = server.TwampEndPoint,
            AcceptableModes = (uint)SecurityMode.Encrypted,
            Ike = secret,
            Count = 5,
            Schedule = new SendSchedule(0.005, Exponential: false),
            Timeout = TimeSpan.FromSeconds(1),
        }, CancellationToken.None).DefaultTimeout();
        OwampResult owamp = await OwampMeasurement.RunAsync(new OwpingOptions
        {
            Server = server.OwampEndPoint,
            AcceptableModes = (uint)SecurityMode.Authenticated,
            Ike = secret,
            Count = 5,
            Schedule = [new ScheduleSlot(ScheduleSlotType.Fixed, NtpTimestamp.FromSeconds(0.005))],
            Timeout = TimeSpan.FromSeconds(1),
        }, CancellationToken.None).DefaultTimeout();

        const string ServerId = "C=XX, O=ippm tests, CN=server.test";
        Assert.Equal(ServerId, twamp.PeerIdentity);
        Assert.Equal(ServerId, owamp.PeerIdentity);
        using (JsonDocument json = JsonDocument.Parse(TwampReport.Create("s", twamp).ToJson()))
        {
            Assert.Equal(ServerId, json.RootElement.GetProperty("peer_identity").GetString());
        }
        using (JsonDocument json = JsonDocument.Parse(OwampReport.Create("s", owamp).ToJson()))
        {
            Assert.Equal(ServerId, json.RootElement.GetProperty("peer_identity").GetString());
        }
        Assert.Contains($"peer identity:\t{ServerId}", TwampReport.Create("s", twamp).ToHumanReadable(), StringComparison.Ordinal);
        Assert.Contains($"peer identity {ServerId}", OwampReport.Create("s", owamp).ToHumanReadable(), StringComparison.Ordinal);

        string[] sessionLines = [.. server.LoggerFactory.Entries.Where(e => e.EventId is 200 or 204 or 206).Select(e => e.Message)];
        Assert.True(sessionLines.Length >= 4, string.Join("\n", sessionLines));
        Assert.All(sessionLines, line => Assert.Contains("[ike:C=XX, O=ippm tests, CN=client.test]", line, StringComparison.Ordinal));
    }

    [Fact]
    public async Task PassphraseMeasurement_PeerIdentityIsNull()
    {
        await using var server = new TestServer();
        TwampSessionResult result = await TwampMeasurement.RunAsync(new TwpingOptions
        {
            Server = server.TwampEndPoint,
            AcceptableModes = (uint)SecurityMode.Authenticated,
            Identity = TestServer.Identity,
            Secret = TestServer.Passphrase,
            Count = 3,
            Schedule = new SendSchedule(0.005, Exponential: false),
            Timeout = TimeSpan.FromSeconds(1),
        }, CancellationToken.None).DefaultTimeout();
        Assert.Null(result.PeerIdentity);
        using JsonDocument json = JsonDocument.Parse(TwampReport.Create("s", result).ToJson());
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("peer_identity").ValueKind);
        Assert.DoesNotContain("peer identity", TwampReport.Create("s", result).ToHumanReadable(), StringComparison.Ordinal);
    }
}
