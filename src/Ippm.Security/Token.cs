using System.Security.Cryptography;

namespace Ippm.Security;

/// <summary>
/// The Set-Up-Response Token and the key it is encrypted with (RFC 4656 §3.1):
/// <c>dk = PBKDF2-HMAC-SHA1(secret, Salt, Count, 16)</c>;
/// <c>Token = AES-CBC(dk, IV = 0, Challenge ‖ AES session key ‖ HMAC session key)</c>.
/// </summary>
public static class Token
{
    public const int Length = 64;
    public const int ChallengeLength = 16;
    public const int DerivedKeyLength = 16;

    /// <summary>PBKDF2-HMAC-SHA1 over the raw secret octets (no terminator, no re-encoding).</summary>
    public static byte[] DeriveKey(ReadOnlySpan<byte> secret, ReadOnlySpan<byte> salt, uint count)
    {
        if (count == 0 || count > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, "PBKDF2 count must be in [1, 2^31).");
        }
        return Rfc2898DeriveBytes.Pbkdf2(secret, salt, (int)count, HashAlgorithmName.SHA1, DerivedKeyLength);
    }

    public static byte[] Encrypt(ReadOnlySpan<byte> derivedKey, ReadOnlySpan<byte> challenge, ControlKeys keys)
    {
        Span<byte> plain = stackalloc byte[Length];
        try
        {
            challenge[..ChallengeLength].CopyTo(plain);
            keys.AesKey.CopyTo(plain[16..]);
            keys.HmacKey.CopyTo(plain[32..]);
            using var aes = Aes.Create();
            byte[] key = derivedKey.ToArray();
            aes.Key = key;
            CryptographicOperations.ZeroMemory(key);
            return aes.EncryptCbc(plain, stackalloc byte[16], PaddingMode.None);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plain);
        }
    }

    /// <summary>
    /// Decrypts the Token and checks its challenge in constant time. On success returns the control keys;
    /// on a wrong challenge (wrong key or forged token) returns null and leaves nothing behind.
    /// </summary>
    public static ControlKeys? TryDecrypt(ReadOnlySpan<byte> derivedKey, ReadOnlySpan<byte> token, ReadOnlySpan<byte> expectedChallenge)
    {
        if (token.Length != Length)
        {
            return null;
        }
        Span<byte> plain = stackalloc byte[Length];
        byte[] key = derivedKey.ToArray();
        try
        {
            using var aes = Aes.Create();
            aes.Key = key;
            aes.DecryptCbc(token, stackalloc byte[16], plain, PaddingMode.None);
            if (!CryptographicOperations.FixedTimeEquals(plain[..ChallengeLength], expectedChallenge[..ChallengeLength]))
            {
                return null;
            }
            return new ControlKeys(plain.Slice(16, 16), plain.Slice(32, 32));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plain);
            CryptographicOperations.ZeroMemory(key);
        }
    }
}
