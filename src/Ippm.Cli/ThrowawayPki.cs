using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Ippm.Cli;

/// <summary>A CA and two end-entity certificates that live only in memory, for <c>ippm demo</c>.</summary>
internal sealed class ThrowawayPki : IDisposable
{
    private ThrowawayPki(X509Certificate2 ca, X509Certificate2 server, X509Certificate2 client)
    {
        Ca = ca;
        Server = server;
        Client = client;
    }

    public X509Certificate2 Ca { get; }
    public X509Certificate2 Server { get; }
    public X509Certificate2 Client { get; }

    public static ThrowawayPki Create()
    {
        using ECDsa caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=ippm demo CA (throwaway)", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        DateTimeOffset now = DateTimeOffset.UtcNow;
        X509Certificate2 ca = caRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddHours(1));
        return new ThrowawayPki(ca, Issue(ca, caKey, ServerName, "1.3.6.1.5.5.7.3.1", loopback: true), Issue(ca, caKey, ClientName, "1.3.6.1.5.5.7.3.2", loopback: false));
    }

    public const string ServerName = "server.ippm-demo";
    public const string ClientName = "client.ippm-demo";

    /// <summary>The name as subject CN and dNSName, the loopback addresses as iPAddress for the server (so HOST 127.0.0.1 or ::1 matches), and an EKU.</summary>
    private static X509Certificate2 Issue(X509Certificate2 ca, ECDsa caKey, string name, string eku, bool loopback)
    {
        using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + name, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(eku)], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        if (loopback)
        {
            san.AddIpAddress(System.Net.IPAddress.Loopback);
            san.AddIpAddress(System.Net.IPAddress.IPv6Loopback);
        }
        request.CertificateExtensions.Add(san.Build());
        DateTimeOffset now = DateTimeOffset.UtcNow;
        byte[] serial = RandomNumberGenerator.GetBytes(12);
        using X509Certificate2 issued = request.Create(ca.SubjectName, X509SignatureGenerator.CreateForECDsa(caKey), now.AddMinutes(-5), now.AddHours(1), serial);
        return issued.CopyWithPrivateKey(key);
    }

    public void Dispose()
    {
        Ca.Dispose();
        Server.Dispose();
        Client.Dispose();
    }
}
