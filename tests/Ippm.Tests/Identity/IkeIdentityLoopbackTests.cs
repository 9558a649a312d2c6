using System.Net;
using System.Security.Cryptography.X509Certificates;
using Ippm.Ikev2.Exchanges;
using Ippm.Ikev2.Identity;
using Ippm.Ikev2.Messages;
using Ippm.Ikev2.SaDatabase;
using Ippm.Tests.Loopback;

namespace Ippm.Tests.Identity;

/// <summary>
/// Who is on the other end, over real sockets: the initiator checks the responder against the expected identity,
/// the responder admits only allowed identities, and both refuse certificates that are expired, not yet valid,
/// from another CA, revoked, for the wrong name or for the wrong purpose.
/// </summary>
public sealed class IkeIdentityLoopbackTests : IDisposable
{
    private static readonly byte[] s_psk = "identity tests psk"u8.ToArray();
    private readonly TestPki _pki = new();
    private readonly RecordingLoggerFactory _logs = new();

    public void Dispose()
    {
        _pki.Dispose();
        _logs.Dispose();
    }

    private IkeCredentials Creds(X509Certificate2 own, params IkeCrl[] crls) => new() { Certificate = own, TrustedCas = [_pki.Root], Crls = crls };

    private async Task<IkeInitiatorSession> ConnectAsync(IkeCredentials responder, IkeInitiatorOptions initiator, IkePeerPolicy? allowed = null, IdPayload? responderId = null)
    {
        using var database = new IkeSaDatabase();
        await using var ike = new IkeResponder(
            new IkeResponderOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), Credentials = responder, AllowedPeers = allowed, LocalId = responderId },
            database,
            _logs.CreateLogger("Ippm.Ike"));
        ike.Start();
        return await IkeInitiator.ConnectAsync(ike.LocalEndPoint, initiator with { Retransmit = RetransmitPolicy.WithinBudget(TimeSpan.FromSeconds(5)) }).DefaultTimeout();
    }

    private string RefusalLog => string.Join("\n", _logs.Entries.Where(e => e.EventId == 1202).Select(e => e.Message));

    [Fact]
    public async Task Client_ExpectsServerTest_ServerPresentsOtherTestFromSameCa_MismatchNamesBoth()
    {
        X509Certificate2 other = _pki.Issue("other.test");
        X509Certificate2 client = _pki.Issue("client.test");

        var e = await Assert.ThrowsAsync<IkePeerIdentityMismatchException>(() => ConnectAsync(
            Creds(other), new IkeInitiatorOptions { Credentials = Creds(client), ExpectedPeer = IkeIdentityPattern.Parse("server.test") }));

        Assert.Equal("server.test", e.Expected);
        Assert.Contains("CN=other.test", e.Actual, StringComparison.Ordinal);
        Assert.Contains("DNS:other.test", e.Actual, StringComparison.Ordinal);
        Assert.Contains("server.test", e.Message, StringComparison.Ordinal);
        Assert.Contains("other.test", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Client_Mismatch_TheResponderMarksItsSaDeleted_SoNothingCanBeKeyedFromIt()
    {
        using var database = new IkeSaDatabase();
        await using var ike = new IkeResponder(
            new IkeResponderOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), Credentials = Creds(_pki.Issue("other.test")) }, database, _logs.CreateLogger("Ippm.Ike"));
        var established = new TaskCompletionSource<IkeSaEntry>(TaskCreationOptions.RunContinuationsAsynchronously);
        ike.Established += e => established.TrySetResult(e);
        ike.Start();

        await Assert.ThrowsAsync<IkePeerIdentityMismatchException>(() => IkeInitiator.ConnectAsync(
            ike.LocalEndPoint, new IkeInitiatorOptions { Credentials = Creds(_pki.Issue("client.test")), ExpectedPeer = IkeIdentityPattern.Parse("server.test") }).DefaultTimeout());

        IkeSaEntry entry = await established.Task.DefaultTimeout();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (entry.State != IkeSaState.Deleted)
        {
            Assert.True(DateTime.UtcNow < deadline, "the responder kept the abandoned SA established");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task Client_ExpectsServerTest_ServerPresentsServerTest_EstablishedWithItsIdentity()
    {
        X509Certificate2 server = _pki.Issue("server.test");
        await using IkeInitiatorSession session = await ConnectAsync(
            Creds(server), new IkeInitiatorOptions { Credentials = Creds(_pki.Issue("client.test")), ExpectedPeer = IkeIdentityPattern.Parse("SERVER.test.") });
        Assert.Equal("C=XX, O=ippm tests, CN=server.test", session.Entry.PeerIdentity);
    }

    [Fact]
    public async Task Client_DnsName_MustBeADnsSan_ACommonNameAloneDoesNotCount()
    {
        X509Certificate2 server = _pki.Issue("server.test", new CertificateSpec { DnsNames = ["elsewhere.test"] });
        var e = await Assert.ThrowsAsync<IkePeerIdentityMismatchException>(() => ConnectAsync(
            Creds(server), new IkeInitiatorOptions { Credentials = Creds(_pki.Issue("client.test")), ExpectedPeer = IkeIdentityPattern.Parse("server.test") }));
        Assert.Contains("DNS:elsewhere.test", e.Actual, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Client_IpLiteral_MatchesAnIpAddressSan_AndNothingElse()
    {
        X509Certificate2 withIp = _pki.Issue("server.test", new CertificateSpec { DnsNames = ["server.test"], Addresses = [IPAddress.Loopback] });
        X509Certificate2 withoutIp = _pki.Issue("server.test");
        var expected = IkeIdentityPattern.Parse("127.0.0.1");

        await using (await ConnectAsync(Creds(withIp), new IkeInitiatorOptions { Credentials = Creds(_pki.Issue("client.test")), ExpectedPeer = expected }))
        {
        }
        var e = await Assert.ThrowsAsync<IkePeerIdentityMismatchException>(() => ConnectAsync(
            Creds(withoutIp), new IkeInitiatorOptions { Credentials = Creds(_pki.Issue("client.test")), ExpectedPeer = expected }));
        Assert.Equal("127.0.0.1", e.Expected);
    }

    [Fact]
    public async Task Client_SharedKey_ChecksTheIdrTheResponderSent()
    {
        var psk = new IkeCredentials { PreSharedKey = s_psk };
        await using (IkeInitiatorSession byAddress = await ConnectAsync(psk, new IkeInitiatorOptions { Credentials = psk, ExpectedPeer = IkeIdentityPattern.Parse("127.0.0.1") }))
        {
            Assert.Equal("127.0.0.1", byAddress.Entry.PeerIdentity);
        }
        await using (await ConnectAsync(psk, new IkeInitiatorOptions { Credentials = psk, ExpectedPeer = IkeIdentityPattern.Parse("server.test") }, responderId: IkeIdentity.Parse("server.test")))
        {
        }
        var e = await Assert.ThrowsAsync<IkePeerIdentityMismatchException>(() => ConnectAsync(
            psk, new IkeInitiatorOptions { Credentials = psk, ExpectedPeer = IkeIdentityPattern.Parse("server.test") }));
        Assert.Equal("127.0.0.1", e.Actual);
    }

    [Fact]
    public async Task Server_AllowsClientTest_RefusesRogueTestWithAuthenticationFailedAndALogLine()
    {
        X509Certificate2 server = _pki.Issue("server.test");
        var allowed = new IkePeerPolicy([IkeIdentityPattern.Parse("client.test")]);

        await using (IkeInitiatorSession served = await ConnectAsync(Creds(server), new IkeInitiatorOptions { Credentials = Creds(_pki.Issue("client.test")) }, allowed))
        {
            Assert.Contains("server.test", served.Entry.PeerIdentity, StringComparison.Ordinal);
        }
        var e = await Assert.ThrowsAsync<IkeRefusedException>(() => ConnectAsync(Creds(server), new IkeInitiatorOptions { Credentials = Creds(_pki.Issue("rogue.test")) }, allowed));

        Assert.Equal(NotifyType.AuthenticationFailed, e.Notify);
        Assert.Contains("CN=rogue.test", RefusalLog, StringComparison.Ordinal);
        Assert.Contains("matches none of the allowed identities (client.test)", RefusalLog, StringComparison.Ordinal);
        Assert.DoesNotContain("client.test,", RefusalLog, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Server_WildcardAndDnPatterns_AdmitOnlyWhatTheyName()
    {
        X509Certificate2 server = _pki.Issue("server.test");
        var allowed = new IkePeerPolicy([IkeIdentityPattern.Parse("*.ops.example.net"), IkeIdentityPattern.Parse("C=XX, O=ippm tests, CN=probe-7")]);

        await using (await ConnectAsync(Creds(server), new IkeInitiatorOptions { Credentials = Creds(_pki.Issue("a.b.ops.example.net")) }, allowed))
        {
        }
        await using (await ConnectAsync(Creds(server), new IkeInitiatorOptions { Credentials = Creds(_pki.Issue("probe-7", new CertificateSpec { DnsNames = ["unrelated.test"] })) }, allowed))
        {
        }
        await Assert.ThrowsAsync<IkeRefusedException>(() => ConnectAsync(Creds(server), new IkeInitiatorOptions { Credentials = Creds(_pki.Issue("ops.example.net.evil.test")) }, allowed));
    }

    public static TheoryData<string, string> BadClientCertificates() => new()
    {
        { "expired", "expired" },
        { "not-yet-valid", "not yet valid|not valid yet|not-yet" },
        { "other-ca", "not trusted" },
        { "email-only-eku", "extended key usage" },
        { "key-encipherment-only", "key usage" },
    };

    private X509Certificate2 Bad(string kind) => kind switch
    {
        "expired" => _pki.Issue("client.test", new CertificateSpec { NotBefore = DateTimeOffset.UtcNow.AddDays(-10), NotAfter = DateTimeOffset.UtcNow.AddDays(-1) }),
        "not-yet-valid" => _pki.Issue("client.test", new CertificateSpec { NotBefore = DateTimeOffset.UtcNow.AddDays(1), NotAfter = DateTimeOffset.UtcNow.AddDays(10) }),
        "other-ca" => _pki.Issue("client.test", new CertificateSpec { ByOtherCa = true }),
        "email-only-eku" => _pki.Issue("client.test", new CertificateSpec { Ekus = [TestPki.EmailEku] }),
        "key-encipherment-only" => _pki.Issue("client.test", new CertificateSpec { KeyUsage = System.Security.Cryptography.X509Certificates.X509KeyUsageFlags.KeyEncipherment }),
        _ => throw new ArgumentException(kind),
    };

    [Theory]
    [MemberData(nameof(BadClientCertificates))]
    public async Task Server_RefusesABadClientCertificate_EvenWhenItsNameIsAllowed(string kind, string reasons)
    {
        var allowed = new IkePeerPolicy([IkeIdentityPattern.Parse("client.test")]);
        var e = await Assert.ThrowsAsync<IkeRefusedException>(() => ConnectAsync(
            Creds(_pki.Issue("server.test")), new IkeInitiatorOptions { Credentials = Creds(Bad(kind)) }, allowed));
        Assert.Equal(NotifyType.AuthenticationFailed, e.Notify);
        Assert.Matches("(?i)" + reasons, RefusalLog);
    }

    [Theory]
    [MemberData(nameof(BadClientCertificates))]
    public async Task Client_RefusesABadServerCertificate_EvenWhenItsNameIsExpected(string kind, string reasons)
    {
        var e = await Assert.ThrowsAsync<IkeRefusedException>(() => ConnectAsync(
            Creds(Bad(kind)), new IkeInitiatorOptions { Credentials = Creds(_pki.Issue("server.test")), ExpectedPeer = IkeIdentityPattern.Parse("client.test") }));
        Assert.IsNotType<IkePeerIdentityMismatchException>(e);
        Assert.Matches("(?i)" + reasons, e.Message);
    }

    [Fact]
    public async Task RevokedCertificates_AreRefusedOnBothSides_UnrevokedOnesPass()
    {
        X509Certificate2 server = _pki.Issue("server.test");
        X509Certificate2 revokedServer = _pki.Issue("server.test");
        X509Certificate2 client = _pki.Issue("client.test");
        X509Certificate2 revokedClient = _pki.Issue("client.test");
        IkeCrl crl = IkeCrl.Decode(TestPki.Crl(_pki.Root, revokedServer, revokedClient));
        Assert.Equal(2, crl.RevokedCount);

        await using (await ConnectAsync(Creds(server, crl), new IkeInitiatorOptions { Credentials = Creds(client, crl) }))
        {
        }
        await Assert.ThrowsAsync<IkeRefusedException>(() => ConnectAsync(Creds(server, crl), new IkeInitiatorOptions { Credentials = Creds(revokedClient, crl) }));
        Assert.Contains("is revoked by the CRL of", RefusalLog, StringComparison.Ordinal);
        Assert.Contains(revokedClient.SerialNumber, RefusalLog, StringComparison.Ordinal);

        var e = await Assert.ThrowsAsync<IkeRefusedException>(() => ConnectAsync(Creds(revokedServer, crl), new IkeInitiatorOptions { Credentials = Creds(client, crl) }));
        Assert.Contains("revoked", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Crl_NamingTheCaButSignedByAnotherKey_IsAnErrorNotSilentlyIgnored()
    {
        // An impostor CA with the root's name: its CRL names the root as issuer but does not verify with the root's key.
        using var impostorKey = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(_pki.Root.SubjectName, impostorKey, System.Security.Cryptography.HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using X509Certificate2 impostor = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(10));
        IkeCrl forged = IkeCrl.Decode(TestPki.Crl(impostor));
        Assert.False(forged.IsSignedBy(_pki.Root));
        Assert.True(forged.IsSignedBy(impostor));

        await Assert.ThrowsAsync<IkeRefusedException>(() => ConnectAsync(
            Creds(_pki.Issue("server.test"), forged), new IkeInitiatorOptions { Credentials = Creds(_pki.Issue("client.test")) }));
        Assert.Contains("the configured CRL of 'C=XX, O=ippm tests, CN=ippm test root' does not verify with that CA's key", RefusalLog, StringComparison.Ordinal);

        // A CRL of an unrelated CA is simply not consulted.
        IkeCrl unrelated = IkeCrl.Decode(TestPki.Crl(_pki.OtherRoot));
        await using (await ConnectAsync(Creds(_pki.Issue("server.test"), unrelated), new IkeInitiatorOptions { Credentials = Creds(_pki.Issue("client.test"), unrelated) }))
        {
        }
    }

    [Fact]
    public async Task Crl_EveryCertificateOfTheChain_IsCheckedAgainstItsIssuersCrl_AndAStaleCrlStillRevokes()
    {
        X509Certificate2 server = _pki.Issue("server.test");
        X509Certificate2 leaf = _pki.Issue("client.test", new CertificateSpec { ViaIntermediate = true });
        var sending = new IkeCredentials { Certificate = leaf, TrustedCas = [_pki.Root], Intermediates = [_pki.Intermediate] };

        // The intermediate's own CRL revokes the leaf.
        IkeCrl byIntermediate = IkeCrl.Decode(TestPki.Crl(_pki.Intermediate, leaf));
        await Assert.ThrowsAsync<IkeRefusedException>(() => ConnectAsync(Creds(server, byIntermediate), new IkeInitiatorOptions { Credentials = sending }));
        Assert.Contains($"(serial {leaf.SerialNumber}) is revoked by the CRL of 'C=XX, O=ippm tests, CN=ippm test intermediate'", RefusalLog, StringComparison.Ordinal);

        // The root's CRL, past its nextUpdate, revokes the intermediate: the leaf under it falls too.
        var builder = new CertificateRevocationListBuilder();
        builder.AddEntry(_pki.Intermediate, DateTimeOffset.UtcNow.AddDays(-3));
        IkeCrl stale = IkeCrl.Decode(builder.Build(_pki.Root, System.Numerics.BigInteger.One, DateTimeOffset.UtcNow.AddDays(-1), System.Security.Cryptography.HashAlgorithmName.SHA256, thisUpdate: DateTimeOffset.UtcNow.AddDays(-2)));
        Assert.True(stale.NextUpdate < DateTimeOffset.UtcNow);
        await Assert.ThrowsAsync<IkeRefusedException>(() => ConnectAsync(Creds(server, stale), new IkeInitiatorOptions { Credentials = sending }));
        Assert.Contains("CN=ippm test intermediate' (serial", RefusalLog, StringComparison.Ordinal);

        // Neither CRL lists anything of another chain.
        await using (await ConnectAsync(Creds(server, byIntermediate, stale), new IkeInitiatorOptions { Credentials = Creds(_pki.Issue("client.test")) }))
        {
        }
    }

    [Fact]
    public async Task IntermediateCa_SentInCertPayloadsOrConfigured_Chains_OtherwiseRefused()
    {
        X509Certificate2 server = _pki.Issue("server.test");
        X509Certificate2 client = _pki.Issue("client.test", new CertificateSpec { ViaIntermediate = true });

        var sending = new IkeCredentials { Certificate = client, TrustedCas = [_pki.Root], Intermediates = [_pki.Intermediate] };
        await using (await ConnectAsync(Creds(server), new IkeInitiatorOptions { Credentials = sending }))
        {
        }
        var configured = new IkeCredentials { Certificate = server, TrustedCas = [_pki.Root, _pki.Intermediate] };
        await using (await ConnectAsync(configured, new IkeInitiatorOptions { Credentials = new IkeCredentials { Certificate = client, TrustedCas = [_pki.Root] } }))
        {
        }
        await Assert.ThrowsAsync<IkeRefusedException>(() => ConnectAsync(Creds(server), new IkeInitiatorOptions { Credentials = new IkeCredentials { Certificate = client, TrustedCas = [_pki.Root] } }));
        Assert.Contains("CN=client.test", RefusalLog, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WrongSan_AnIdTheCertificateDoesNotCarry_IsRefused()
    {
        X509Certificate2 rogue = _pki.Issue("rogue.test");
        var allowed = new IkePeerPolicy([IkeIdentityPattern.Parse("client.test")]);
        await Assert.ThrowsAsync<IkeRefusedException>(() => ConnectAsync(
            Creds(_pki.Issue("server.test")), new IkeInitiatorOptions { Credentials = Creds(rogue), LocalId = IkeIdentity.Parse("client.test") }, allowed));
        Assert.Contains("'client.test' does not match its certificate", RefusalLog, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ServerAndClientAuthEkus_AsStrongSwanIssuesThem_AreAccepted()
    {
        X509Certificate2 server = _pki.Issue("server.test", new CertificateSpec { Ekus = [TestPki.ServerAuthEku] });
        X509Certificate2 client = _pki.Issue("client.test", new CertificateSpec { Ekus = [TestPki.ClientAuthEku], KeyUsage = null });
        await using (await ConnectAsync(Creds(server), new IkeInitiatorOptions { Credentials = Creds(client), ExpectedPeer = IkeIdentityPattern.Parse("server.test") }))
        {
        }
    }
}
