using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Ippm.Ikev2.Exchanges;
using Ippm.Ikev2.Messages;

namespace Ippm.Ikev2.Identity;

/// <summary>
/// Who an authenticated peer is: the ID payload it sent and, with certificate authentication, every name its
/// CA-verified certificate carries (subject DN and subjectAltName dNSName, iPAddress, rfc822Name). Policy matches
/// any of them, as strongSwan matches <c>remote.id</c> against the ID or the certificate's subjectAltNames.
/// </summary>
public sealed class IkePeerIdentity
{
    public IkePeerIdentity(IdPayload id, IReadOnlyList<IdPayload> certified)
    {
        Id = id;
        Certified = certified;
    }

    /// <summary>The IDi or IDr payload the peer sent (verified by its AUTH).</summary>
    public IdPayload Id { get; }

    /// <summary>Names from the peer's verified certificate; empty with a pre-shared key.</summary>
    public IReadOnlyList<IdPayload> Certified { get; }

    public static IkePeerIdentity FromSharedKey(IdPayload id) => new(id, []);

    public static IkePeerIdentity FromCertificate(IdPayload id, X509Certificate2 certificate)
    {
        var names = new List<IdPayload>();
        if (certificate.SubjectName.RawData.Length > 2)
        {
            names.Add(new IdPayload(IdType.DerAsn1Dn, certificate.SubjectName.RawData));
        }
        if (certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault() is { } san)
        {
            names.AddRange(san.EnumerateDnsNames().Select(n => new IdPayload(IdType.Fqdn, Encoding.ASCII.GetBytes(n))));
            names.AddRange(san.EnumerateIPAddresses().Select(IkeIdentity.FromAddress));
        }
        string mail = certificate.GetNameInfo(X509NameType.EmailName, false);
        if (mail.Length > 0)
        {
            names.Add(new IdPayload(IdType.Rfc822Address, Encoding.ASCII.GetBytes(mail)));
        }
        return new IkePeerIdentity(id, names);
    }

    /// <summary>The ID as strongSwan prints it, e.g. <c>C=XX, O=Example, CN=server.test</c> or <c>192.0.2.1</c>.</summary>
    public override string ToString() => IkeIdentity.Format(Id);

    /// <summary>The ID plus the certificate's subjectAltNames, for messages that must say who the peer really is.</summary>
    public string Describe()
    {
        string[] alternatives = [.. Certified.Where(n => n.Type != IdType.DerAsn1Dn && !IkeIdentity.AreEqual(n, Id)).Select(Prefixed)];
        return alternatives.Length == 0 ? ToString() : $"{this} (certificate names {string.Join(", ", alternatives)})";
    }

    private static string Prefixed(IdPayload id) => id.Type switch
    {
        IdType.Fqdn => "DNS:" + IkeIdentity.Format(id),
        IdType.Ipv4Address or IdType.Ipv6Address => "IP:" + IkeIdentity.Format(id),
        IdType.Rfc822Address => "email:" + IkeIdentity.Format(id),
        _ => IkeIdentity.Format(id),
    };

    internal static bool IsAddress(IdPayload id, out IPAddress? address)
    {
        address = id.Type switch
        {
            IdType.Ipv4Address when id.Data.Length == 4 => new IPAddress(id.Data),
            IdType.Ipv6Address when id.Data.Length == 16 => new IPAddress(id.Data),
            _ => null,
        };
        return address is not null;
    }
}
