using System.Formats.Asn1;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Ippm.Ikev2.Messages;

namespace Ippm.Ikev2.Crypto;

/// <summary>RFC 7296 §2.15 AUTH payload computation and checks, shared key (method 2) and RFC 7427 signatures (method 14).</summary>
public static class IkeAuthentication
{
    private static readonly byte[] s_keyPad = "Key Pad for IKEv2"u8.ToArray();

    private const string OidRsaPss = "1.2.840.113549.1.1.10";
    private const string OidMgf1 = "1.2.840.113549.1.1.8";
    private const string OidSha256 = "2.16.840.1.101.3.4.2.1";
    private const string OidSha384 = "2.16.840.1.101.3.4.2.2";
    private const string OidSha512 = "2.16.840.1.101.3.4.2.3";

    /// <summary>&lt;SignedOctets&gt; = RealMessage | peer's Nonce body | prf(SK_p, ID payload body).</summary>
    public static byte[] SignedOctets(PrfId prf, byte[] realMessage, byte[] peerNonce, ReadOnlySpan<byte> skP, byte[] idBody)
    {
        byte[] macedId = Prf.Compute(prf, skP, idBody);
        return [.. realMessage, .. peerNonce, .. macedId];
    }

    /// <summary>AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), &lt;SignedOctets&gt;).</summary>
    public static byte[] SharedKeyAuth(PrfId prf, ReadOnlySpan<byte> psk, byte[] signedOctets)
    {
        byte[] padded = Prf.Compute(prf, psk, s_keyPad);
        try
        {
            return Prf.Compute(prf, padded, signedOctets);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(padded);
        }
    }

    public static bool VerifySharedKey(PrfId prf, ReadOnlySpan<byte> psk, byte[] signedOctets, ReadOnlySpan<byte> received)
    {
        byte[] expected = SharedKeyAuth(prf, psk, signedOctets);
        return CryptographicOperations.FixedTimeEquals(expected, received);
    }

    /// <summary>RFC 7427 §3: Authentication Data = ASN.1 length (1) | AlgorithmIdentifier | signature.</summary>
    public static byte[] Sign(X509Certificate2 certificate, byte[] signedOctets, bool rsaPss)
    {
        using RSA? rsa = certificate.GetRSAPrivateKey();
        if (rsa is not null)
        {
            byte[] algorithm = rsaPss ? RsaPssSha256Identifier() : Convert.FromHexString("300d06092a864886f70d01010b0500");
            byte[] signature = rsa.SignData(signedOctets, HashAlgorithmName.SHA256, rsaPss ? RSASignaturePadding.Pss : RSASignaturePadding.Pkcs1);
            return [(byte)algorithm.Length, .. algorithm, .. signature];
        }
        using ECDsa? ecdsa = certificate.GetECDsaPrivateKey() ?? throw new InvalidOperationException("The certificate has no RSA or ECDSA private key.");
        (HashAlgorithmName hash, string oid) = ecdsa.KeySize switch
        {
            <= 256 => (HashAlgorithmName.SHA256, "300a06082a8648ce3d040302"),
            <= 384 => (HashAlgorithmName.SHA384, "300a06082a8648ce3d040303"),
            _ => (HashAlgorithmName.SHA512, "300a06082a8648ce3d040304"),
        };
        byte[] id = Convert.FromHexString(oid);
        byte[] sig = ecdsa.SignData(signedOctets, hash, DSASignatureFormat.Rfc3279DerSequence);
        return [(byte)id.Length, .. id, .. sig];
    }

