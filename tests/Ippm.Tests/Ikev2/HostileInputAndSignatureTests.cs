using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Ippm.Ikev2.Crypto;
using Ippm.Ikev2.Exchanges;
using Ippm.Ikev2.Messages;
using Ippm.Ikev2.SaDatabase;

namespace Ippm.Tests.Ikev2;

/// <summary>
/// ippm ↔ ippm over loopback: unknown critical payloads in IKE_SA_INIT (RFC 7296 §2.5), RSA PKCS#1 v1.5 and
/// ECDSA P-384 signature authentication (RFC 7427), and an IKE_SA_INIT flood from many spoofed 127/8 sources
/// that turns cookies on (§2.6) without disturbing an established SA.
/// </summary>
public sealed class HostileInputAndSignatureTests
{
    private static readonly byte[] s_psk = "hostile psk"u8.ToArray();
    private static readonly RetransmitPolicy s_fast = new(TimeSpan.FromMilliseconds(200), 4);
    private const string Suite = "aes128gcm16-prfsha256-x25519";

    private static IkeResponder StartResponder(IkeCredentials credentials, IkeSaDatabase db, int cookieThreshold = 64, string proposals = Suite)
    {
        var responder = new IkeResponder(new IkeResponderOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Credentials = credentials,
            Proposals = IkeProposalSpec.ParseList(proposals),
            CookieThreshold = cookieThreshold,
        }, db);
        responder.Start();
        return responder;
    }

    /// <summary>A well-formed IKE_SA_INIT request (SA, KE, Ni) with optional extra payloads first.</summary>
    private static byte[] SaInit(ulong spiI, params OutgoingPayload[] extra)
    {
        using KeyExchange ke = KeyExchange.Create(DhGroup.Curve25519);
        var payloads = new List<OutgoingPayload>(extra)
        {
            new(PayloadType.SecurityAssociation, new SaPayload([IkeProposalSpec.ParseList(Suite)[0].ToProposal(1)]).Encode()),
            new(PayloadType.KeyExchange, new KePayload(DhGroup.Curve25519, ke.PublicKey).Encode()),
            new(PayloadType.Nonce, RandomNumberGenerator.GetBytes(32)),
        };
        return IkeMessage.Build(new IkeHeader(spiI, 0, PayloadType.None, ExchangeType.IkeSaInit, IkeFlags.Initiator, 0, 0), payloads);
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

    [Fact]
    public async Task UnknownCriticalPayload_InSaInit_UnsupportedCriticalPayload_NoHalfOpenSa()
    {
        using var db = new IkeSaDatabase();
        await using IkeResponder responder = StartResponder(new IkeCredentials { PreSharedKey = s_psk }, db);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));

        // Payload type 200 (unassigned) as the first payload, with the critical bit set in its generic header.
        byte[] request = SaInit(0x1111_2222_3333_4444, new OutgoingPayload((PayloadType)200, [1, 2, 3, 4]));
        Assert.Equal(200, request[16]); // header Next Payload
        request[IkeHeader.Size + 1] |= RawPayload.CriticalBit;
        IkeMessage? answer = await ExchangeAsync(socket, request, responder.LocalEndPoint, TimeSpan.FromSeconds(5));
        Assert.NotNull(answer);
        Assert.True(answer!.Header.IsResponse);
        Assert.Equal(ExchangeType.IkeSaInit, answer.Header.Exchange);
        Assert.Equal(0x1111_2222_3333_4444UL, answer.Header.SpiI);
        Assert.Equal(0UL, answer.Header.SpiR); // no state created
        NotifyPayload notify = Assert.Single(answer.Payloads.Notifies());
        Assert.Equal(NotifyType.UnsupportedCriticalPayload, notify.Type);
        Assert.Equal([200], notify.Data); // §2.5: the one-octet type of the payload not understood
        Assert.Null(answer.Payloads.First(PayloadType.SecurityAssociation));
        Assert.Equal(0, responder.HalfOpenCount);

        // The same payload without the critical bit must be skipped (§2.5): a normal SA/KE/Nr answer.
        byte[] lenient = SaInit(0x5555_6666_7777_8888, new OutgoingPayload((PayloadType)200, [1, 2, 3, 4]));
        answer = await ExchangeAsync(socket, lenient, responder.LocalEndPoint, TimeSpan.FromSeconds(5));
        Assert.NotNull(answer);
        Assert.NotEqual(0UL, answer!.Header.SpiR);
        Assert.NotNull(answer.Payloads.First(PayloadType.SecurityAssociation));
        Assert.NotNull(answer.Payloads.First(PayloadType.KeyExchange));
        Assert.DoesNotContain(answer.Payloads.Notifies(), n => n.IsError);
        Assert.Equal(1, responder.HalfOpenCount);

        // And the responder still serves a real initiator.
        await using IkeInitiatorSession session = await IkeInitiator.ConnectAsync(responder.LocalEndPoint,
            new IkeInitiatorOptions { Credentials = new IkeCredentials { PreSharedKey = s_psk }, Proposals = IkeProposalSpec.ParseList(Suite), Retransmit = s_fast });
        Assert.True(db.TryGet(session.Entry.SpiI, session.Entry.SpiR, out _));
    }

    public enum KeyKind
    {
        RsaPkcs1,
        RsaPss,
        EcdsaP384,
    }

    [Theory]
    [InlineData(KeyKind.RsaPkcs1)]
    [InlineData(KeyKind.RsaPss)]
    [InlineData(KeyKind.EcdsaP384)]
    public async Task Certificates_SignatureKinds_BothDirections_SameSkD(KeyKind kind)
    {
        using ECDsa caKey = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var caRequest = new CertificateRequest("CN=ippm P-384 CA", caKey, HashAlgorithmName.SHA384);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        using X509Certificate2 ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        using X509Certificate2 server = Issue(ca, caKey, "CN=responder.test", kind);
        using X509Certificate2 client = Issue(ca, caKey, "CN=initiator.test", kind);
        bool pss = kind == KeyKind.RsaPss;

        // The AUTH data carries the RFC 7427 AlgorithmIdentifier of the scheme asked for.
        byte[] octets = RandomNumberGenerator.GetBytes(100);
        byte[] signature = IkeAuthentication.Sign(client, octets, pss);
        string expectedOid = kind switch
        {
            KeyKind.RsaPkcs1 => "2a864886f70d01010b", // sha256WithRSAEncryption
            KeyKind.RsaPss => "2a864886f70d01010a",   // id-RSASSA-PSS
            _ => "2a8648ce3d040303",                   // ecdsa-with-SHA384
        };
        Assert.Contains(expectedOid, Convert.ToHexStringLower(signature.AsSpan(1, signature[0])), StringComparison.Ordinal);
        Assert.True(IkeAuthentication.VerifySignature(client, new AuthPayload(AuthMethod.DigitalSignature, signature), octets));
        octets[0] ^= 1;
        Assert.False(IkeAuthentication.VerifySignature(client, new AuthPayload(AuthMethod.DigitalSignature, signature), octets));

        using var serverDb = new IkeSaDatabase();
        using var clientDb = new IkeSaDatabase();
        await using IkeResponder responder = StartResponder(new IkeCredentials { Certificate = server, TrustedCas = [ca], RsaPss = pss }, serverDb, proposals: "aes256gcm16-prfsha384-ecp384");
        await using IkeInitiatorSession session = await IkeInitiator.ConnectAsync(responder.LocalEndPoint, new IkeInitiatorOptions
        {
            Credentials = new IkeCredentials { Certificate = client, TrustedCas = [ca], RsaPss = pss },
            Proposals = IkeProposalSpec.ParseList("aes256gcm16-prfsha384-ecp384"),
            RemoteId = IkeIdentity.Parse("CN=responder.test"),
            Retransmit = s_fast,
        }, clientDb);
        Assert.Contains("CN=responder.test", session.Entry.PeerIdentity, StringComparison.Ordinal);
        Assert.True(serverDb.TryGet(session.Entry.SpiI, session.Entry.SpiR, out IkeSaEntry? e));
        Assert.Contains("CN=initiator.test", e!.PeerIdentity, StringComparison.Ordinal);
        Assert.Equal(session.Entry.SkD.ToArray(), e.SkD.ToArray());
        Assert.Equal(PrfId.HmacSha384, e.Prf);
        await session.DeleteAsync();
    }

    private static X509Certificate2 Issue(X509Certificate2 ca, ECDsa caKey, string subject, KeyKind kind)
    {
        var generator = X509SignatureGenerator.CreateForECDsa(caKey);
        DateTimeOffset from = DateTimeOffset.UtcNow.AddDays(-1), to = DateTimeOffset.UtcNow.AddDays(10);
        if (kind == KeyKind.EcdsaP384)
        {
            using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP384);
            using X509Certificate2 issued = new CertificateRequest(subject, key, HashAlgorithmName.SHA384).Create(ca.SubjectName, generator, from, to, RandomNumberGenerator.GetBytes(8));
            return issued.CopyWithPrivateKey(key);
        }
        using RSA rsa = RSA.Create(2048);
        using X509Certificate2 cert = new CertificateRequest(subject, rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).Create(ca.SubjectName, generator, from, to, RandomNumberGenerator.GetBytes(8));
        return cert.CopyWithPrivateKey(rsa);
    }

    /// <summary>
    /// 240 IKE_SA_INIT requests from 60 spoofed loopback addresses (127.77.x.y), 4 source ports each, never
    /// followed by IKE_AUTH. Above the half-open threshold the responder answers with COOKIE only (no DH, no state);
    /// an SA established before the flood still answers liveness checks and deletes cleanly, and a new initiator
    /// still gets in (by returning the cookie).
    /// </summary>
    [Fact]
    public async Task SpoofedSaInitFlood_CookiesTakeOver_ExistingSaUnaffected()
    {
        const int threshold = 8;
        const int addresses = 60;
        const int portsPerAddress = 4;
        using var db = new IkeSaDatabase();
        await using IkeResponder responder = StartResponder(new IkeCredentials { PreSharedKey = s_psk }, db, threshold);
        var options = new IkeInitiatorOptions { Credentials = new IkeCredentials { PreSharedKey = s_psk }, Proposals = IkeProposalSpec.ParseList(Suite), Retransmit = s_fast };
        await using IkeInitiatorSession existing = await IkeInitiator.ConnectAsync(responder.LocalEndPoint, options);
        Assert.True(db.TryGet(existing.Entry.SpiI, existing.Entry.SpiR, out IkeSaEntry? entry));
        byte[] skD = entry!.SkD.ToArray();

        var sockets = new List<Socket>();
        try
        {
            for (int a = 0; a < addresses; a++)
            {
                var address = new IPAddress([127, 77, (byte)(a / 250), (byte)(1 + (a % 250))]);
                for (int p = 0; p < portsPerAddress; p++)
                {
                    var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                    s.Bind(new IPEndPoint(address, 0));
                    sockets.Add(s);
                }
            }
            int cookies = 0, accepted = 0, other = 0;
            ulong spi = 0x7000_0000_0000_0000;
            foreach (Socket s in sockets)
            {
                IkeMessage? answer = await ExchangeAsync(s, SaInit(++spi), responder.LocalEndPoint, TimeSpan.FromSeconds(5));
                if (answer is null)
                {
                    other++;
                }
                else if (answer.Payloads.Notifies().Any(n => n.Type == NotifyType.Cookie))
                {
                    Assert.Equal(0UL, answer.Header.SpiR);
                    Assert.Single(answer.Payloads);
                    cookies++;
                }
                else if (answer.Header.SpiR != 0 && answer.Payloads.First(PayloadType.KeyExchange) is not null)
                {
                    accepted++;
                }
                else
                {
                    other++;
                }
            }
            Assert.Equal(threshold, accepted);
            Assert.Equal(sockets.Count - threshold, cookies);
            Assert.Equal(0, other);
            Assert.Equal(threshold, responder.HalfOpenCount);
        }
        finally
        {
            foreach (Socket s in sockets)
            {
                s.Dispose();
            }
        }

        // The existing SA is untouched and usable; a legitimate newcomer passes the cookie exchange.
        await existing.CheckLivenessAsync();
        Assert.Equal(IkeSaState.Established, entry.State);
        Assert.Equal(skD, entry.SkD.ToArray());
        await using (IkeInitiatorSession newcomer = await IkeInitiator.ConnectAsync(responder.LocalEndPoint, options))
        {
            Assert.True(db.TryGet(newcomer.Entry.SpiI, newcomer.Entry.SpiR, out _));
        }
        await existing.DeleteAsync();
        await LoopbackTests.WaitFor(() => entry.State == IkeSaState.Deleted);
        Assert.Equal(2, db.Count);
    }
}

