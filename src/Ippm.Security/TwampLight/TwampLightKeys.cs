using System.Security.Cryptography;
using Ippm.Wire;

namespace Ippm.Security.TwampLight;

/// <summary>
/// Test-session keys of authenticated and encrypted TWAMP-Light (RFC 5357 Appendix I). Without TWAMP-Control there is
/// no Token to carry K_aes/K_hmac and no Accept-Session to carry the SID; Appendix I leaves both to configuration.
/// ippm's convention (documented in README, the same on both ends) derives all three from one configured key K, the
/// octets of a key-file line, with HKDF-SHA256 (RFC 5869):
/// <code>
/// PRK    = HKDF-Extract(salt = "ippm twamp-light v1", IKM = K)
/// K_aes  = HKDF-Expand(PRK, "ippm twamp-light K_aes", 16)
/// K_hmac = HKDF-Expand(PRK, "ippm twamp-light K_hmac", 32)
/// SID    = HKDF-Expand(PRK, "ippm twamp-light SID", 16)
/// </code>
/// The test keys then follow from K_aes, K_hmac and the SID exactly as after TWAMP-Control (RFC 4656 §4.1.2,
/// <see cref="TestPacketCipher.DeriveSessionKeys"/>).
/// </summary>
public sealed class TwampLightKeys : IDisposable
{
    public static ReadOnlySpan<byte> Salt => "ippm twamp-light v1"u8;
    public static ReadOnlySpan<byte> AesLabel => "ippm twamp-light K_aes"u8;
    public static ReadOnlySpan<byte> HmacLabel => "ippm twamp-light K_hmac"u8;
    public static ReadOnlySpan<byte> SidLabel => "ippm twamp-light SID"u8;

    private readonly ControlKeys _keys;

    public SessionId Sid { get; }

    public SecurityMode Mode { get; }

    public TwampLightKeys(SecurityMode mode, ReadOnlySpan<byte> configuredKey)
    {
        if (!mode.ProtectsTestPackets())
        {
            throw new ArgumentException($"TWAMP-Light keys serve modes A and E, not {mode.Name()}.", nameof(mode));
        }
        if (configuredKey.IsEmpty)
        {
            throw new ArgumentException("A TWAMP-Light key must not be empty.", nameof(configuredKey));
        }
        Mode = mode;
        Span<byte> prk = stackalloc byte[32];
        Span<byte> aes = stackalloc byte[ControlKeys.AesKeyLength];
        Span<byte> hmac = stackalloc byte[ControlKeys.HmacKeyLength];
        Span<byte> sid = stackalloc byte[16];
        try
        {
            HKDF.Extract(HashAlgorithmName.SHA256, configuredKey, Salt, prk);
            HKDF.Expand(HashAlgorithmName.SHA256, prk, aes, AesLabel);
            HKDF.Expand(HashAlgorithmName.SHA256, prk, hmac, HmacLabel);
            HKDF.Expand(HashAlgorithmName.SHA256, prk, sid, SidLabel);
            _keys = new ControlKeys(aes, hmac);
            Sid = SessionId.Read(sid);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(prk);
            CryptographicOperations.ZeroMemory(aes);
            CryptographicOperations.ZeroMemory(hmac);
        }
    }

    /// <summary>A cipher for the test packets of this key (one per thread).</summary>
    public TestPacketCipher CreateCipher() => TestPacketCipher.Create(Mode, _keys, Sid);

    /// <summary>The mode a key-file identity asks for: <c>light-A@PEER</c> or <c>light-E@PEER</c> (case-insensitive).</summary>
    public static bool TryParseIdentity(string identity, out SecurityMode mode, out string peer)
    {
        mode = SecurityMode.Open;
        peer = identity;
        int at = identity.IndexOf('@', StringComparison.Ordinal);
        if (at < 0 || !identity.StartsWith("light-", StringComparison.OrdinalIgnoreCase) || at != "light-".Length + 1)
        {
            return false;
        }
        char letter = char.ToUpperInvariant(identity["light-".Length]);
        mode = letter switch { 'A' => SecurityMode.Authenticated, 'E' => SecurityMode.Encrypted, _ => SecurityMode.Open };
        peer = identity[(at + 1)..];
        return mode != SecurityMode.Open;
    }

    public void Dispose() => _keys.Dispose();
}
