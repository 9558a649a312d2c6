using System.Security.Cryptography;
using Ippm.Security.BlockCiphers;
using Ippm.Security.Hashing;
using Ippm.Wire;
using Ippm.Wire.Test;

namespace Ippm.Security;

/// <summary>
/// Protection of O/TWAMP test packets in authenticated and encrypted modes (RFC 4656 §4.1.2,
/// RFC 5357 §4.1.2/§4.2.1, as perfSONAR interoperates):
/// <list type="bullet">
/// <item>keys per session: <c>K_test_aes = AES-ECB_SID(K_aes)</c>, <c>K_test_hmac = AES-CBC_SID,IV=0(K_hmac)</c>
/// (the SID is the AES key; the reference form, proven on the wire);</item>
/// <item>authenticated: block 0 ECB-encrypted, HMAC over plaintext block 0 only;</item>
/// <item>encrypted: octets before the HMAC field CBC-encrypted with IV = 0, HMAC over exactly those.</item>
/// </list>
/// The HMAC field and padding are never encrypted. One instance per thread: it keeps a keyed AES and HMAC.
/// Both are keyed once per session: the HMAC's inner and outer states (<see cref="HmacSha1Key"/>) and, where the
/// processor has AES-NI, the AES round keys (<see cref="Aes128NiBlocks"/>); a packet then costs its own blocks
/// and no call into the base library's crypto.
/// </summary>
public sealed class TestPacketCipher : IDisposable
{
    /// <summary>Packet <c>index</c> of a batch, as a span over its buffer.</summary>
    public delegate Span<byte> PacketAccessor(int index);

    private readonly SecurityMode _mode;
    private readonly Aes128NiBlocks? _aesNi;
    private readonly Aes? _aes;
    private readonly ICryptoTransform? _encryptBlocks;
    private readonly ICryptoTransform? _decryptBlocks;
    private readonly HmacSha1Key _mac;
    private readonly byte[] _input = new byte[TestPacketLayout.ReflectorHmacOffset];
    private readonly byte[] _output = new byte[TestPacketLayout.ReflectorHmacOffset];

    public TestPacketCipher(SecurityMode mode, ReadOnlySpan<byte> testAesKey, ReadOnlySpan<byte> testHmacKey)
        : this(mode, testAesKey, testHmacKey, Aes128NiBlocks.IsSupported, HmacSha1Key.DefaultEngine)
    {
    }

    /// <summary>Chooses the engines, so tests and benchmarks can run the fallbacks on a machine that has the fast paths.</summary>
    internal TestPacketCipher(SecurityMode mode, ReadOnlySpan<byte> testAesKey, ReadOnlySpan<byte> testHmacKey, bool useAesNi, Sha1Engine hmacEngine)
    {
        if (!mode.ProtectsTestPackets())
        {
            throw new ArgumentException($"Mode {mode.Name()} sends open test packets.", nameof(mode));
        }
        _mode = mode;
        _mac = new HmacSha1Key(testHmacKey, hmacEngine);
        if (useAesNi)
        {
            _aesNi = new Aes128NiBlocks(testAesKey);
            return;
        }
        _aes = Aes.Create();
        byte[] key = testAesKey.ToArray();
        _aes.Mode = CipherMode.ECB;
        _aes.Padding = PaddingMode.None;
        // Keyed block transforms are created once: the one-shot APIs set up a cipher context per call,
        // which costs about ten times the encryption of a 16-octet block.
        _encryptBlocks = _aes.CreateEncryptor(key, null);
        _decryptBlocks = _aes.CreateDecryptor(key, null);
        CryptographicOperations.ZeroMemory(key);
    }

    public static TestPacketCipher Create(SecurityMode mode, ControlKeys controlKeys, SessionId sid)
    {
        Span<byte> aesKey = stackalloc byte[16];
        Span<byte> hmacKey = stackalloc byte[32];
        try
        {
            DeriveSessionKeys(controlKeys, sid, aesKey, hmacKey);
            return new TestPacketCipher(mode, aesKey, hmacKey);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(aesKey);
            CryptographicOperations.ZeroMemory(hmacKey);
        }
    }

