using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Ippm.Security.Hashing;

/// <summary>Which SHA-1 compression function a <see cref="HmacSha1Key"/> runs on.</summary>
public enum Sha1Engine
{
    /// <summary>OpenSSL's <c>SHA1_Transform</c> (SHA-NI or AVX2 inside libcrypto), called without a GC transition.</summary>
    LibCrypto,

    /// <summary>The FIPS 180-4 §6.1.2 compression in C#: portable, no native code.</summary>
    Managed,

    /// <summary><see cref="System.Security.Cryptography.HMACSHA1.HashData(ReadOnlySpan{byte}, ReadOnlySpan{byte}, Span{byte})"/> per message: no precomputed states.</summary>
    Bcl,
}

/// <summary>
/// The SHA-1 block function (FIPS 180-4 §6.1.2) over a five-word state, from the libcrypto .NET already loads
/// when it exports <c>SHA1_Transform</c>, else in C#. A keyed HMAC needs the block function itself: the hash APIs
/// of the base library cannot start from a precomputed (ipad/opad) state.
/// </summary>
internal static unsafe class Sha1Compression
{
    public const int BlockLength = 64;
    public const int DigestLength = 20;

    // Tried in order, as Ikev2's LibCryptoModpEngine: OpenSSL 3 (what .NET 10 uses), the development link, 1.1.
    private static readonly string[] s_libraryNames = ["libcrypto.so.3", "libcrypto.so", "libcrypto.so.1.1"];

    /// <summary>
    /// <c>void SHA1_Transform(SHA_CTX *c, const unsigned char *data)</c>: one block; it reads and writes only the
    /// state words h0..h4 at the start of the context. No GC transition: it runs ~50 ns, never blocks or calls back.
    /// </summary>
    private static readonly delegate* unmanaged[Cdecl, SuppressGCTransition]<uint*, byte*, void> s_transform = LoadTransform();

    /// <summary>The size of OpenSSL's <c>SHA_CTX</c> (h0..h4, Nl, Nh, data[16], num), allocated so the call never reads past it.</summary>
    public const int LibCryptoContextLength = 96;

    public static bool LibCryptoAvailable => s_transform != null;

    public static ReadOnlySpan<uint> InitialState => [0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u];

    /// <summary>Runs <paramref name="blocks"/> consecutive 64-octet blocks through the compression function.</summary>
    /// <param name="state">Five state words; for <see cref="Sha1Engine.LibCrypto"/> the start of a <see cref="LibCryptoContextLength"/>-octet context.</param>
    public static void Compress(Sha1Engine engine, uint* state, byte* data, int blocks)
    {
        if (engine == Sha1Engine.LibCrypto)
        {
            var transform = s_transform;
            for (int b = 0; b < blocks; b++)
            {
                transform(state, data + (b * BlockLength));
            }
            return;
        }
        for (int b = 0; b < blocks; b++)
        {
            CompressManaged(state, data + (b * BlockLength));
        }
    }

    /// <summary>FIPS 180-4 §6.1.2 with the 16-word circular message schedule of §6.1.3.</summary>
    public static void CompressManaged(uint* state, byte* block)
    {
        uint* w = stackalloc uint[16];
        for (int t = 0; t < 16; t++)
        {
            w[t] = BinaryPrimitives.ReadUInt32BigEndian(new ReadOnlySpan<byte>(block + (4 * t), 4));
        }
        uint a = state[0], b = state[1], c = state[2], d = state[3], e = state[4];
        for (int t = 0; t < 80; t++)
        {
            uint wt;
            if (t < 16)
            {
                wt = w[t];
            }
            else
            {
                wt = BitOperations.RotateLeft(w[(t + 13) & 15] ^ w[(t + 8) & 15] ^ w[(t + 2) & 15] ^ w[t & 15], 1);
                w[t & 15] = wt;
            }
            uint f, k;
            if (t < 20)
            {
                f = (b & c) | (~b & d);
                k = 0x5A827999u;
            }
            else if (t < 40)
            {
                f = b ^ c ^ d;
                k = 0x6ED9EBA1u;
            }
            else if (t < 60)
            {
                f = (b & c) | (b & d) | (c & d);
                k = 0x8F1BBCDCu;
            }
            else
            {
                f = b ^ c ^ d;
                k = 0xCA62C1D6u;
            }
            uint temp = BitOperations.RotateLeft(a, 5) + f + e + k + wt;
            e = d;
            d = c;
            c = BitOperations.RotateLeft(b, 30);
            b = a;
            a = temp;
        }
        state[0] += a;
        state[1] += b;
        state[2] += c;
        state[3] += d;
        state[4] += e;
    }

    private static delegate* unmanaged[Cdecl, SuppressGCTransition]<uint*, byte*, void> LoadTransform()
    {
        foreach (string name in s_libraryNames)
        {
            if (!NativeLibrary.TryLoad(name, out nint library))
            {
                continue;
            }
            if (!NativeLibrary.TryGetExport(library, "SHA1_Transform", out nint export))
            {
                continue; // built with no-deprecated, or not OpenSSL: try the next name
            }
            var transform = (delegate* unmanaged[Cdecl, SuppressGCTransition]<uint*, byte*, void>)export;
            if (!SelfTest(transform))
            {
                continue;
            }
            return transform;
        }
        return null;
    }

    /// <summary>SHA-1("abc") (FIPS 180-4 example): a library whose SHA1_Transform disagrees is not used.</summary>
    private static bool SelfTest(delegate* unmanaged[Cdecl, SuppressGCTransition]<uint*, byte*, void> transform)
    {
        uint* context = stackalloc uint[LibCryptoContextLength / 4];
        new Span<uint>(context, LibCryptoContextLength / 4).Clear();
        InitialState.CopyTo(new Span<uint>(context, 5));
        byte* block = stackalloc byte[BlockLength];
        var span = new Span<byte>(block, BlockLength);
        span.Clear();
        span[0] = (byte)'a';
        span[1] = (byte)'b';
        span[2] = (byte)'c';
        span[3] = 0x80;
        span[63] = 24;
        transform(context, block);
        ReadOnlySpan<uint> expected = [0xA9993E36u, 0x4706816Au, 0xBA3E2571u, 0x7850C26Cu, 0x9CD0D89Du];
        return new ReadOnlySpan<uint>(context, 5).SequenceEqual(expected);
    }
}
