using System.Security.Cryptography;
using Ippm.Ikev2.Messages;

namespace Ippm.Ikev2.Crypto.Modp;

/// <summary>
/// A MODP Diffie-Hellman group (RFC 3526): the prime p (big-endian, <see cref="Length"/> octets), generator 2, the
/// private-exponent size, and the peer-value check. Only group 14 is negotiated by ippm today.
/// </summary>
internal sealed class ModpGroup
{
    /// <summary>MODP group 14, 2048 bits (RFC 3526 §3).</summary>
    public static readonly ModpGroup Group14 = new(
        DhGroup.Modp2048,
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD" +
        "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED" +
        "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F" +
        "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B" +
        "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510" +
        "15728E5A8AACAA68FFFFFFFFFFFFFFFF",
        // RFC 3526 §8 table: exponents of at least 220 bits (strength estimate 1, 110 bits) or 320 bits (estimate 2,
        // 160 bits) for this group; we take estimate 2.
        exponentBits: 320);

    private readonly byte[] _prime;
    private readonly byte[] _primeMinusOne;
    private readonly byte[] _generator;

    private ModpGroup(DhGroup id, string primeHex, int exponentBits)
    {
        Id = id;
        _prime = Convert.FromHexString(primeHex);
        _primeMinusOne = (byte[])_prime.Clone();
        _primeMinusOne[^1]--; // p is odd, so no borrow.
        _generator = new byte[_prime.Length];
        _generator[^1] = 2;
        ExponentBits = exponentBits;
    }

    public DhGroup Id { get; }

    /// <summary>Octets of p, of a public value and of the shared secret (RFC 7296 §3.4: padded with leading zeros).</summary>
    public int Length => _prime.Length;

    public int ExponentBits { get; }

    public ReadOnlySpan<byte> Prime => _prime;

    /// <summary>The generator 2 as <see cref="Length"/> big-endian octets.</summary>
    public ReadOnlySpan<byte> Generator => _generator;

    public static ModpGroup? For(DhGroup id) => id == DhGroup.Modp2048 ? Group14 : null;

    /// <summary>
    /// The peer's public value y must be <see cref="Length"/> octets with 1 &lt; y &lt; p-1 (RFC 7296 §3.4 length;
    /// RFC 6989 §2.1 and NIST SP 800-56A rev. 3 §5.6.2.3.2 partial check): 0, 1 and p-1 give a predictable secret.
    /// y is public, so this comparison need not be constant-time.
    /// </summary>
    public bool IsValidPeerValue(ReadOnlySpan<byte> y)
    {
        if (y.Length != Length)
        {
            return false;
        }
        int firstNonZero = y.IndexOfAnyExcept((byte)0);
        if (firstNonZero < 0 || (firstNonZero == Length - 1 && y[^1] == 1))
        {
            return false;
        }
        return y.SequenceCompareTo(_primeMinusOne) < 0;
    }

    /// <summary>
    /// A fresh private exponent of exactly <see cref="ExponentBits"/> bits (top bit set, as OpenSSL's DH does, so its
    /// length leaks nothing), from <see cref="RandomNumberGenerator"/>, in a pinned array the caller zeroes.
    /// </summary>
    public byte[] NewPrivateExponent()
    {
        byte[] exponent = GC.AllocateUninitializedArray<byte>((ExponentBits + 7) / 8, pinned: true);
        RandomNumberGenerator.Fill(exponent);
        int spare = exponent.Length * 8 - ExponentBits;
        exponent[0] = (byte)((exponent[0] & (0xFF >> spare)) | (0x80 >> spare));
        return exponent;
    }
}