    /// <summary>Derives K_test_aes (16) and K_test_hmac (32) with the SID as the AES key.</summary>
    public static void DeriveSessionKeys(ControlKeys controlKeys, SessionId sid, Span<byte> testAesKey, Span<byte> testHmacKey)
    {
        using var aes = Aes.Create();
        aes.Key = sid.ToArray(); // the SID is public (it travels in Accept-Session); nothing to wipe
        aes.EncryptEcb(controlKeys.AesKey, testAesKey, PaddingMode.None);
        aes.EncryptCbc(controlKeys.HmacKey, stackalloc byte[16], testHmacKey, PaddingMode.None);
    }

    private int CoveredLength(int hmacOffset) => _mode == SecurityMode.Authenticated ? 16 : hmacOffset;

    /// <summary>Writes the HMAC at <paramref name="hmacOffset"/> and encrypts the covered octets in place.</summary>
    public void Protect(Span<byte> packet, int hmacOffset)
    {
        int covered = CoveredLength(hmacOffset);
        Span<byte> plain = packet[..covered];
        _mac.Compute(plain, packet.Slice(hmacOffset, TestPacketLayout.HmacLength));
        if (_aesNi is not null)
        {
            _aesNi.EncryptCbcZeroIv(plain, plain);
            return;
        }
        // CBC with a zero IV for every packet, chained over the keyed AES block transform: block 0 is plain
        // ECB (which is all mode A uses), block i is E(P_i xor C_{i-1}).
        plain.CopyTo(_input);
        for (int offset = 0; offset < covered; offset += 16)
        {
            if (offset > 0)
            {
                Xor(_input.AsSpan(offset, 16), _output.AsSpan(offset - 16, 16));
            }
            _encryptBlocks!.TransformBlock(_input, offset, 16, _output, offset);
        }
        _output.AsSpan(0, covered).CopyTo(plain);
    }

    /// <summary>
    /// Decrypts the covered octets in place and checks the HMAC in constant time. On a bad HMAC the
    /// decrypted octets are wiped, the packet is left as received and false is returned; the caller drops it.
    /// </summary>
    public bool TryUnprotect(Span<byte> packet, int hmacOffset)
    {
        if (packet.Length < hmacOffset + TestPacketLayout.HmacLength)
        {
            return false;
        }
        int covered = CoveredLength(hmacOffset);
        Span<byte> region = packet[..covered];
        Span<byte> plain = _output.AsSpan(0, covered);
        if (_aesNi is not null)
        {
            _aesNi.DecryptCbcZeroIv(region, plain);
        }
        else
        {
            region.CopyTo(_input);
            _decryptBlocks!.TransformBlock(_input, 0, covered, _output, 0);
            for (int offset = 16; offset < covered; offset += 16)
            {
                Xor(_output.AsSpan(offset, 16), _input.AsSpan(offset - 16, 16));
            }
        }
        // Constant-time comparison inside Verify.
        if (!_mac.Verify(plain, packet.Slice(hmacOffset, TestPacketLayout.HmacLength)))
        {
            plain.Clear();
            return false;
        }
        plain.CopyTo(region);
        return true;
    }

