using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Ippm.Ikev2.Identity;

/// <summary>
/// An X.509 CRL (RFC 5280 §5) read from a file the operator configured (<c>--ike-crl</c>): its issuer, validity and
/// revoked serial numbers. Its signature is checked against the issuing CA of the chain it is applied to.
/// </summary>
public sealed class IkeCrl
{
    private readonly byte[] _tbs;
    private readonly string _signatureOid;
    private readonly byte[] _signature;
    private readonly HashSet<string> _revoked;

    private IkeCrl(byte[] issuer, DateTimeOffset thisUpdate, DateTimeOffset? nextUpdate, HashSet<string> revoked, byte[] tbs, string signatureOid, byte[] signature)
    {
        Issuer = new X500DistinguishedName(issuer);
        ThisUpdate = thisUpdate;
        NextUpdate = nextUpdate;
        _revoked = revoked;
        _tbs = tbs;
        _signatureOid = signatureOid;
        _signature = signature;
    }

    public X500DistinguishedName Issuer { get; }
    public DateTimeOffset ThisUpdate { get; }
    public DateTimeOffset? NextUpdate { get; }
    public int RevokedCount => _revoked.Count;

    /// <summary>Every CRL in a PEM file (<c>-----BEGIN X509 CRL-----</c>) or the one CRL of a DER file.</summary>
    public static IReadOnlyList<IkeCrl> Load(string path)
    {
        byte[] content = File.ReadAllBytes(path);
        string text = System.Text.Encoding.ASCII.GetString(content);
        if (!text.Contains("-----BEGIN", StringComparison.Ordinal))
        {
            return [Decode(content)];
        }
        var crls = new List<IkeCrl>();
        ReadOnlySpan<char> rest = text;
        while (PemEncoding.TryFind(rest, out PemFields fields))
        {
            if (rest[fields.Label].SequenceEqual("X509 CRL"))
            {
                crls.Add(Decode(Convert.FromBase64String(rest[fields.Base64Data].ToString())));
            }
            rest = rest[fields.Location.End..];
        }
        return crls.Count > 0 ? crls : throw new FormatException($"{path}: no X509 CRL found.");
    }

    /// <summary>Decodes a DER CertificateList; throws <see cref="FormatException"/> on anything else.</summary>
    public static IkeCrl Decode(byte[] der)
    {
        try
        {
            var outer = new AsnReader(der, AsnEncodingRules.DER).ReadSequence();
            byte[] tbs = outer.ReadEncodedValue().ToArray();
            string signatureOid = outer.ReadSequence().ReadObjectIdentifier();
            byte[] signature = outer.ReadBitString(out _);
            var t = new AsnReader(tbs, AsnEncodingRules.DER).ReadSequence();
            if (t.PeekTag().HasSameClassAndValue(Asn1Tag.Integer))
            {
                t.ReadInteger();
            }
            t.ReadSequence();
            byte[] issuer = t.ReadEncodedValue().ToArray();
            DateTimeOffset thisUpdate = ReadTime(t);
            DateTimeOffset? nextUpdate = null;
            if (t.HasData && IsTime(t.PeekTag()))
            {
                nextUpdate = ReadTime(t);
            }
            var revoked = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            if (t.HasData && t.PeekTag().HasSameClassAndValue(Asn1Tag.Sequence))
            {
                AsnReader entries = t.ReadSequence();
                while (entries.HasData)
                {
                    AsnReader entry = entries.ReadSequence();
                    revoked.Add(Convert.ToHexString(entry.ReadIntegerBytes().Span));
                }
            }
            return new IkeCrl(issuer, thisUpdate, nextUpdate, revoked, tbs, signatureOid, signature);
        }
        catch (Exception e) when (e is AsnContentException or CryptographicException)
        {
            throw new FormatException($"not a DER X.509 CRL: {e.Message}", e);
        }
    }

    private static bool IsTime(Asn1Tag tag) => tag.HasSameClassAndValue(Asn1Tag.UtcTime) || tag.HasSameClassAndValue(Asn1Tag.GeneralizedTime);

    private static DateTimeOffset ReadTime(AsnReader reader) =>
        reader.PeekTag().HasSameClassAndValue(Asn1Tag.UtcTime) ? reader.ReadUtcTime() : reader.ReadGeneralizedTime();

    /// <summary>Whether <paramref name="certificate"/>'s serial number is listed (the caller matched the issuer).</summary>
    public bool Lists(X509Certificate2 certificate) => _revoked.Contains(certificate.SerialNumber);

    /// <summary>Verifies the CRL's signature with the issuing CA's public key (RSA PKCS#1 v1.5 or ECDSA).</summary>
    public bool IsSignedBy(X509Certificate2 issuer)
    {
        try
        {
            (HashAlgorithmName hash, bool rsa)? algorithm = _signatureOid switch
            {
                "1.2.840.113549.1.1.5" => (HashAlgorithmName.SHA1, true),
                "1.2.840.113549.1.1.11" => (HashAlgorithmName.SHA256, true),
                "1.2.840.113549.1.1.12" => (HashAlgorithmName.SHA384, true),
                "1.2.840.113549.1.1.13" => (HashAlgorithmName.SHA512, true),
                "1.2.840.10045.4.3.2" => (HashAlgorithmName.SHA256, false),
                "1.2.840.10045.4.3.3" => (HashAlgorithmName.SHA384, false),
                "1.2.840.10045.4.3.4" => (HashAlgorithmName.SHA512, false),
                _ => null,
            };
            if (algorithm is not { } a)
            {
                return false;
            }
            if (a.rsa)
            {
                using RSA? key = issuer.GetRSAPublicKey();
                return key is not null && key.VerifyData(_tbs, _signature, a.hash, RSASignaturePadding.Pkcs1);
            }
            using ECDsa? ec = issuer.GetECDsaPublicKey();
            return ec is not null && ec.VerifyData(_tbs, _signature, a.hash, DSASignatureFormat.Rfc3279DerSequence);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }
}
