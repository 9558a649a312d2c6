using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Ippm.Security.Hashing;

/// <summary>
/// HMAC-SHA1 (RFC 2104) under one key, for many short messages: the key's inner (K xor ipad) and outer
/// (K xor opad) blocks are compressed once, when the key is set, so a message costs only its own blocks plus one
/// outer block — two compressions for the 16- and 32-octet messages of mode A and of sender packets, three for
/// the 96 octets of an encrypted reflector packet — and no call into the base library's HMAC, which costs about
/// 0.5 µs per message whatever its length (a context set up and torn down per call).
/// Not thread-safe: one instance per thread, as <see cref="TestPacketCipher"/>. The states and scratch live in
/// native memory and are zeroed on dispose.
/// </summary>
public sealed unsafe class HmacSha1Key : IDisposable
{
    private const int MaxMacLength = Sha1Compression.DigestLength;

    // Native layout: working state (an OpenSSL SHA_CTX, so SHA1_Transform never reads past it), inner state,
    // outer state, and two blocks of scratch for a message's padded tail and for the outer block.
    private const int WorkOffset = 0;
    private const int InnerOffset = WorkOffset + Sha1Compression.LibCryptoContextLength;
    private const int OuterOffset = InnerOffset + 32;
    private const int ScratchOffset = OuterOffset + 32;
    private const int NativeLength = ScratchOffset + (2 * Sha1Compression.BlockLength);

    private readonly Sha1Engine _engine;
    private byte* _memory;
    private readonly byte[]? _bclKey;
    private bool _disposed;

    /// <summary>The fastest engine this process has: libcrypto's block function when it loads and self-tests, else C#.</summary>
    public static Sha1Engine DefaultEngine { get; } = Sha1Compression.LibCryptoAvailable ? Sha1Engine.LibCrypto : Sha1Engine.Managed;

    public HmacSha1Key(ReadOnlySpan<byte> key)
        : this(key, DefaultEngine)
    {
    }

    public HmacSha1Key(ReadOnlySpan<byte> key, Sha1Engine engine)
    {
        if (engine == Sha1Engine.LibCrypto && !Sha1Compression.LibCryptoAvailable)
        {
            throw new PlatformNotSupportedException("libcrypto's SHA1_Transform is not available in this process.");
        }
        _engine = engine;
        if (engine == Sha1Engine.Bcl)
        {
            // Pinned so the GC never leaves a copy of the key behind when it compacts.
            _bclKey = GC.AllocateArray<byte>(key.Length, pinned: true);
            key.CopyTo(_bclKey);
            return;
        }
        _memory = (byte*)NativeMemory.AllocZeroed(NativeLength);
        Span<byte> block = new(_memory + ScratchOffset, Sha1Compression.BlockLength);
        try
        {
            // RFC 2104 §2: a key longer than the block is replaced by its hash; a shorter one is padded with zeros.
            if (key.Length > Sha1Compression.BlockLength)
            {
                SHA1.HashData(key, block);
            }
            else
            {
                key.CopyTo(block);
            }
            SetPaddedKeyState(block, 0x36, InnerOffset);
            SetPaddedKeyState(block, 0x36 ^ 0x5C, OuterOffset); // block held K xor ipad; now K xor opad
        }
        finally
        {
            block.Clear();
        }
    }

    public Sha1Engine Engine => _engine;

    private void SetPaddedKeyState(Span<byte> block, byte pad, int stateOffset)
    {
        for (int i = 0; i < block.Length; i++)
        {
            block[i] ^= pad;
        }
        uint* work = (uint*)(_memory + WorkOffset);
        Sha1Compression.InitialState.CopyTo(new Span<uint>(work, 5));
        fixed (byte* data = block)
        {
            Sha1Compression.Compress(_engine, work, data, 1);
        }
        Buffer.MemoryCopy(work, _memory + stateOffset, 20, 20);
    }

    /// <summary>Writes HMAC-SHA1(key, message) truncated to <paramref name="mac"/>'s length (1–20 octets).</summary>
    public void Compute(ReadOnlySpan<byte> message, Span<byte> mac)
    {
        if (mac.Length is 0 or > MaxMacLength)
        {
            throw new ArgumentException("An HMAC-SHA1 is 1 to 20 octets.", nameof(mac));
        }
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_engine == Sha1Engine.Bcl)
        {
            Span<byte> full = stackalloc byte[MaxMacLength];
            HMACSHA1.HashData(_bclKey, message, full);
            full[..mac.Length].CopyTo(mac);
            return;
        }
        uint* work = (uint*)(_memory + WorkOffset);
        byte* scratch = _memory + ScratchOffset;
        Buffer.MemoryCopy(_memory + InnerOffset, work, 20, 20);
        int fullBlocks = message.Length / Sha1Compression.BlockLength;
        int tail = message.Length - (fullBlocks * Sha1Compression.BlockLength);
        fixed (byte* data = message)
        {
            Sha1Compression.Compress(_engine, work, data, fullBlocks);
            Buffer.MemoryCopy(data + (fullBlocks * Sha1Compression.BlockLength), scratch, tail, tail);
        }
        // FIPS 180-4 §5.1.1 padding; the length counts the ipad block too.
        int padded = tail + 9 <= Sha1Compression.BlockLength ? Sha1Compression.BlockLength : 2 * Sha1Compression.BlockLength;
        var tailSpan = new Span<byte>(scratch, padded);
        tailSpan[tail] = 0x80;
        tailSpan[(tail + 1)..(padded - 8)].Clear();
        BinaryPrimitives.WriteUInt64BigEndian(tailSpan[(padded - 8)..], (ulong)(Sha1Compression.BlockLength + message.Length) * 8);
        Sha1Compression.Compress(_engine, work, scratch, padded / Sha1Compression.BlockLength);

        // Outer hash: one block, the inner digest then padding for 64 + 20 octets.
        var outer = new Span<byte>(scratch, Sha1Compression.BlockLength);
        WriteDigest(work, outer[..20]);
        outer[20] = 0x80;
        outer[21..56].Clear();
        BinaryPrimitives.WriteUInt64BigEndian(outer[56..], (Sha1Compression.BlockLength + Sha1Compression.DigestLength) * 8);
        Buffer.MemoryCopy(_memory + OuterOffset, work, 20, 20);
        Sha1Compression.Compress(_engine, work, scratch, 1);
        Span<byte> digest = stackalloc byte[MaxMacLength];
        WriteDigest(work, digest);
        digest[..mac.Length].CopyTo(mac);
    }

    /// <summary>Whether <paramref name="expected"/> (1–20 octets) is the truncated HMAC of the message, compared in constant time.</summary>
    public bool Verify(ReadOnlySpan<byte> message, ReadOnlySpan<byte> expected)
    {
        Span<byte> mac = stackalloc byte[expected.Length];
        Compute(message, mac);
        return CryptographicOperations.FixedTimeEquals(mac, expected);
    }

    private static void WriteDigest(uint* state, Span<byte> destination)
    {
        for (int i = 0; i < 5; i++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(destination[(4 * i)..], state[i]);
        }
    }

    public void Dispose()
    {
        _disposed = true;
        if (_memory != null)
        {
            CryptographicOperations.ZeroMemory(new Span<byte>(_memory, NativeLength));
            NativeMemory.Free(_memory);
            _memory = null;
        }
        if (_bclKey is not null)
        {
            CryptographicOperations.ZeroMemory(_bclKey);
        }
    }
}
