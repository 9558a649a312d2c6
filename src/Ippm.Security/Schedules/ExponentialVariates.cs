using System.Buffers.Binary;
using System.Security.Cryptography;
using Ippm.Wire;

namespace Ippm.Security.Schedules;

/// <summary>
/// The exponential random variates of mean 1 that drive an OWAMP schedule (RFC 4656 §3.5 and its appendix,
/// perfSONAR <c>OWPExpContext</c>), as unsigned 32.32 fixed-point values.
/// <list type="bullet">
/// <item>Uniform source: AES-128 keyed with the SID in counter mode. The 128-bit big-endian counter starts at 0,
/// is never reset, and advances by one per <em>draw</em>; a block is encrypted only when counter mod 4 = 0, so
/// draw n is the big-endian 32-bit word n mod 4 of AES(counter = 4·⌊n/4⌋) (perfSONAR <c>OWPUnifRand64</c>).
/// The blocks are AES(0), AES(4), AES(8) …, not AES(0), AES(1), AES(2) ….</item>
/// <item>Knuth vol. 2 §3.4.1 Algorithm S with the constants <c>Q[k] = Σ_{i≤k} (ln 2)^i / i!</c> as 32-bit
/// fractions.</item>
/// </list>
/// Both ends of a session derive the same sequence from the SID alone.
/// </summary>
public sealed class ExponentialVariates : IDisposable
{
    /// <summary>Q[1..11] × 2³² (index 0 unused); Q[1] = ln 2.</summary>
    private static readonly uint[] s_q =
    [
        0,
        0xB17217F8, 0xEEF193F7, 0xFD271862, 0xFF9D6DD0, 0xFFF4CFD0, 0xFFFEE819,
        0xFFFFE7FF, 0xFFFFFE2B, 0xFFFFFFE0, 0xFFFFFFFE, 0xFFFFFFFF,
    ];

    private const ulong Ln2 = 0xB17217F8;
    private const int BlockSize = 16;
    private const int BlocksPerBatch = 64;
    private const int DrawsPerBlock = BlockSize / sizeof(uint);

    private readonly Aes _aes;
    private readonly byte[] _counterBlocks = new byte[BlockSize * BlocksPerBatch];
    private readonly byte[] _keystream = new byte[BlockSize * BlocksPerBatch];
    /// <summary>The counter value of the next block to encrypt (a multiple of 4).</summary>
    private UInt128 _counter;
    private int _nextWord = BlocksPerBatch * DrawsPerBlock;
    private bool _disposed;

    public ExponentialVariates(SessionId sid)
    {
        _aes = Aes.Create();
        _aes.Key = sid.ToArray();
    }

    /// <summary>The next exponential variate of mean 1, in 32.32 fixed point.</summary>
    public ulong Next()
    {
        uint u = NextUniform();
        ulong j = 0;
        while ((u & 0x8000_0000u) != 0 && j < 32)
        {
            u <<= 1;
            j++;
        }
        u <<= 1; // drop the 0 bit that ended the run

        if (u < s_q[1])
        {
            return SessionSchedule.Mult(j << 32, Ln2) + u;
        }

        int k = 2;
        while (k < s_q.Length && u >= s_q[k])
        {
            k++;
        }
        uint v = NextUniform();
        for (int i = 2; i <= k; i++)
        {
            v = Math.Min(v, NextUniform());
        }
        return SessionSchedule.Mult((j << 32) + v, Ln2);
    }

    /// <summary>The next 32-bit uniform draw.</summary>
    private uint NextUniform()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_nextWord == BlocksPerBatch * DrawsPerBlock)
        {
            Refill();
        }
        uint word = BinaryPrimitives.ReadUInt32BigEndian(_keystream.AsSpan(_nextWord * sizeof(uint)));
        _nextWord++;
        return word;
    }

    private void Refill()
    {
        for (int b = 0; b < BlocksPerBatch; b++)
        {
            BinaryPrimitives.WriteUInt128BigEndian(_counterBlocks.AsSpan(b * BlockSize), _counter);
            _counter += (uint)DrawsPerBlock;
        }
        _aes.EncryptEcb(_counterBlocks, _keystream, PaddingMode.None);
        _nextWord = 0;
    }

    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            _aes.Dispose();
        }
    }
}
