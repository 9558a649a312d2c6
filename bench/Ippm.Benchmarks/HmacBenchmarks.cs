using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Ippm.Security.Hashing;

namespace Ippm.Benchmarks;

/// <summary>
/// One HMAC-SHA1 of a test packet's covered octets (16: mode A; 32: sender E; 96: reflector E) through each engine
/// of <see cref="HmacSha1Key"/>, against the base library's incremental HMAC that TestPacketCipher used before.
/// </summary>
[MinColumn]
public class HmacBenchmarks
{
    private readonly byte[] _key = RandomNumberGenerator.GetBytes(32);
    private readonly byte[] _message = RandomNumberGenerator.GetBytes(1500);
    private readonly byte[] _mac = new byte[20];
    private HmacSha1Key _libCrypto = null!;
    private HmacSha1Key _managed = null!;
    private HmacSha1Key _bcl = null!;
    private IncrementalHash _incremental = null!;

    [Params(16, 32, 96)]
    public int Length { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _libCrypto = new HmacSha1Key(_key, Sha1Engine.LibCrypto);
        _managed = new HmacSha1Key(_key, Sha1Engine.Managed);
        _bcl = new HmacSha1Key(_key, Sha1Engine.Bcl);
        _incremental = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA1, _key);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _libCrypto.Dispose();
        _managed.Dispose();
        _bcl.Dispose();
        _incremental.Dispose();
    }

    [Benchmark(Baseline = true)]
    public int IncrementalHashHmac()
    {
        _incremental.AppendData(_message.AsSpan(0, Length));
        return _incremental.GetHashAndReset(_mac);
    }

    [Benchmark]
    public void KeyedLibCrypto() => _libCrypto.Compute(_message.AsSpan(0, Length), _mac.AsSpan(0, 16));

    [Benchmark]
    public void KeyedManaged() => _managed.Compute(_message.AsSpan(0, Length), _mac.AsSpan(0, 16));

    [Benchmark]
    public void KeyedBclOneShot() => _bcl.Compute(_message.AsSpan(0, Length), _mac.AsSpan(0, 16));
}
