using System.Security.Cryptography;
using Ippm.Ikev2.Messages;

namespace Ippm.Ikev2.Crypto;

/// <summary>RFC 7296 §2.13 pseudorandom functions (HMAC based) and prf+.</summary>
public static class Prf
{
    public static HashAlgorithmName HashOf(PrfId prf) => prf switch
    {
        PrfId.HmacSha1 => HashAlgorithmName.SHA1,
        PrfId.HmacSha256 => HashAlgorithmName.SHA256,
        PrfId.HmacSha384 => HashAlgorithmName.SHA384,
        PrfId.HmacSha512 => HashAlgorithmName.SHA512,
        _ => throw new ArgumentOutOfRangeException(nameof(prf), prf, "Unsupported PRF."),
    };

    public static bool IsSupported(PrfId prf) => prf is PrfId.HmacSha1 or PrfId.HmacSha256 or PrfId.HmacSha384 or PrfId.HmacSha512;

    /// <summary>Output length, which for the HMAC PRFs is also the preferred key length (SK_d, SK_pi, SK_pr).</summary>
    public static int OutputLength(PrfId prf) => prf switch
    {
        PrfId.HmacSha1 => 20,
        PrfId.HmacSha256 => 32,
        PrfId.HmacSha384 => 48,
        PrfId.HmacSha512 => 64,
        _ => throw new ArgumentOutOfRangeException(nameof(prf), prf, "Unsupported PRF."),
    };

    public static string Name(PrfId prf) => prf switch
    {
        PrfId.HmacSha1 => "PRF_HMAC_SHA1",
        PrfId.HmacSha256 => "PRF_HMAC_SHA2_256",
        PrfId.HmacSha384 => "PRF_HMAC_SHA2_384",
        PrfId.HmacSha512 => "PRF_HMAC_SHA2_512",
        _ => $"PRF_{(ushort)prf}",
    };

    public static byte[] Compute(PrfId prf, ReadOnlySpan<byte> key, ReadOnlySpan<byte> data)
    {
        using IncrementalHash hmac = IncrementalHash.CreateHMAC(HashOf(prf), key);
        hmac.AppendData(data);
        return hmac.GetHashAndReset();
    }

    /// <summary>prf over the concatenation of several parts, without copying them together.</summary>
    public static byte[] Compute(PrfId prf, ReadOnlySpan<byte> key, params ReadOnlySpan<byte[]> parts)
    {
        using IncrementalHash hmac = IncrementalHash.CreateHMAC(HashOf(prf), key);
        foreach (byte[] part in parts)
        {
            hmac.AppendData(part);
        }
        return hmac.GetHashAndReset();
    }

    /// <summary>
    /// RFC 7296 §2.13: prf+ (K,S) = T1 | T2 | T3 | ..., T1 = prf (K, S | 0x01), Tn = prf (K, Tn-1 | S | n).
    /// </summary>
    public static byte[] PrfPlus(PrfId prf, ReadOnlySpan<byte> key, ReadOnlySpan<byte> seed, int length)
    {
        int blockLength = OutputLength(prf);
        if (length <= 0 || length > 255 * blockLength)
        {
            throw new ArgumentOutOfRangeException(nameof(length));
        }
        byte[] output = new byte[length];
        using IncrementalHash hmac = IncrementalHash.CreateHMAC(HashOf(prf), key);
        Span<byte> previous = stackalloc byte[64];
        int previousLength = 0;
        Span<byte> counter = stackalloc byte[1];
        try
        {
            for (int n = 1, offset = 0; offset < length; n++)
            {
                hmac.AppendData(previous[..previousLength]);
                hmac.AppendData(seed);
                counter[0] = (byte)n;
                hmac.AppendData(counter);
                previousLength = hmac.GetHashAndReset(previous);
                int take = Math.Min(previousLength, length - offset);
                previous[..take].CopyTo(output.AsSpan(offset));
                offset += take;
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(previous);
        }
        return output;
    }
}
