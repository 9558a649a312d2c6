using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Ippm.Ikev2.Crypto;
using Ippm.Ikev2.Crypto.Modp;
using Ippm.Ikev2.Identity;
using Ippm.Ikev2.Messages;
using Ippm.Ikev2.SaDatabase;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ippm.Ikev2.Exchanges;

/// <summary>
/// IKEv2 initiator for a childless IKE SA (RFC 7296 §1.2, RFC 6023):
/// <code>
/// HDR, SAi1, KEi, Ni, N(NAT_D_SRC), N(NAT_D_DST), N(CHILDLESS) [, N(SIG_HASH)]  -->
///                              &lt;--  HDR, SAr1, KEr, Nr, [CERTREQ,] N(NAT_D_*), N(CHILDLESS)
/// HDR, SK {IDi, [CERT,] [CERTREQ,] [IDr,] AUTH, N(INITIAL_CONTACT)}              -->
///                              &lt;--  HDR, SK {IDr, [CERT,] AUTH}
/// </code>
/// with COOKIE and INVALID_KE_PAYLOAD retries (§2.6, §1.2) and retransmission with back-off (§2.1).
/// </summary>
public static class IkeInitiator
{
    private const int MaxRestarts = 4;

    public static async Task<IkeInitiatorSession> ConnectAsync(
        IPEndPoint remote, IkeInitiatorOptions options, IkeSaDatabase? database = null, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        logger ??= NullLogger.Instance;
        ModpEngine.LogIfUsed(logger, options.Proposals.SelectMany(p => p.Groups));
        var socket = new Socket(remote.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            await socket.ConnectAsync(remote, cancellationToken).ConfigureAwait(false);
            var local = (IPEndPoint)socket.LocalEndPoint!;
            IkeSa sa = await EstablishAsync(socket, local, remote, options, logger, cancellationToken).ConfigureAwait(false);
            database?.Add(sa.ToEntry());
            Log.Established(logger, sa.SpiIText, sa.SpiRText, remote, sa.PeerIdentity, sa.Suite.ToString(), "initiator");
            return new IkeInitiatorSession(socket, sa, options, database, logger);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static async Task<IkeSa> EstablishAsync(Socket socket, IPEndPoint local, IPEndPoint remote, IkeInitiatorOptions options, ILogger logger, CancellationToken ct)
    {
        ulong spiI = IkeResponder.NewSpi();
        byte[] ni = RandomNumberGenerator.GetBytes(32);
        DhGroup group = options.Proposals[0].Groups[0];
        byte[]? cookie = null;
        var offered = new SaPayload([.. options.Proposals.Select((p, i) => p.ToProposal((byte)(i + 1)))]);
        IkeCredentials credentials = options.Credentials;
        for (int attempt = 0; ; attempt++)
        {
            using KeyExchange ke = KeyExchange.Create(group);
            var payloads = new List<OutgoingPayload>();
            if (cookie is not null)
            {
                payloads.Add(new NotifyPayload(NotifyType.Cookie, cookie).ToOutgoing());
            }
            payloads.Add(new OutgoingPayload(PayloadType.SecurityAssociation, offered.Encode()));
            payloads.Add(new OutgoingPayload(PayloadType.KeyExchange, new KePayload(group, ke.PublicKey).Encode()));
            payloads.Add(new OutgoingPayload(PayloadType.Nonce, ni));
            payloads.Add(new NotifyPayload(NotifyType.NatDetectionSourceIp, NatDetection.Hash(spiI, 0, local)).ToOutgoing());
            payloads.Add(new NotifyPayload(NotifyType.NatDetectionDestinationIp, NatDetection.Hash(spiI, 0, remote)).ToOutgoing());
            payloads.Add(new NotifyPayload(NotifyType.ChildlessIkev2Supported).ToOutgoing());
            if (credentials.UsesCertificate)
            {
                payloads.Add(new NotifyPayload(NotifyType.SignatureHashAlgorithms, [0, 2, 0, 3, 0, 4]).ToOutgoing());
            }
            byte[] request = IkeMessage.Build(new IkeHeader(spiI, 0, PayloadType.None, ExchangeType.IkeSaInit, IkeFlags.Initiator, 0, 0), payloads);
            DhGroup sentGroup = group;
            byte[]? sentCookie = cookie;
            IkeMessage response = await Transport.RequestAsync(socket, request, m =>
                m.Header.SpiI == spiI && m.Header.IsResponse && m.Header.MessageId == 0 && m.Header.Exchange == ExchangeType.IkeSaInit
                && !AnswersEarlierRequest(m, sentGroup, sentCookie),
                options.Retransmit, logger, ct).ConfigureAwait(false);
            List<NotifyPayload> notifies = response.Payloads.Notifies();
            if (attempt >= MaxRestarts)
            {
                throw new IkeRefusedException(NotifyType.InvalidSyntax, "IKE_SA_INIT: too many COOKIE/INVALID_KE_PAYLOAD rounds.");
            }
            if (notifies.FirstOrDefault(n => n.Type == NotifyType.Cookie) is NotifyPayload c && c.Data.Length is >= 1 and <= 64)
            {
                cookie = c.Data;
                continue;
            }
            if (notifies.FirstOrDefault(n => n.Type == NotifyType.InvalidKePayload) is NotifyPayload invalidKe && invalidKe.Data.Length == 2)
            {
                var wanted = (DhGroup)System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(invalidKe.Data);
                if (wanted == group || !options.Proposals.Any(p => p.Groups.Contains(wanted)) || !KeyExchange.IsSupported(wanted))
                {
                    throw new IkeRefusedException(NotifyType.InvalidKePayload, $"the responder wants DH group {(ushort)wanted}, which was not offered.");
                }
                group = wanted;
                continue;
            }
            if (notifies.FirstOrDefault(n => n.IsError) is NotifyPayload error)
            {
                throw new IkeRefusedException(error.Type, $"the responder answered IKE_SA_INIT with {error.Type}.");
            }
            return await AuthenticateAsync(socket, remote, options, spiI, ni, request, response, ke, logger, ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Every IKE_SA_INIT request of a restart carries Message ID 0 (RFC 7296 §2.6, §1.3.1), so a late answer to an
    /// earlier one — the responder answering a retransmission too — matches the current request. Such an answer asks
    /// for what this request already carries: the DH group it sent, or the cookie it returned. Ignored, not obeyed.
    /// </summary>
    private static bool AnswersEarlierRequest(IkeMessage response, DhGroup sentGroup, byte[]? sentCookie)
    {
        foreach (NotifyPayload notify in response.Payloads.Notifies())
        {
            if (notify.Type == NotifyType.InvalidKePayload && notify.Data.Length == 2
                && (DhGroup)System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(notify.Data) == sentGroup)
            {
                return true;
            }
            if (notify.Type == NotifyType.Cookie && sentCookie is not null && notify.Data.AsSpan().SequenceEqual(sentCookie))
            {
                return true;
            }
        }
        return false;
    }

    private static async Task<IkeSa> AuthenticateAsync(
        Socket socket, IPEndPoint remote, IkeInitiatorOptions options, ulong spiI, byte[] ni, byte[] realMessage1, IkeMessage response, KeyExchange ke, ILogger logger, CancellationToken ct)
    {
        List<RawPayload> payloads = response.Payloads;
        ulong spiR = response.Header.SpiR;
        if (spiR == 0
            || payloads.First(PayloadType.SecurityAssociation) is not RawPayload saRaw || SaPayload.TryRead(saRaw.Body.Span, out SaPayload? sa) != OperationStatus.Done || sa!.Proposals.Count != 1
            || payloads.First(PayloadType.KeyExchange) is not RawPayload keRaw || KePayload.TryRead(keRaw.Body.Span, out KePayload? ker) != OperationStatus.Done
            || payloads.First(PayloadType.Nonce) is not RawPayload nonce || nonce.Body.Length is < 16 or > 256)
        {
            throw new IkeRefusedException(NotifyType.InvalidSyntax, "IKE_SA_INIT response lacks a valid SA, KE or Nonce payload.");
        }
        IkeSuite suite = IkeProposalSpec.TryAccept(options.Proposals, sa.Proposals[0]) ?? throw new IkeRefusedException(NotifyType.NoProposalChosen, "the responder chose a proposal that was not offered.");
        if (suite.Group != ke.Group || ker!.Group != ke.Group)
        {
            throw new IkeRefusedException(NotifyType.InvalidKePayload, "the responder's KE does not match the chosen DH group.");
        }
        byte[] shared = ke.TryDeriveSharedSecret(ker.Data) ?? throw new IkeRefusedException(NotifyType.InvalidSyntax, "the responder's KE data is invalid.");
        byte[] nr = nonce.Body.ToArray();
        byte[] skeyseed = IkeKeys.ComputeSkeyseed(suite.Prf, ni, nr, shared);
        IkeKeys keys = IkeKeys.Derive(suite, skeyseed, ni, nr, spiI, spiR);
        CryptographicOperations.ZeroMemory(skeyseed);
        CryptographicOperations.ZeroMemory(shared);
        var sa0 = new IkeSa(spiI, spiR, true, suite, keys, remote, "", 1, -1);
        try
        {
            IkeCredentials credentials = options.Credentials;
            IdPayload idi = options.LocalId
                ?? (credentials.Certificate is X509Certificate2 own ? IkeIdentity.FromCertificate(own) : IkeIdentity.FromAddress(((IPEndPoint)socket.LocalEndPoint!).Address));
            byte[] idiBody = idi.Encode();
            byte[] octets = IkeAuthentication.SignedOctets(suite.Prf, realMessage1, nr, keys.SkPi, idiBody);
            var inner = new List<OutgoingPayload> { new(PayloadType.IdInitiator, idiBody) };
            AuthPayload auth;
            if (credentials.Certificate is X509Certificate2 cert)
            {
                inner.Add(new OutgoingPayload(PayloadType.Certificate, new CertPayload(CertEncoding.X509Signature, cert.RawData).Encode()));
                inner.AddRange(credentials.Intermediates.Select(c => new OutgoingPayload(PayloadType.Certificate, new CertPayload(CertEncoding.X509Signature, c.RawData).Encode())));
                auth = new AuthPayload(AuthMethod.DigitalSignature, IkeAuthentication.Sign(cert, octets, credentials.RsaPss));
            }
            else
            {
                auth = new AuthPayload(AuthMethod.SharedKey, IkeAuthentication.SharedKeyAuth(suite.Prf, credentials.PreSharedKey!, octets));
            }
            if (credentials.TrustedCas.Count > 0)
            {
                inner.Add(new OutgoingPayload(PayloadType.CertificateRequest, new CertPayload(CertEncoding.X509Signature, IkeAuthentication.CertificateRequestData(credentials.TrustedCas)).Encode()));
            }
            if (options.RemoteId is IdPayload idr)
            {
                inner.Add(new OutgoingPayload(PayloadType.IdResponder, idr.Encode()));
            }
            inner.Add(new OutgoingPayload(PayloadType.Authentication, auth.Encode()));
            inner.Add(new NotifyPayload(NotifyType.InitialContact).ToOutgoing());
            byte[] request = sa0.Seal(ExchangeType.IkeAuth, false, 1, inner);
            List<RawPayload>? reply = null;
            await Transport.RequestAsync(socket, request, m =>
            {
                if (m.Header.SpiI != spiI || m.Header.SpiR != spiR || !m.Header.IsResponse || m.Header.MessageId != 1 || m.Header.Exchange != ExchangeType.IkeAuth)
                {
                    return false;
                }
                reply = sa0.Open(m);
                return reply is not null; // a forged or corrupted response is ignored; the real one may still come
            }, options.Retransmit, logger, ct).ConfigureAwait(false);
            sa0.NextRequestId = 2;
            List<NotifyPayload> notifies = reply!.Notifies();
            if (notifies.FirstOrDefault(n => n.IsError && n.Type is not (NotifyType.NoProposalChosen or NotifyType.TsUnacceptable or NotifyType.SinglePairRequired or NotifyType.InternalAddressFailure or NotifyType.FailedCpRequired or NotifyType.InvalidSelectors)) is NotifyPayload error)
            {
                throw new IkeRefusedException(error.Type, $"the responder answered IKE_AUTH with {error.Type}.");
            }
            string? failure = VerifyResponder(reply!, options, suite, keys, response.Octets, ni, out IkePeerIdentity? responder);
            IkeIdentityPattern? expected = options.ExpectedPeer ?? (options.RemoteId is IdPayload sentIdr ? IkeIdentityPattern.Exactly(sentIdr) : null);
            IkePeerIdentityMismatchException? mismatch = failure is null && expected is not null && !expected.Matches(responder!)
                ? new IkePeerIdentityMismatchException(expected.ToString(), responder!.Describe())
                : null;
            if (failure is not null || mismatch is not null)
            {
                // RFC 7296 §2.21.2: tell the responder in a separate INFORMATIONAL, then forget the SA.
                (_, byte[] info) = sa0.NextRequest(ExchangeType.Informational, [new NotifyPayload(NotifyType.AuthenticationFailed).ToOutgoing()]);
                try
                {
                    await socket.SendAsync(Transport.Frame(info, remote), ct).ConfigureAwait(false);
                }
                catch (SocketException)
                {
                }
                throw (Exception?)mismatch ?? new IkeRefusedException(NotifyType.AuthenticationFailed, failure!);
            }
            sa0.PeerIdentity = responder!.ToString();
            return sa0;
        }
        catch
        {
            sa0.Dispose();
            throw;
        }
    }

    private static string? VerifyResponder(List<RawPayload> reply, IkeInitiatorOptions options, IkeSuite suite, IkeKeys keys, byte[] realMessage2, byte[] ni, out IkePeerIdentity? responder)
    {
        responder = null;
        if (reply.First(PayloadType.IdResponder) is not RawPayload idRaw || IdPayload.TryRead(idRaw.Body.Span, out IdPayload? idr) != OperationStatus.Done
            || reply.First(PayloadType.Authentication) is not RawPayload authRaw || AuthPayload.TryRead(authRaw.Body.Span, out AuthPayload? auth) != OperationStatus.Done)
        {
            return "IKE_AUTH response lacks IDr or AUTH.";
        }
        byte[] octets = IkeAuthentication.SignedOctets(suite.Prf, realMessage2, ni, keys.SkPr, idRaw.Body.ToArray());
        return Verifier.Check(options.Credentials, reply, idr!, auth!, octets, suite.Prf, out responder);
    }
}

/// <summary>Checks a peer's AUTH payload against our credentials (shared by both roles).</summary>
internal static class Verifier
{
    /// <param name="peer">Who the peer proved to be, when the result is null.</param>
    public static string? Check(IkeCredentials credentials, List<RawPayload> payloads, IdPayload peerId, AuthPayload auth, byte[] octets, PrfId prf, out IkePeerIdentity? peer)
    {
        peer = null;
        if (auth.Method == AuthMethod.SharedKey)
        {
            if (credentials.PreSharedKey is null)
            {
                return "the peer used a shared key, but none is configured.";
            }
            if (!IkeAuthentication.VerifySharedKey(prf, credentials.PreSharedKey, octets, auth.Data))
            {
                return "the peer's shared-key AUTH does not verify (wrong PSK?).";
            }
            peer = IkePeerIdentity.FromSharedKey(peerId);
            return null;
        }
        if (credentials.TrustedCas.Count == 0)
        {
            return $"the peer used auth method {(byte)auth.Method}, but no CA is configured.";
        }
        var certs = new List<X509Certificate2>();
        try
        {
            foreach (RawPayload p in payloads.Where(p => p.Type == PayloadType.Certificate))
            {
                if (CertPayload.TryRead(p.Body.Span, out CertPayload? c) == OperationStatus.Done && c!.Encoding == CertEncoding.X509Signature)
                {
                    try
                    {
                        certs.Add(X509CertificateLoader.LoadCertificate(c.Data));
                    }
                    catch (CryptographicException)
                    {
                        return "the peer sent an unparsable certificate.";
                    }
                }
            }
            if (certs.Count == 0)
            {
                return "the peer sent no X.509 certificate.";
            }
            X509Certificate2 leaf = certs[0];
            if (IkeAuthentication.ValidateChain(leaf, certs.Skip(1), credentials.TrustedCas, credentials.Crls) is string reason)
            {
                return $"the certificate of '{IkeIdentity.Format(peerId)}' is not trusted: {reason}";
            }
            if (!IkeAuthentication.IdentityMatchesCertificate(peerId, leaf))
            {
                return $"the peer's identity '{IkeIdentity.Format(peerId)}' does not match its certificate.";
            }
            if (!IkeAuthentication.VerifySignature(leaf, auth, octets))
            {
                return "the peer's signature does not verify.";
            }
            peer = IkePeerIdentity.FromCertificate(peerId, leaf);
            return null;
        }
        finally
        {
            foreach (X509Certificate2 c in certs)
            {
                c.Dispose();
            }
        }
    }
}
