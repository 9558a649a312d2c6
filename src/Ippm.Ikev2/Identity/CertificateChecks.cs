using System.Security.Cryptography.X509Certificates;

namespace Ippm.Ikev2.Identity;

/// <summary>
/// What an IKE peer certificate must satisfy beyond a chain to a configured CA (RFC 4945 §5.1.3): key usage and
/// extended key usage where present, and the operator's CRLs.
/// </summary>
public static class CertificateChecks
{
    /// <summary>RFC 4945 §5.1.3.12 id-kp-ipsecIKE.</summary>
    public const string IpsecIkeOid = "1.3.6.1.5.5.7.3.17";
    public const string AnyExtendedKeyUsageOid = "2.5.29.37.0";
    public const string ServerAuthOid = "1.3.6.1.5.5.7.3.1";
    public const string ClientAuthOid = "1.3.6.1.5.5.7.3.2";

    /// <summary>
    /// EKUs an IKE end-entity certificate may carry. RFC 4945 §5.1.3.12 names ipsecIKE and anyExtendedKeyUsage;
    /// deployed practice (strongSwan's and Windows' guides) issues serverAuth/clientAuth certificates, and
    /// strongSwan accepts them, so ippm does too. A certificate limited to other purposes (e-mail, code signing) is refused.
    /// </summary>
    private static readonly HashSet<string> s_ikeUsages = [IpsecIkeOid, AnyExtendedKeyUsageOid, ServerAuthOid, ClientAuthOid, "1.3.6.1.5.5.8.2.2"];

    /// <summary>Null when the end-entity certificate may sign IKE AUTH payloads, otherwise why not.</summary>
    public static string? CheckEndEntityUsage(X509Certificate2 certificate)
    {
        if (certificate.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault() is { } keyUsage
            && (keyUsage.KeyUsages & (X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.NonRepudiation)) == 0)
        {
            // RFC 4945 §5.1.3.2: digitalSignature or nonRepudiation (or both) must be set when keyUsage is present.
            return $"its key usage ({keyUsage.KeyUsages}) allows neither digitalSignature nor nonRepudiation";
        }
        if (certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().FirstOrDefault() is { } eku)
        {
            string[] oids = [.. eku.EnhancedKeyUsages.Cast<System.Security.Cryptography.Oid>().Select(o => o.Value ?? "")];
            if (!oids.Any(s_ikeUsages.Contains))
            {
                return $"its extended key usage ({string.Join(", ", oids)}) allows none of ipsecIKE, serverAuth, clientAuth, anyExtendedKeyUsage";
            }
        }
        return null;
    }

    /// <summary>
    /// Checks every certificate of a built chain against the CRLs of its issuer. A certificate whose issuer has no
    /// configured CRL is not checked (strongSwan's default, strictcrlpolicy=no); a CRL past its nextUpdate still
    /// revokes what it lists. A CRL that names the issuer but does not verify with its key is an error.
    /// </summary>
    public static string? CheckRevocation(X509Chain chain, IReadOnlyList<IkeCrl> crls)
    {
        if (crls.Count == 0)
        {
            return null;
        }
        X509ChainElementCollection elements = chain.ChainElements;
        for (int i = 0; i + 1 < elements.Count; i++)
        {
            X509Certificate2 subject = elements[i].Certificate;
            X509Certificate2 issuer = elements[i + 1].Certificate;
            foreach (IkeCrl crl in crls.Where(c => c.Issuer.RawData.AsSpan().SequenceEqual(subject.IssuerName.RawData)))
            {
                if (!crl.IsSignedBy(issuer))
                {
                    return $"the configured CRL of '{Dn(issuer.SubjectName)}' does not verify with that CA's key";
                }
                if (crl.Lists(subject))
                {
                    return $"certificate '{Dn(subject.SubjectName)}' (serial {subject.SerialNumber}) is revoked by the CRL of '{Dn(issuer.SubjectName)}'";
                }
            }
        }
        return null;
    }

    /// <summary>A DN in strongSwan's order (encoding order), as identities are printed everywhere else.</summary>
    public static string Dn(X500DistinguishedName name) => Exchanges.IkeIdentity.Format(new Messages.IdPayload(Messages.IdType.DerAsn1Dn, name.RawData));
}
