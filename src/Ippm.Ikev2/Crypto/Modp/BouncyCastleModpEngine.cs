using System.Security.Cryptography;
using Org.BouncyCastle.Utilities;
using BcBigInteger = Org.BouncyCastle.Math.BigInteger;

namespace Ippm.Ikev2.Crypto.Modp;

/// <summary>
/// The fallback where libcrypto cannot be loaded (non-Linux): BouncyCastle's BigInteger.ModPow, a sliding-window
/// Montgomery exponentiation — NOT constant-time — whose immutable BigIntegers cannot be zeroed.
/// </summary>
internal sealed class BouncyCastleModpEngine : IModpEngine
{
    public static readonly BouncyCastleModpEngine Instance = new();

    private BouncyCastleModpEngine()
    {
    }

    public string Description => "BouncyCastle BigInteger.ModPow (sliding window, not constant-time; libcrypto could not be loaded)";

    public bool IsConstantTime => false;

    public void ModPow(ModpGroup group, ReadOnlySpan<byte> value, ReadOnlySpan<byte> exponent, Span<byte> result)
    {
        var p = new BcBigInteger(1, group.Prime);
        BcBigInteger r = new BcBigInteger(1, value).ModPow(new BcBigInteger(1, exponent), p);
        byte[] bytes = BigIntegers.AsUnsignedByteArray(group.Length, r);
        bytes.CopyTo(result);
        CryptographicOperations.ZeroMemory(bytes);
    }
}
