using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Ippm.Security;

/// <summary>
/// How the RFC 7717 shared secret S = prf(SK_d, "IPPM") becomes the 16-octet key that encrypts the Token.
/// RFC 7717 does not say; both ends must agree, and nothing on the wire tells them apart (a mismatch shows
/// as Server-Start Accept=1).
/// </summary>
public enum Rfc7717KeyDerivation
{
    /// <summary>
    /// Interpretation A (default): S replaces the passphrase, dk = PBKDF2-HMAC-SHA1(S, Salt, Count, 16).
    /// RFC 7717 §5.1 substitutes only the shared secret, the greeting still carries Salt and Count, and
    /// PBKDF2 takes any length of S.
    /// </summary>
    Pbkdf2,

    /// <summary>Interpretation B: dk = the first 16 octets of S, used directly.</summary>
    Direct,
}

/// <summary>
/// An O/TWAMP shared secret derived from an IKEv2 SA (RFC 7717 §5): the SA's SPIs (which go into the KeyID)
/// and S = prf(SK_d, "IPPM"). S is zeroed on dispose.
/// </summary>
public sealed class Rfc7717Secret : IDisposable
{
    private readonly byte[] _secret;

    public Rfc7717Secret(ulong spiI, ulong spiR, ReadOnlySpan<byte> secret, Rfc7717KeyDerivation derivation)
    {
        if (secret.Length < 16)
        {
            throw new ArgumentException("prf(SK_d, \"IPPM\") is at least 16 octets.", nameof(secret));
        }
        SpiI = spiI;
        SpiR = spiR;
        _secret = secret.ToArray();
        Derivation = derivation;
    }

    public ulong SpiI { get; }
    public ulong SpiR { get; }
    public Rfc7717KeyDerivation Derivation { get; }

    /// <summary>The authenticated IKE identity of the peer the SA was set up with, for reports and logs.</summary>
    public string? PeerIdentity { get; init; }

    /// <summary>SPIi and SPIr as 16 hex digits each, in wire order.</summary>
    public string SpiIText => SpiI.ToString("x16", System.Globalization.CultureInfo.InvariantCulture);
    public string SpiRText => SpiR.ToString("x16", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>RFC 7717 §5.2 KeyID: SPIi (8) | SPIr (8) | 64 zero octets.</summary>
    public byte[] KeyId()
    {
        byte[] keyId = new byte[80];
        WriteSpis(keyId, SpiI, SpiR);
        return keyId;
    }

    public static void WriteSpis(Span<byte> keyId, ulong spiI, ulong spiR)
    {
        BinaryPrimitives.WriteUInt64BigEndian(keyId, spiI);
        BinaryPrimitives.WriteUInt64BigEndian(keyId[8..], spiR);
    }

    /// <summary>The server reads only the first 16 octets of the KeyID (RFC 7717 §5.2); the rest is ignored.</summary>
    public static (ulong SpiI, ulong SpiR) ReadSpis(ReadOnlySpan<byte> keyId) =>
        (BinaryPrimitives.ReadUInt64BigEndian(keyId), BinaryPrimitives.ReadUInt64BigEndian(keyId[8..]));

    /// <summary>The Token key dk for this greeting's Salt and Count.</summary>
    public byte[] DeriveTokenKey(ReadOnlySpan<byte> salt, uint count) => Derivation switch
    {
        Rfc7717KeyDerivation.Direct => _secret[..Token.DerivedKeyLength],
        _ => Token.DeriveKey(_secret, salt, count),
    };

    public void Dispose() => CryptographicOperations.ZeroMemory(_secret);
}
