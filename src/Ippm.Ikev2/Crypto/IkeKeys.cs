using System.Buffers.Binary;
using System.Security.Cryptography;
using Ippm.Ikev2.Messages;

namespace Ippm.Ikev2.Crypto;

/// <summary>
/// The seven keys of an IKE SA (RFC 7296 §2.14), cut in order from prf+(SKEYSEED, Ni | Nr | SPIi | SPIr).
/// Zeroed on dispose.
/// </summary>
public sealed class IkeKeys : IDisposable
{
    private IkeKeys(byte[] d, byte[] ai, byte[] ar, byte[] ei, byte[] er, byte[] pi, byte[] pr)
    {
        SkD = d;
        SkAi = ai;
        SkAr = ar;
        SkEi = ei;
        SkEr = er;
        SkPi = pi;
        SkPr = pr;
    }

    public byte[] SkD { get; }
    public byte[] SkAi { get; }
    public byte[] SkAr { get; }
    public byte[] SkEi { get; }
    public byte[] SkEr { get; }
    public byte[] SkPi { get; }
    public byte[] SkPr { get; }

    /// <summary>SKEYSEED = prf(Ni | Nr, g^ir): the nonce bodies are the key.</summary>
    public static byte[] ComputeSkeyseed(PrfId prf, ReadOnlySpan<byte> ni, ReadOnlySpan<byte> nr, ReadOnlySpan<byte> sharedSecret)
    {
        byte[] key = [.. ni, .. nr];
        try
        {
            return Prf.Compute(prf, key, sharedSecret);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>RFC 7296 §2.18 rekey: SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr).</summary>
    public static byte[] ComputeRekeySkeyseed(PrfId oldPrf, ReadOnlySpan<byte> oldSkD, byte[] sharedSecret, byte[] ni, byte[] nr) =>
        Prf.Compute(oldPrf, oldSkD, sharedSecret, ni, nr);

    public static IkeKeys Derive(IkeSuite suite, ReadOnlySpan<byte> skeyseed, ReadOnlySpan<byte> ni, ReadOnlySpan<byte> nr, ulong spiI, ulong spiR)
    {
        int prfLength = Prf.OutputLength(suite.Prf);
        int integ = suite.IsAead ? 0 : suite.IntegrityKeyLength;
        int encr = suite.EncryptionKeyLength;
        int total = (3 * prfLength) + (2 * integ) + (2 * encr);
        byte[] seed = new byte[ni.Length + nr.Length + 16];
        ni.CopyTo(seed);
        nr.CopyTo(seed.AsSpan(ni.Length));
        BinaryPrimitives.WriteUInt64BigEndian(seed.AsSpan(ni.Length + nr.Length), spiI);
        BinaryPrimitives.WriteUInt64BigEndian(seed.AsSpan(ni.Length + nr.Length + 8), spiR);
        byte[] stream = Prf.PrfPlus(suite.Prf, skeyseed, seed, total);
        try
        {
            int offset = 0;
            byte[] Take(int n)
            {
                byte[] key = stream.AsSpan(offset, n).ToArray();
                offset += n;
                return key;
            }
            return new IkeKeys(Take(prfLength), Take(integ), Take(integ), Take(encr), Take(encr), Take(prfLength), Take(prfLength));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(stream);
            CryptographicOperations.ZeroMemory(seed);
        }
    }

    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(SkD);
        CryptographicOperations.ZeroMemory(SkAi);
        CryptographicOperations.ZeroMemory(SkAr);
        CryptographicOperations.ZeroMemory(SkEi);
        CryptographicOperations.ZeroMemory(SkEr);
        CryptographicOperations.ZeroMemory(SkPi);
        CryptographicOperations.ZeroMemory(SkPr);
    }
}