    /// <summary>RSASSA-PSS with SHA-256, MGF1-SHA-256, salt 32 (RFC 7427 Appendix A.4.3 shape).</summary>
    internal static byte[] RsaPssSha256Identifier()
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            w.WriteObjectIdentifier(OidRsaPss);
            using (w.PushSequence())
            {
                using (w.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, true)))
                {
                    WriteHashAlgorithm(w, OidSha256);
                }
                using (w.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 1, true)))
                {
                    using (w.PushSequence())
                    {
                        w.WriteObjectIdentifier(OidMgf1);
                        WriteHashAlgorithm(w, OidSha256);
                    }
                }
                using (w.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 2, true)))
                {
                    w.WriteInteger(32);
                }
            }
        }
        return w.Encode();
    }

    private static void WriteHashAlgorithm(AsnWriter w, string oid)
    {
        using (w.PushSequence())
        {
            w.WriteObjectIdentifier(oid);
            w.WriteNull();
        }
    }

    /// <summary>Verifies an AUTH payload made with the peer certificate's key: methods 1, 9–11 and 14. Never throws on peer bytes.</summary>
    public static bool VerifySignature(X509Certificate2 peer, AuthPayload auth, byte[] signedOctets)
    {
        try
        {
            return auth.Method switch
            {
                AuthMethod.DigitalSignature => VerifyDigitalSignature(peer, auth.Data, signedOctets),
                AuthMethod.RsaSignature => peer.GetRSAPublicKey() is RSA rsa1 && Using(rsa1, r => r.VerifyData(signedOctets, auth.Data, HashAlgorithmName.SHA1, RSASignaturePadding.Pkcs1)),
                AuthMethod.EcdsaP256Sha256 => VerifyEcdsa(peer, auth.Data, signedOctets, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation),
                AuthMethod.EcdsaP384Sha384 => VerifyEcdsa(peer, auth.Data, signedOctets, HashAlgorithmName.SHA384, DSASignatureFormat.IeeeP1363FixedFieldConcatenation),
                AuthMethod.EcdsaP521Sha512 => VerifyEcdsa(peer, auth.Data, signedOctets, HashAlgorithmName.SHA512, DSASignatureFormat.IeeeP1363FixedFieldConcatenation),
                _ => false,
            };
        }
        catch (CryptographicException)
        {
            return false;
        }
        catch (AsnContentException)
        {
            return false;
        }
    }

    private static bool Using<T>(T key, Func<T, bool> check)
        where T : IDisposable
    {
        using (key)
        {
            return check(key);
        }
    }

    private static bool VerifyEcdsa(X509Certificate2 peer, byte[] signature, byte[] data, HashAlgorithmName hash, DSASignatureFormat format)
    {
        using ECDsa? ecdsa = peer.GetECDsaPublicKey();
        return ecdsa is not null && ecdsa.VerifyData(data, signature, hash, format);
    }

    private static bool VerifyDigitalSignature(X509Certificate2 peer, byte[] data, byte[] signedOctets)
    {
        if (data.Length < 2 || data[0] + 1 >= data.Length)
        {
            return false;
        }
        byte[] algorithm = data.AsSpan(1, data[0]).ToArray();
        byte[] signature = data.AsSpan(1 + data[0]).ToArray();
        var reader = new AsnReader(algorithm, AsnEncodingRules.DER);
        AsnReader sequence = reader.ReadSequence();
        string oid = sequence.ReadObjectIdentifier();
        switch (oid)
        {
            case "1.2.840.113549.1.1.5":
                return VerifyRsa(peer, signature, signedOctets, HashAlgorithmName.SHA1, RSASignaturePadding.Pkcs1);
            case "1.2.840.113549.1.1.11":
                return VerifyRsa(peer, signature, signedOctets, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            case "1.2.840.113549.1.1.12":
                return VerifyRsa(peer, signature, signedOctets, HashAlgorithmName.SHA384, RSASignaturePadding.Pkcs1);
            case "1.2.840.113549.1.1.13":
                return VerifyRsa(peer, signature, signedOctets, HashAlgorithmName.SHA512, RSASignaturePadding.Pkcs1);
            case OidRsaPss:
                {
                    // .NET verifies PSS with MGF1 over the same hash and salt = hash length: accept only that shape.
                    HashAlgorithmName? hash = PssHash(sequence);
                    return hash is not null && VerifyRsa(peer, signature, signedOctets, hash.Value, RSASignaturePadding.Pss);
                }
            case "1.2.840.10045.4.3.2":
                return VerifyEcdsa(peer, signature, signedOctets, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
            case "1.2.840.10045.4.3.3":
                return VerifyEcdsa(peer, signature, signedOctets, HashAlgorithmName.SHA384, DSASignatureFormat.Rfc3279DerSequence);
            case "1.2.840.10045.4.3.4":
                return VerifyEcdsa(peer, signature, signedOctets, HashAlgorithmName.SHA512, DSASignatureFormat.Rfc3279DerSequence);
            default:
                return false;
        }
    }

    private static HashAlgorithmName? PssHash(AsnReader algorithm)
    {
        AsnReader parameters = algorithm.ReadSequence();
        string hashOid = "1.3.14.3.2.26";
        string mgfHashOid = hashOid;
        int salt = 20;
        while (parameters.HasData)
        {
            Asn1Tag tag = parameters.PeekTag();
            AsnReader explicitTag = parameters.ReadSequence(tag);
            switch (tag.TagValue)
            {
                case 0:
                    hashOid = explicitTag.ReadSequence().ReadObjectIdentifier();
                    break;
                case 1:
                    AsnReader mgf = explicitTag.ReadSequence();
                    if (mgf.ReadObjectIdentifier() != OidMgf1)
                    {
                        return null;
                    }
                    mgfHashOid = mgf.ReadSequence().ReadObjectIdentifier();
                    break;
                case 2:
                    salt = (int)explicitTag.ReadInteger();
                    break;
                default:
                    break;
            }
        }
        (HashAlgorithmName Name, int Length)? hash = hashOid switch
        {
            OidSha256 => (HashAlgorithmName.SHA256, 32),
            OidSha384 => (HashAlgorithmName.SHA384, 48),
            OidSha512 => (HashAlgorithmName.SHA512, 64),
            _ => null,
        };
        return hash is not null && mgfHashOid == hashOid && salt == hash.Value.Length ? hash.Value.Name : null;
    }

    private static bool VerifyRsa(X509Certificate2 peer, byte[] signature, byte[] data, HashAlgorithmName hash, RSASignaturePadding padding)
    {
        using RSA? rsa = peer.GetRSAPublicKey();
        return rsa is not null && rsa.VerifyData(data, signature, hash, padding);
    }

    /// <summary>
    /// Validates <paramref name="leaf"/> against the configured CAs only (no system store, no revocation fetch):
    /// validity periods, a chain to a self-signed configured CA through intermediates the peer sent or that were
    /// configured, the end entity's (extended) key usage, and the configured CRLs. Returns null when valid, otherwise the reason.
    /// </summary>
    public static string? ValidateChain(X509Certificate2 leaf, IEnumerable<X509Certificate2> intermediates, X509Certificate2Collection trustedCas, IReadOnlyList<Identity.IkeCrl>? crls = null)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        foreach (X509Certificate2 ca in trustedCas)
        {
            // Only self-signed CAs anchor a chain; configured intermediates help build one.
            (ca.SubjectName.RawData.AsSpan().SequenceEqual(ca.IssuerName.RawData) ? chain.ChainPolicy.CustomTrustStore : chain.ChainPolicy.ExtraStore).Add(ca);
        }
        foreach (X509Certificate2 c in intermediates)
        {
            chain.ChainPolicy.ExtraStore.Add(c);
        }
        try
        {
            if (!chain.Build(leaf))
            {
                return string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).DefaultIfEmpty("chain does not end at a configured CA"));
            }
        }
        catch (CryptographicException e)
        {
            return e.Message;
        }
        return Identity.CertificateChecks.CheckEndEntityUsage(leaf) is string usage
            ? $"certificate '{Identity.CertificateChecks.Dn(leaf.SubjectName)}': {usage}"
            : Identity.CertificateChecks.CheckRevocation(chain, crls ?? []);
    }

    /// <summary>The peer's ID must name its certificate: subject DN, or a subjectAltName DNS name, IP address or e-mail.</summary>
    public static bool IdentityMatchesCertificate(IdPayload id, X509Certificate2 certificate)
    {
        X509SubjectAlternativeNameExtension? san = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault();
        switch (id.Type)
        {
            case IdType.DerAsn1Dn:
                return id.Data.AsSpan().SequenceEqual(certificate.SubjectName.RawData);
            case IdType.Fqdn:
                string name = Encoding.ASCII.GetString(id.Data);
                return san is not null && san.EnumerateDnsNames().Any(n => string.Equals(n, name, StringComparison.OrdinalIgnoreCase));
            case IdType.Ipv4Address or IdType.Ipv6Address:
                var address = new IPAddress(id.Data);
                return san is not null && san.EnumerateIPAddresses().Any(a => a.Equals(address));
            case IdType.Rfc822Address:
                string mail = Encoding.ASCII.GetString(id.Data);
                return certificate.GetNameInfo(X509NameType.EmailName, false).Equals(mail, StringComparison.OrdinalIgnoreCase);
            default:
                return false;
        }
    }

    /// <summary>CERTREQ data: the SHA-1 hashes of each trusted CA's SubjectPublicKeyInfo (RFC 7296 §3.7).</summary>
    public static byte[] CertificateRequestData(X509Certificate2Collection cas) =>
        [.. cas.SelectMany(ca => SHA1.HashData(ca.PublicKey.ExportSubjectPublicKeyInfo()))];
}
