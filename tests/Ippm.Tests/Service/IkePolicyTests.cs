using System.Net;
using Ippm.Ikev2.Exchanges;
using Ippm.Ikev2.SaDatabase;
using Ippm.Policy;
using Ippm.Security;
using Ippm.Sessions.Server;
using Ippm.Sessions.Twamp;
using Ippm.Tests.Loopback;
using Ippm.Wire;
using Ippm.Wire.Control;

namespace Ippm.Tests.Service;

/// <summary>RFC 7717 peers are users of the limits file: <c>assign user "ike:IDENTITY" CLASS</c> selects their class.</summary>
public sealed class IkePolicyTests
{
    private const string Limits = """
        limit root with bandwidth=0, allow_open_mode=off
        limit jail with parent=root, bandwidth=1
        limit probes with parent=root, bandwidth=10m
        assign default jail
        assign user "ike:CN=probe.test" probes
        """;

    [Fact]
    public async Task CertificateIdentity_SelectsItsClass_OtherIdentityGetsTheDefault()
    {
        using var ca = Ikev2.LoopbackTests.MakeCa("CN=ippm policy CA", out var caKey);
        using var serverCert = Ikev2.LoopbackTests.Issue(ca, caKey, "CN=server.test", rsa: true);
        using var probeCert = Ikev2.LoopbackTests.Issue(ca, caKey, "CN=probe.test", rsa: false);
        using var otherCert = Ikev2.LoopbackTests.Issue(ca, caKey, "CN=other.test", rsa: false);
        using var database = new IkeSaDatabase();
        await using var responder = new IkeResponder(new IkeResponderOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), Credentials = new IkeCredentials { Certificate = serverCert, TrustedCas = [ca] } }, database);
        responder.Start();
        await using var server = new TestServer(o =>
        {
            o.IkeSecrets = IkeSecretSource.FromDatabase(database, Rfc7717KeyDerivation.Pbkdf2);
            o.Policy = LimitsFile.Parse(Limits, "ike.limits");
        });

        async Task<AcceptCode> RequestAsync(System.Security.Cryptography.X509Certificates.X509Certificate2 cert)
        {
            await using IkeInitiatorSession sa = await IkeInitiator.ConnectAsync(responder.LocalEndPoint, new IkeInitiatorOptions { Credentials = new IkeCredentials { Certificate = cert, TrustedCas = [ca] } }).DefaultTimeout();
            using Rfc7717Secret ike = IkeSecretSource.ForClient(sa.Entry, Rfc7717KeyDerivation.Pbkdf2);
            await using TwampControlClient client = await TwampControlClient.ConnectAsync(server.TwampEndPoint, (uint)SecurityMode.Authenticated, null, null, 32768, CancellationToken.None, ike).DefaultTimeout();
            AcceptSession answer = await client.RequestSessionAsync(new IPEndPoint(IPAddress.Loopback, 9), 0, 64, TimeSpan.FromSeconds(1), 0, CancellationToken.None).DefaultTimeout();
            return answer.Accept;
        }

        AcceptCode probe = await RequestAsync(probeCert);
        AcceptCode other = await RequestAsync(otherCert);

        Assert.Equal(AcceptCode.Ok, probe);
        Assert.Equal(AcceptCode.PermanentResourceLimitation, other);
        Assert.Contains(server.LoggerFactory.Entries, e => e.EventId == 230 && e.Message.Contains("class 'jail' limit bandwidth", StringComparison.Ordinal));
    }
}