    /// <summary>
    /// <see cref="Protect"/> for many packets at once. The HMACs are per packet, but the AES work is gathered:
    /// block i of every packet goes through the block transform in one call (CBC chains run within a packet,
    /// never across packets, so block i of all packets are independent). Each call into the native crypto
    /// library costs more than the blocks it encrypts, so this saves most of the AES cost of a batch.
    /// </summary>
    public void ProtectMany(PacketAccessor packets, int count, int hmacOffset)
    {
        if (count == 0)
        {
            return;
        }
        if (_aesNi is not null)
        {
            // Nothing to gather: AES-NI and the keyed HMAC make no native call per packet.
            for (int i = 0; i < count; i++)
            {
                Protect(packets(i), hmacOffset);
            }
            return;
        }
        int covered = CoveredLength(hmacOffset);
        int blocks = covered / 16;
        EnsureBatchCapacity(count * 16);
        for (int i = 0; i < count; i++)
        {
            Span<byte> packet = packets(i);
            _mac.Compute(packet[..covered], packet.Slice(hmacOffset, TestPacketLayout.HmacLength));
        }
        for (int b = 0; b < blocks; b++)
        {
            int offset = b * 16;
            for (int i = 0; i < count; i++)
            {
                Span<byte> packet = packets(i);
                Span<byte> slot = _batchInput.AsSpan(i * 16, 16);
                packet.Slice(offset, 16).CopyTo(slot);
                if (b > 0)
                {
                    // The previous block of this packet already holds its ciphertext C_{b-1}.
                    Xor(slot, packet.Slice(offset - 16, 16));
                }
            }
            _encryptBlocks!.TransformBlock(_batchInput, 0, count * 16, _batchOutput, 0);
            for (int i = 0; i < count; i++)
            {
                _batchOutput.AsSpan(i * 16, 16).CopyTo(packets(i).Slice(offset, 16));
            }
        }
    }

    /// <summary>
    /// <see cref="TryUnprotect"/> for many packets: one block-transform call decrypts every covered block of
    /// every packet; HMACs are checked per packet. <paramref name="valid"/>[i] says whether packet i verified;
    /// packets that did not are left as received.
    /// </summary>
    public void TryUnprotectMany(PacketAccessor packets, int count, int hmacOffset, Span<bool> valid)
    {
        if (_aesNi is not null)
        {
            for (int i = 0; i < count; i++)
            {
                valid[i] = TryUnprotect(packets(i), hmacOffset);
            }
            return;
        }
        int covered = CoveredLength(hmacOffset);
        EnsureBatchCapacity(count * covered);
        int gathered = 0;
        for (int i = 0; i < count; i++)
        {
            Span<byte> packet = packets(i);
            valid[i] = packet.Length >= hmacOffset + TestPacketLayout.HmacLength;
            if (valid[i])
            {
                packet[..covered].CopyTo(_batchInput.AsSpan(gathered * covered, covered));
                gathered++;
            }
        }
        if (gathered > 0)
        {
            _decryptBlocks!.TransformBlock(_batchInput, 0, gathered * covered, _batchOutput, 0);
        }
        int index = 0;
        for (int i = 0; i < count; i++)
        {
            if (!valid[i])
            {
                continue;
            }
            Span<byte> cipher = _batchInput.AsSpan(index * covered, covered);
            Span<byte> plain = _batchOutput.AsSpan(index * covered, covered);
            index++;
            for (int offset = 16; offset < covered; offset += 16)
            {
                Xor(plain.Slice(offset, 16), cipher.Slice(offset - 16, 16));
            }
            Span<byte> packet = packets(i);
            valid[i] = _mac.Verify(plain, packet.Slice(hmacOffset, TestPacketLayout.HmacLength));
            if (valid[i])
            {
                plain.CopyTo(packet);
            }
            plain.Clear();
        }
    }

    private byte[] _batchInput = [];
    private byte[] _batchOutput = [];

    private void EnsureBatchCapacity(int bytes)
    {
        if (_batchInput.Length < bytes)
        {
            CryptographicOperations.ZeroMemory(_batchInput);
            CryptographicOperations.ZeroMemory(_batchOutput);
            _batchInput = new byte[bytes];
            _batchOutput = new byte[bytes];
        }
    }

    private static void Xor(Span<byte> target, ReadOnlySpan<byte> other)
    {
        var t = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(target);
        var o = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(other);
        t[0] ^= o[0];
        t[1] ^= o[1];
    }

    public void Dispose()
    {
        _aesNi?.Dispose();
        _encryptBlocks?.Dispose();
        _decryptBlocks?.Dispose();
        _aes?.Dispose();
        _mac.Dispose();
        CryptographicOperations.ZeroMemory(_input);
        CryptographicOperations.ZeroMemory(_output);
        CryptographicOperations.ZeroMemory(_batchInput);
        CryptographicOperations.ZeroMemory(_batchOutput);
    }
}