/// <summary>An initiator session that serves the peer's requests can still run its own exchanges on the same socket.</summary>
public sealed class InitiatorServingTests
{
    [Fact]
    public async Task LivenessChecksWhileServing_AnswersNeverLost()
    {
        byte[] psk = "serving psk"u8.ToArray();
        using var db = new IkeSaDatabase();
        await using var responder = new IkeResponder(new IkeResponderOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Credentials = new IkeCredentials { PreSharedKey = psk },
        }, db);
        responder.Start();
        // One try only: a response swallowed by the serving loop would surface as a timeout, not a slow retransmission.
        await using IkeInitiatorSession session = await IkeInitiator.ConnectAsync(responder.LocalEndPoint, new IkeInitiatorOptions
        {
            Credentials = new IkeCredentials { PreSharedKey = psk },
            Proposals = IkeProposalSpec.ParseList("aes128gcm16-prfsha256-ecp256"),
            Retransmit = new RetransmitPolicy(TimeSpan.FromSeconds(2), 1),
        });
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        Task serve = session.ServeAsync(stop.Token);
        for (int i = 0; i < 20; i++)
        {
            await session.CheckLivenessAsync(stop.Token);
        }
        await session.DeleteAsync(stop.Token);
        await serve.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(db.TryGet(session.Entry.SpiI, session.Entry.SpiR, out IkeSaEntry? e));
        await LoopbackTests.WaitFor(() => e!.State == IkeSaState.Deleted);
    }
}
