using System.Buffers.Binary;
using System.Security.Cryptography;
using Ippm.Ikev2.Messages;

namespace Ippm.Ikev2.Crypto;

/// <summary>
/// RFC 7296 §3.14 Encrypted payload (SK) for one IKE SA: AES-CBC + HMAC (encrypt-then-MAC over the whole
/// message) or AES-GCM-16 (RFC 5282, AAD = IKE header + SK generic header).
/// <code>
/// | Next Payload  |C|  RESERVED   |         Payload Length        |
/// |                     Initialization Vector                     |
/// ~                    Encrypted IKE Payloads                     ~
/// |               |             Padding (0-255 octets)            |
/// |                               |  Pad Length   |
/// ~                    Integrity Checksum Data                    ~
/// </code>
/// The original initiator sends with SK_ei/SK_ai, the original responder with SK_er/SK_ar.
/// </summary>
public sealed class SkProtection : IDisposable
{
    private const int AesBlock = 16;
    private readonly IkeSuite _suite;
    private readonly Aes? _aes;
    private readonly AesGcm? _gcm;
    private readonly byte[] _salt = [];
    private readonly byte[] _integKey;
    private ulong _aeadCounter;

    public SkProtection(IkeSuite suite, ReadOnlySpan<byte> encryptionKey, ReadOnlySpan<byte> integrityKey)
    {
        _suite = suite;
        _integKey = integrityKey.ToArray();
        int keyLength = suite.EncryptionKeyBits / 8;
        if (suite.IsAead)
        {
            _gcm = new AesGcm(encryptionKey[..keyLength], 16);
            _salt = encryptionKey[keyLength..].ToArray();
            // Random start: IVs never repeat under one key, and are not a message counter an observer can read.
            _aeadCounter = BinaryPrimitives.ReadUInt64BigEndian(RandomNumberGenerator.GetBytes(8)) >> 1;
        }
        else
        {
            _aes = Aes.Create();
            byte[] key = encryptionKey[..keyLength].ToArray();
            _aes.Key = key; // Aes keeps a copy of its own
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>Builds a whole encrypted message: header, SK payload with <paramref name="inner"/> inside, ICV.</summary>
    public byte[] Seal(IkeHeader header, IReadOnlyList<OutgoingPayload> inner)
    {
        int innerLength = OutgoingPayload.ChainLength(inner);
        int padLength = _suite.IsAead ? 0 : (AesBlock - ((innerLength + 1) % AesBlock)) % AesBlock;
        int plainLength = innerLength + padLength + 1;
        int skBodyLength = _suite.IvLength + plainLength + _suite.IcvLength;
        int total = IkeHeader.Size + RawPayload.HeaderSize + skBodyLength;
        byte[] message = new byte[total];
        (header with { NextPayload = PayloadType.Encrypted, Length = (uint)total }).Write(message);
        int sk = IkeHeader.Size;
        message[sk] = (byte)(inner.Count > 0 ? inner[0].Type : PayloadType.None);
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(sk + 2), (ushort)(RawPayload.HeaderSize + skBodyLength));
        int ivOffset = sk + RawPayload.HeaderSize;
        int cipherOffset = ivOffset + _suite.IvLength;
        byte[] plain = new byte[plainLength];
        try
        {
            OutgoingPayload.WriteChain(inner, plain);
            plain[^1] = (byte)padLength;
            Span<byte> iv = message.AsSpan(ivOffset, _suite.IvLength);
            Span<byte> cipher = message.AsSpan(cipherOffset, plainLength);
            Span<byte> icv = message.AsSpan(cipherOffset + plainLength, _suite.IcvLength);
            if (_gcm is not null)
            {
                BinaryPrimitives.WriteUInt64BigEndian(iv, Interlocked.Increment(ref _aeadCounter));
                Span<byte> nonce = stackalloc byte[12];
                _salt.CopyTo(nonce);
                iv.CopyTo(nonce[4..]);
                _gcm.Encrypt(nonce, plain, cipher, icv, message.AsSpan(0, ivOffset));
            }
            else
            {
                RandomNumberGenerator.Fill(iv);
                _aes!.EncryptCbc(plain, iv, cipher, PaddingMode.None);
                Span<byte> mac = stackalloc byte[64];
                int macLength = HmacOf(message.AsSpan(0, cipherOffset + plainLength), mac);
                mac[..icv.Length].CopyTo(icv);
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plain);
        }
        return message;
    }

    /// <summary>
    /// Checks the ICV (before decrypting, RFC 7296 §3.14) and decrypts. Returns the inner payload octets, or null
    /// if the payload is malformed or does not authenticate. <paramref name="sk"/> is the SK payload of <paramref name="message"/>.
    /// </summary>
    public byte[]? Open(ReadOnlySpan<byte> message, RawPayload sk)
    {
        int bodyLength = sk.Body.Length;
        int cipherLength = bodyLength - _suite.IvLength - _suite.IcvLength;
        if (cipherLength < 1 || (!_suite.IsAead && cipherLength % AesBlock != 0) || sk.Offset + RawPayload.HeaderSize + bodyLength != message.Length)
        {
            return null;
        }
        ReadOnlySpan<byte> body = sk.Body.Span;
        ReadOnlySpan<byte> iv = body[.._suite.IvLength];
        ReadOnlySpan<byte> cipher = body.Slice(_suite.IvLength, cipherLength);
        ReadOnlySpan<byte> icv = body[(_suite.IvLength + cipherLength)..];
        byte[] plain = new byte[cipherLength];
        if (_gcm is not null)
        {
            Span<byte> nonce = stackalloc byte[12];
            _salt.CopyTo(nonce);
            iv.CopyTo(nonce[4..]);
            try
            {
                _gcm.Decrypt(nonce, cipher, icv, plain, message[..(sk.Offset + RawPayload.HeaderSize)]);
            }
            catch (AuthenticationTagMismatchException)
            {
                CryptographicOperations.ZeroMemory(plain);
                return null;
            }
        }
        else
        {
            Span<byte> mac = stackalloc byte[64];
            HmacOf(message[..^_suite.IcvLength], mac);
            if (!CryptographicOperations.FixedTimeEquals(mac[.._suite.IcvLength], icv))
            {
                return null;
            }
            _aes!.DecryptCbc(cipher, iv, plain, PaddingMode.None);
        }
        int pad = plain[^1];
        if (pad + 1 > plain.Length)
        {
            CryptographicOperations.ZeroMemory(plain);
            return null;
        }
        byte[] inner = plain.AsSpan(0, plain.Length - pad - 1).ToArray();
        CryptographicOperations.ZeroMemory(plain);
        return inner;
    }

    private int HmacOf(ReadOnlySpan<byte> data, Span<byte> destination)
    {
        HashAlgorithmName hash = _suite.Integrity switch
        {
            IntegrityId.HmacSha1_96 => HashAlgorithmName.SHA1,
            IntegrityId.HmacSha256_128 => HashAlgorithmName.SHA256,
            IntegrityId.HmacSha384_192 => HashAlgorithmName.SHA384,
            _ => HashAlgorithmName.SHA512,
        };
        using IncrementalHash hmac = IncrementalHash.CreateHMAC(hash, _integKey);
        hmac.AppendData(data);
        return hmac.GetHashAndReset(destination);
    }

    public void Dispose()
    {
        _aes?.Dispose();
        _gcm?.Dispose();
        CryptographicOperations.ZeroMemory(_salt);
        CryptographicOperations.ZeroMemory(_integKey);
    }
}
