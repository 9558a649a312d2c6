using Ippm.Ikev2.Messages;
using Microsoft.Extensions.Logging;

namespace Ippm.Ikev2.Crypto.Modp;

/// <summary>Modular exponentiation in a MODP group: the one primitive a MODP key exchange needs.</summary>
internal interface IModpEngine
{
    /// <summary>What computes, for the Debug log line (e.g. "OpenSSL 3.5.1 … BN_mod_exp_mont_consttime").</summary>
    string Description { get; }

    /// <summary>Whether the exponentiation runs in time independent of the exponent.</summary>
    bool IsConstantTime { get; }

    /// <summary>
    /// result = value^exponent mod p, big-endian, left-padded to <see cref="ModpGroup.Length"/> octets.
    /// <paramref name="value"/> is below p; <paramref name="exponent"/> is secret.
    /// </summary>
    void ModPow(ModpGroup group, ReadOnlySpan<byte> value, ReadOnlySpan<byte> exponent, Span<byte> result);
}

/// <summary>The engine ippm uses: libcrypto's constant-time exponentiation when it loads, else BouncyCastle.</summary>
internal static class ModpEngine
{
    private static readonly Lazy<IModpEngine> s_default =
        new(() => (IModpEngine?)LibCryptoModpEngine.TryCreate() ?? BouncyCastleModpEngine.Instance);

    public static IModpEngine Default => s_default.Value;

    /// <summary>Says at Debug which engine computes, when <paramref name="groups"/> include a MODP group.</summary>
    public static void LogIfUsed(ILogger logger, IEnumerable<DhGroup> groups)
    {
        if (groups.Any(g => ModpGroup.For(g) is not null))
        {
            Log.ModpEngineInUse(logger, Default.Description);
        }
    }
}
