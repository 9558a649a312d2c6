using System.Net;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Ippm.Tests.Identity;

/// <summary>What an end-entity certificate of <see cref="TestPki"/> carries.</summary>
internal sealed record CertificateSpec
{
    public string[] DnsNames { get; init; } = [];
    public IPAddress[] Addresses { get; init; } = [];

    /// <summary>Null: no EKU extension.</summary>
    public string[]? Ekus { get; init; } = [TestPki.IkeEku];

    /// <summary>Null: no keyUsage extension.</summary>
    public X509KeyUsageFlags? KeyUsage { get; init; } = X509KeyUsageFlags.DigitalSignature;
    public DateTimeOffset NotBefore { get; init; } = DateTimeOffset.UtcNow.AddDays(-1);
    public DateTimeOffset NotAfter { get; init; } = DateTimeOffset.UtcNow.AddDays(30);

    /// <summary>Signed by the intermediate CA instead of the root.</summary>
    public bool ViaIntermediate { get; init; }

    /// <summary>Signed by an unrelated root.</summary>
    public bool ByOtherCa { get; init; }
}

/// <summary>
/// A PKI made by the tests themselves with CertificateRequest: a root CA, an intermediate CA under it, an unrelated
/// root, end-entity certificates with chosen names, validity, key usage and EKU, and CRLs built with
/// CertificateRevocationListBuilder.
/// </summary>
internal sealed class TestPki : IDisposable
{
    public const string IkeEku = "1.3.6.1.5.5.7.3.17";
    public const string ServerAuthEku = "1.3.6.1.5.5.7.3.1";
    public const string ClientAuthEku = "1.3.6.1.5.5.7.3.2";
    public const string EmailEku = "1.3.6.1.5.5.7.3.4";

    private readonly List<IDisposable> _owned = [];

    public TestPki()
    {
        Root = MakeCa("C=XX, O=ippm tests, CN=ippm test root", null);
        OtherRoot = MakeCa("C=XX, O=somebody else, CN=other root", null);
        Intermediate = MakeCa("C=XX, O=ippm tests, CN=ippm test intermediate", Root);
    }

    /// <summary>Root CA, with its private key (for CRLs).</summary>
    public X509Certificate2 Root { get; }
    public X509Certificate2 OtherRoot { get; }
    public X509Certificate2 Intermediate { get; }

    /// <summary>An end-entity certificate with its key, subject "C=XX, O=ippm tests, CN=<paramref name="name"/>", dNSName <paramref name="name"/> unless the spec names others.</summary>
    public X509Certificate2 Issue(string name, CertificateSpec? spec = null)
    {
        spec ??= new CertificateSpec();
        X509Certificate2 issuer = spec.ByOtherCa ? OtherRoot : spec.ViaIntermediate ? Intermediate : Root;
        using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(Dn($"C=XX, O=ippm tests, CN={name}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        if (spec.KeyUsage is X509KeyUsageFlags usage)
        {
            request.CertificateExtensions.Add(new X509KeyUsageExtension(usage, true));
        }
        if (spec.Ekus is string[] ekus)
        {
            var oids = new OidCollection();
            foreach (string oid in ekus)
            {
                oids.Add(new Oid(oid));
            }
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(oids, false));
        }
        var san = new SubjectAlternativeNameBuilder();
        foreach (string dns in spec.DnsNames.Length > 0 ? spec.DnsNames : [name])
        {
            san.AddDnsName(dns);
        }
        foreach (IPAddress address in spec.Addresses)
        {
            san.AddIpAddress(address);
        }
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        DateTimeOffset notAfter = spec.NotAfter < issuer.NotAfter ? spec.NotAfter : issuer.NotAfter.AddMinutes(-1);
        DateTimeOffset notBefore = spec.NotBefore > issuer.NotBefore ? spec.NotBefore : issuer.NotBefore.AddMinutes(1);
        using X509Certificate2 issued = request.Create(issuer, notBefore, notAfter, RandomNumberGenerator.GetBytes(12));
        X509Certificate2 withKey = issued.CopyWithPrivateKey(key);
        _owned.Add(withKey);
        return withKey;
    }

    /// <summary>A DER CRL of <paramref name="issuer"/> (which holds its private key) listing <paramref name="revoked"/>.</summary>
    public static byte[] Crl(X509Certificate2 issuer, params X509Certificate2[] revoked)
    {
        var builder = new CertificateRevocationListBuilder();
        foreach (X509Certificate2 c in revoked)
        {
            builder.AddEntry(c, DateTimeOffset.UtcNow.AddMinutes(-5), X509RevocationReason.KeyCompromise);
        }
        return builder.Build(issuer, BigInteger.One, DateTimeOffset.UtcNow.AddDays(7), HashAlgorithmName.SHA256);
    }

    public static string CrlPem(byte[] der) => PemEncoding.WriteString("X509 CRL", der);

    /// <summary>Writes NAME.crt (PEM, followed by <paramref name="chain"/>) and NAME.key (PKCS#8 PEM).</summary>
    public static void Write(string directory, string name, X509Certificate2 certificate, params X509Certificate2[] chain)
    {
        File.WriteAllText(Path.Combine(directory, name + ".crt"), string.Concat(new[] { certificate }.Concat(chain).Select(c => c.ExportCertificatePem() + "\n")));
        using ECDsa key = certificate.GetECDsaPrivateKey()!;
        File.WriteAllText(Path.Combine(directory, name + ".key"), key.ExportPkcs8PrivateKeyPem());
    }

    public void Dispose()
    {
        foreach (IDisposable d in _owned)
        {
            d.Dispose();
        }
    }

    private X509Certificate2 MakeCa(string name, X509Certificate2? parent)
    {
        using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(Dn(name), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, parent is not null, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        X509Certificate2 ca;
        if (parent is null)
        {
            ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-30), DateTimeOffset.UtcNow.AddDays(365));
        }
        else
        {
            request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(parent, true, false));
            using X509Certificate2 issued = request.Create(parent, DateTimeOffset.UtcNow.AddDays(-20), DateTimeOffset.UtcNow.AddDays(300), RandomNumberGenerator.GetBytes(12));
            ca = issued.CopyWithPrivateKey(key);
        }
        _owned.Add(ca);
        return ca;
    }

    /// <summary>strongSwan order ("C=XX, O=.., CN=..") to .NET's X500 text order.</summary>
    public static X500DistinguishedName Dn(string strongSwanOrder) =>
        new(string.Join(", ", strongSwanOrder.Split(',', StringSplitOptions.TrimEntries).Reverse()));
}
