using System.Security.Cryptography;

namespace Ippm.Security;

/// <summary>
/// One direction of the protected control stream (RFC 4656 §3.4, RFC 5357 §3.2; crypto digest §4):
/// AES-CBC whose chain runs across messages, and a running HMAC-SHA1 (truncated to 16 octets) over the
/// plaintext since the previous HMAC field. In open mode every operation is a pass-through and HMAC
/// fields are zero and unchecked.
/// </summary>
public sealed class ControlStreamCipher : IDisposable
{
    public const int BlockSize = 16;
    public const int HmacLength = 16;

    private readonly Aes? _aes;
    private readonly IncrementalHash? _mac;
    private readonly byte[] _iv = new byte[BlockSize];

    private ControlStreamCipher(ControlKeys? keys, ReadOnlySpan<byte> iv)
    {
        if (keys is null)
        {
            return;
        }
        _aes = Aes.Create();
        byte[] key = keys.AesKey.ToArray();
        _aes.Key = key;
        CryptographicOperations.ZeroMemory(key);
        _mac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA1, keys.HmacKey);
        iv[..BlockSize].CopyTo(_iv);
    }

    /// <summary>A cipher for an open-mode connection: no encryption, zero HMAC fields.</summary>
    public static ControlStreamCipher CreateOpen() => new(null, default);

    public static ControlStreamCipher Create(ControlKeys keys, ReadOnlySpan<byte> initialIv) => new(keys, initialIv);

    public bool IsProtected => _aes is not null;

    /// <summary>
    /// Seals one HMAC section in place: <paramref name="section"/> is whole blocks whose last 16 octets are
    /// the HMAC field. The HMAC covers every plaintext block since the last HMAC, then the section is encrypted.
    /// </summary>
    public void Seal(Span<byte> section)
    {
        CheckBlocks(section.Length);
        Span<byte> hmacField = section[^HmacLength..];
        if (_aes is null)
        {
            hmacField.Clear();
            return;
        }
        _mac!.AppendData(section[..^HmacLength]);
        Span<byte> digest = stackalloc byte[20];
        _mac.GetHashAndReset(digest);
        digest[..HmacLength].CopyTo(hmacField);
        EncryptInPlace(section);
    }

    /// <summary>Encrypts blocks that carry no HMAC field; their plaintext joins the next HMAC (Server-Start octets 32–47).</summary>
    public void EncryptUnsealed(Span<byte> blocks)
    {
        CheckBlocks(blocks.Length);
        if (_aes is null)
        {
            return;
        }
        _mac!.AppendData(blocks);
        EncryptInPlace(blocks);
    }

    /// <summary>Decrypts received blocks in place and adds their plaintext to the running HMAC.</summary>
    public void Decrypt(Span<byte> blocks)
    {
        CheckBlocks(blocks.Length);
        if (_aes is null)
        {
            return;
        }
        Span<byte> nextIv = stackalloc byte[BlockSize];
        blocks[^BlockSize..].CopyTo(nextIv);
        Span<byte> plain = blocks.Length <= 256 ? stackalloc byte[blocks.Length] : new byte[blocks.Length];
        _aes.DecryptCbc(blocks, _iv, plain, PaddingMode.None);
        plain.CopyTo(blocks);
        nextIv.CopyTo(_iv);
        _mac!.AppendData(blocks);
    }

    /// <summary>
    /// Decrypts a received HMAC block and checks it in constant time against the plaintext since the last
    /// HMAC. Returns false on mismatch; the connection cannot be resynchronised after that.
    /// </summary>
    public bool VerifyHmac(Span<byte> hmacBlock)
    {
        CheckBlocks(hmacBlock.Length);
        if (_aes is null)
        {
            return true;
        }
        Span<byte> nextIv = stackalloc byte[BlockSize];
        hmacBlock.CopyTo(nextIv);
        Span<byte> received = stackalloc byte[BlockSize];
        _aes.DecryptCbc(hmacBlock, _iv, received, PaddingMode.None);
        nextIv.CopyTo(_iv);
        Span<byte> digest = stackalloc byte[20];
        _mac!.GetHashAndReset(digest);
        bool ok = CryptographicOperations.FixedTimeEquals(digest[..HmacLength], received);
        received.CopyTo(hmacBlock);
        return ok;
    }

    private void EncryptInPlace(Span<byte> blocks)
    {
        Span<byte> cipher = blocks.Length <= 256 ? stackalloc byte[blocks.Length] : new byte[blocks.Length];
        _aes!.EncryptCbc(blocks, _iv, cipher, PaddingMode.None);
        cipher.CopyTo(blocks);
        cipher[^BlockSize..].CopyTo(_iv);
    }

    private static void CheckBlocks(int length)
    {
        if (length == 0 || length % BlockSize != 0)
        {
            throw new ArgumentException($"Control messages are whole 16-octet blocks; got {length} octets.");
        }
    }

    public void Dispose()
    {
        _aes?.Dispose();
        _mac?.Dispose();
        CryptographicOperations.ZeroMemory(_iv);
    }
}
