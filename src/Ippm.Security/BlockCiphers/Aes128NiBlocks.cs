using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Security.Cryptography;
using X86Aes = System.Runtime.Intrinsics.X86.Aes;

namespace Ippm.Security.BlockCiphers;

/// <summary>
/// AES-128 (FIPS 197) on the AES-NI instructions, with the round keys expanded once per key: the CBC chains of
/// test-packet protection (zero IV, within one packet, at most a few blocks) without a call into the native crypto
/// library per packet or per block position — each such call costs more than the blocks it encrypts.
/// Where AES-NI is missing (<see cref="IsSupported"/> false) <see cref="TestPacketCipher"/> keeps the keyed
/// transforms of the base library. The round keys live in native memory and are zeroed on dispose.
/// </summary>
public sealed unsafe class Aes128NiBlocks : IDisposable
{
    private const int Rounds = 10;
    private const int KeyCount = Rounds + 1;

    // Encryption round keys 0..10, then the decryption (equivalent inverse cipher, FIPS 197 §5.3.5) keys 0..10.
    private Vector128<byte>* _keys;

    public static bool IsSupported => X86Aes.IsSupported && Sse2.IsSupported;

    public Aes128NiBlocks(ReadOnlySpan<byte> key)
    {
        if (!IsSupported)
        {
            throw new PlatformNotSupportedException("AES-NI is not available.");
        }
        if (key.Length != 16)
        {
            throw new ArgumentException("AES-128 takes a 16-octet key.", nameof(key));
        }
        _keys = (Vector128<byte>*)NativeMemory.AlignedAlloc(2 * KeyCount * 16, 16);
        Vector128<byte>* enc = _keys;
        Vector128<byte>* dec = _keys + KeyCount;
        Vector128<byte> k = Vector128.Create(key);
        enc[0] = k;
        // The round constants must be immediates for AESKEYGENASSIST, hence one line per round.
        enc[1] = k = Expand(k, X86Aes.KeygenAssist(k, 0x01));
        enc[2] = k = Expand(k, X86Aes.KeygenAssist(k, 0x02));
        enc[3] = k = Expand(k, X86Aes.KeygenAssist(k, 0x04));
        enc[4] = k = Expand(k, X86Aes.KeygenAssist(k, 0x08));
        enc[5] = k = Expand(k, X86Aes.KeygenAssist(k, 0x10));
        enc[6] = k = Expand(k, X86Aes.KeygenAssist(k, 0x20));
        enc[7] = k = Expand(k, X86Aes.KeygenAssist(k, 0x40));
        enc[8] = k = Expand(k, X86Aes.KeygenAssist(k, 0x80));
        enc[9] = k = Expand(k, X86Aes.KeygenAssist(k, 0x1B));
        enc[10] = Expand(k, X86Aes.KeygenAssist(k, 0x36));
        dec[0] = enc[Rounds];
        for (int i = 1; i < Rounds; i++)
        {
            dec[i] = X86Aes.InverseMixColumns(enc[Rounds - i]);
        }
        dec[Rounds] = enc[0];
    }

    private static Vector128<byte> Expand(Vector128<byte> key, Vector128<byte> assist)
    {
        assist = Sse2.Shuffle(assist.AsInt32(), 0xFF).AsByte();
        key = Sse2.Xor(key, Sse2.ShiftLeftLogical128BitLane(key, 4));
        key = Sse2.Xor(key, Sse2.ShiftLeftLogical128BitLane(key, 4));
        key = Sse2.Xor(key, Sse2.ShiftLeftLogical128BitLane(key, 4));
        return Sse2.Xor(key, assist);
    }

    /// <summary>CBC with a zero IV over whole blocks (block 0 alone is ECB); source and destination may be the same.</summary>
    public void EncryptCbcZeroIv(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        Check(source, destination);
        Vector128<byte>* enc = _keys;
        Vector128<byte> previous = Vector128<byte>.Zero;
        for (int offset = 0; offset < source.Length; offset += 16)
        {
            Vector128<byte> x = Vector128.Create(source.Slice(offset, 16)) ^ previous ^ enc[0];
            for (int r = 1; r < Rounds; r++)
            {
                x = X86Aes.Encrypt(x, enc[r]);
            }
            previous = X86Aes.EncryptLast(x, enc[Rounds]);
            previous.CopyTo(destination.Slice(offset, 16));
        }
    }

    /// <summary>The inverse of <see cref="EncryptCbcZeroIv"/>; source and destination may be the same.</summary>
    public void DecryptCbcZeroIv(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        Check(source, destination);
        Vector128<byte>* dec = _keys + KeyCount;
        Vector128<byte> previous = Vector128<byte>.Zero;
        for (int offset = 0; offset < source.Length; offset += 16)
        {
            Vector128<byte> cipher = Vector128.Create(source.Slice(offset, 16));
            Vector128<byte> x = cipher ^ dec[0];
            for (int r = 1; r < Rounds; r++)
            {
                x = X86Aes.Decrypt(x, dec[r]);
            }
            (X86Aes.DecryptLast(x, dec[Rounds]) ^ previous).CopyTo(destination.Slice(offset, 16));
            previous = cipher;
        }
    }

    private void Check(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_keys == null, this);
        if (source.Length % 16 != 0 || destination.Length < source.Length)
        {
            throw new ArgumentException("CBC here runs over whole 16-octet blocks into a destination at least as long.");
        }
    }

    public void Dispose()
    {
        if (_keys != null)
        {
            CryptographicOperations.ZeroMemory(new Span<byte>(_keys, 2 * KeyCount * 16));
            NativeMemory.AlignedFree(_keys);
            _keys = null;
        }
    }
}
