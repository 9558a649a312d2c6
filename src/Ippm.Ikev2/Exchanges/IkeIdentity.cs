using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Ippm.Ikev2.Messages;

namespace Ippm.Ikev2.Exchanges;

/// <summary>Parsing and printing IKE identities the way strongSwan users write them.</summary>
public static class IkeIdentity
{
    /// <summary>An IP address → IPV4_ADDR/IPV6_ADDR, a string with '=' → DER_ASN1_DN, with '@' → RFC822_ADDR, else FQDN.</summary>
    public static IdPayload Parse(string text)
    {
        if (IPAddress.TryParse(text, out IPAddress? address))
        {
            return FromAddress(address);
        }
        if (text.Contains('=', StringComparison.Ordinal))
        {
            // strongSwan writes DNs in encoding order ("C=XX, O=..., CN=..."); .NET reverses the text order.
            string reversed = string.Join(", ", text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Reverse());
            return new IdPayload(IdType.DerAsn1Dn, new X500DistinguishedName(reversed).RawData);
        }
        return new IdPayload(text.Contains('@', StringComparison.Ordinal) ? IdType.Rfc822Address : IdType.Fqdn, Encoding.ASCII.GetBytes(text));
    }

    public static IdPayload FromAddress(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        return new IdPayload(address.AddressFamily == AddressFamily.InterNetwork ? IdType.Ipv4Address : IdType.Ipv6Address, address.GetAddressBytes());
    }

    public static IdPayload FromCertificate(X509Certificate2 certificate) => new(IdType.DerAsn1Dn, certificate.SubjectName.RawData);

    public static bool AreEqual(IdPayload a, IdPayload b) => a.Type == b.Type && a.Data.AsSpan().SequenceEqual(b.Data);

    /// <summary>The ID as strongSwan prints it; peer-chosen octets are made fit for a log line (control characters become '?', at most 256 characters).</summary>
    public static string Format(IdPayload id)
    {
        string text = FormatRaw(id);
        if (text.Length > 256)
        {
            text = text[..256] + "…";
        }
        return string.Create(text.Length, text, static (span, source) =>
        {
            for (int i = 0; i < source.Length; i++)
            {
                span[i] = char.IsControl(source[i]) ? '?' : source[i];
            }
        });
    }

    private static string FormatRaw(IdPayload id)
    {
        try
        {
            return id.Type switch
            {
                IdType.Ipv4Address when id.Data.Length == 4 => new IPAddress(id.Data).ToString(),
                IdType.Ipv6Address when id.Data.Length == 16 => new IPAddress(id.Data).ToString(),
                IdType.Fqdn or IdType.Rfc822Address => Encoding.ASCII.GetString(id.Data),
                IdType.DerAsn1Dn => string.Join(", ", new X500DistinguishedName(id.Data).Name.Split(", ").Reverse()),
                _ => $"{id.Type}:{Convert.ToHexStringLower(id.Data)}",
            };
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            return $"{id.Type}:{Convert.ToHexStringLower(id.Data)}";
        }
    }
}
