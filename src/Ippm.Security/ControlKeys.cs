using System.Security.Cryptography;

namespace Ippm.Security;

/// <summary>
/// The control-session keys a client sends inside the Token (RFC 4656 §3.1): a 16-octet AES
/// session key and a 32-octet HMAC session key. Zeroed on dispose.
/// </summary>
public sealed class ControlKeys : IDisposable
{
    public const int AesKeyLength = 16;
    public const int HmacKeyLength = 32;

    private readonly byte[] _aesKey;
    private readonly byte[] _hmacKey;

    public ControlKeys(ReadOnlySpan<byte> aesKey, ReadOnlySpan<byte> hmacKey)
    {
        if (aesKey.Length != AesKeyLength || hmacKey.Length != HmacKeyLength)
        {
            throw new ArgumentException("AES key must be 16 octets and HMAC key 32 octets.");
        }
        _aesKey = aesKey.ToArray();
        _hmacKey = hmacKey.ToArray();
    }

    public ReadOnlySpan<byte> AesKey => _aesKey;
    public ReadOnlySpan<byte> HmacKey => _hmacKey;

    public static ControlKeys CreateRandom()
    {
        Span<byte> aes = stackalloc byte[AesKeyLength];
        Span<byte> hmac = stackalloc byte[HmacKeyLength];
        try
        {
            RandomNumberGenerator.Fill(aes);
            RandomNumberGenerator.Fill(hmac);
            return new ControlKeys(aes, hmac);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(aes);
            CryptographicOperations.ZeroMemory(hmac);
        }
    }

    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(_aesKey);
        CryptographicOperations.ZeroMemory(_hmacKey);
    }
}
