using System.Security.Cryptography;

namespace Ippm.Security;

/// <summary>
/// STAMP integrity protection (RFC 8762 §4.4, RFC 8972 §4.8): HMAC-SHA-256 truncated to 128 bits.
/// The base packet's HMAC (octets 96–111) covers its first six 16-octet blocks (octets 0–95), in both
/// directions. The HMAC TLV covers the base packet's Sequence Number followed by every TLV before it.
/// Key management is outside both RFCs; ippm takes the key octets from a key file (see StampKeyStore).
/// Verification compares in constant time. Not thread-safe: one instance per thread.
/// </summary>
public sealed class StampAuthenticator : IDisposable
{
    public const int MacLength = 16;
    public const int CoveredLength = 96;

    private readonly byte[] _key;
    private readonly IncrementalHash _tlvHmac;

    public StampAuthenticator(ReadOnlySpan<byte> key)
    {
        if (key.IsEmpty)
        {
            throw new ArgumentException("A STAMP key must not be empty.", nameof(key));
        }
        _key = key.ToArray();
        _tlvHmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _key);
    }

    /// <summary>Writes the HMAC of octets 0–95 into octets 96–111.</summary>
    public void Sign(Span<byte> packet)
    {
        Span<byte> full = stackalloc byte[32];
        HMACSHA256.HashData(_key, packet[..CoveredLength], full);
        full[..MacLength].CopyTo(packet[CoveredLength..]);
    }

    /// <summary>True when octets 96–111 are the HMAC of octets 0–95 (constant-time compare).</summary>
    public bool Verify(ReadOnlySpan<byte> packet)
    {
        if (packet.Length < CoveredLength + MacLength)
        {
            return false;
        }
        Span<byte> full = stackalloc byte[32];
        HMACSHA256.HashData(_key, packet[..CoveredLength], full);
        return CryptographicOperations.FixedTimeEquals(full[..MacLength], packet.Slice(CoveredLength, MacLength));
    }

    /// <summary>The HMAC TLV value (RFC 8972 §4.8): over the Sequence Number (octets 0–3) and the TLVs before the HMAC TLV.</summary>
    public void ComputeTlvMac(ReadOnlySpan<byte> sequenceNumber, ReadOnlySpan<byte> precedingTlvs, Span<byte> mac)
    {
        _tlvHmac.AppendData(sequenceNumber[..4]);
        _tlvHmac.AppendData(precedingTlvs);
        Span<byte> full = stackalloc byte[32];
        _tlvHmac.GetHashAndReset(full);
        full[..MacLength].CopyTo(mac);
    }

    public bool VerifyTlvMac(ReadOnlySpan<byte> sequenceNumber, ReadOnlySpan<byte> precedingTlvs, ReadOnlySpan<byte> mac)
    {
        if (mac.Length != MacLength)
        {
            return false;
        }
        Span<byte> expected = stackalloc byte[MacLength];
        ComputeTlvMac(sequenceNumber, precedingTlvs, expected);
        return CryptographicOperations.FixedTimeEquals(expected, mac);
    }

    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(_key);
        _tlvHmac.Dispose();
    }
}
