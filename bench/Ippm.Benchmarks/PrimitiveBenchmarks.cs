using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;

namespace Ippm.Benchmarks;

/// <summary>The crypto primitives behind test-packet protection, in the forms .NET offers them.</summary>
[MemoryDiagnoser]
public class PrimitiveBenchmarks
{
    private readonly byte[] _key = RandomNumberGenerator.GetBytes(16);
    private readonly byte[] _hmacKey = RandomNumberGenerator.GetBytes(32);
    private readonly byte[] _block = new byte[96];
    private readonly byte[] _out = new byte[96];
    private readonly byte[] _digest = new byte[20];
    private readonly byte[] _iv = new byte[16];
    private Aes _aes = null!;
    private ICryptoTransform _ecb = null!;
    private IncrementalHash _hmac = null!;
    private ICryptoTransform _cbc = null!;
    private HMACSHA1 _hmacInstance = null!;

    [GlobalSetup]
    public void Setup()
    {
        _aes = Aes.Create();
        _aes.Key = _key;
        _aes.Mode = CipherMode.ECB;
        _aes.Padding = PaddingMode.None;
        _ecb = _aes.CreateEncryptor();
        _hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA1, _hmacKey);
        _hmacInstance = new HMACSHA1(_hmacKey);
        using var cbcAes = Aes.Create();
        cbcAes.Key = _key;
        cbcAes.Mode = CipherMode.CBC;
        cbcAes.Padding = PaddingMode.None;
        _cbc = cbcAes.CreateEncryptor(_key, new byte[16]);
    }

    [Benchmark]
    public int AesCbcTransform96WithReset()
    {
        int n = _cbc.TransformBlock(_block, 0, 96, _out, 0);
        _cbc.TransformFinalBlock(_block, 0, 0);
        return n;
    }

    [Benchmark]
    public int AesOneShotEcb16() => _aes.EncryptEcb(_block.AsSpan(0, 16), _out, PaddingMode.None);

    [Benchmark]
    public int AesOneShotCbc96() => _aes.EncryptCbc(_block, _iv, _out, PaddingMode.None);

    [Benchmark]
    public int AesTransformEcb16() => _ecb.TransformBlock(_block, 0, 16, _out, 0);

    [Benchmark]
    public int AesTransformEcb96() => _ecb.TransformBlock(_block, 0, 96, _out, 0);

    [Benchmark]
    public int HmacIncremental16()
    {
        _hmac.AppendData(_block.AsSpan(0, 16));
        return _hmac.GetHashAndReset(_digest);
    }

    [Benchmark]
    public bool HmacInstance16() => _hmacInstance.TryComputeHash(_block.AsSpan(0, 16), _digest, out _);

    [Benchmark]
    public int Sha1OneShot80() => SHA1.HashData(_out.AsSpan(0, 80), _digest);

    [Benchmark]
    public int HmacOneShot16() => HMACSHA1.HashData(_hmacKey, _block.AsSpan(0, 16), _digest);
}
