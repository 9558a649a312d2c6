using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Ippm.Security;
using Ippm.Security.Hashing;
using Ippm.Wire;
using Ippm.Wire.Test;

namespace Ippm.Benchmarks;

/// <summary>
/// A reflector's crypto for one batch of 64 packets (verify/decrypt the sender packets, protect the replies), the
/// way TwampReflector calls it, with each engine combination of <see cref="TestPacketCipher"/>. Divide by 64 for the
/// cost per reflected packet. <c>Bcl+Transforms</c> is the code before keyed HMAC and AES-NI.
/// </summary>
[MemoryDiagnoser]
[MinColumn]
public class TestPacketCipherBenchmarks
{
    private const int Batch = 64;
    private readonly byte[][] _senders = Enumerable.Range(0, Batch).Select(_ => new byte[112]).ToArray();
    private readonly byte[][] _protectedSenders = Enumerable.Range(0, Batch).Select(_ => new byte[112]).ToArray();
    private readonly byte[][] _replies = Enumerable.Range(0, Batch).Select(_ => RandomNumberGenerator.GetBytes(112)).ToArray();
    private readonly bool[] _valid = new bool[Batch];
    private TestPacketCipher _cipher = null!;
    private TestPacketCipher.PacketAccessor _senderAccessor = null!;
    private TestPacketCipher.PacketAccessor _replyAccessor = null!;

    [Params(SecurityMode.Authenticated, SecurityMode.Encrypted)]
    public SecurityMode Mode { get; set; }

    [Params("Bcl+Transforms", "LibCrypto+Transforms", "Managed+AesNi", "LibCrypto+AesNi")]
    public string Engines { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        byte[] aesKey = RandomNumberGenerator.GetBytes(16);
        byte[] hmacKey = RandomNumberGenerator.GetBytes(32);
        Sha1Engine engine = Enum.Parse<Sha1Engine>(Engines.Split('+')[0]);
        _cipher = new TestPacketCipher(Mode, aesKey, hmacKey, useAesNi: Engines.EndsWith("AesNi", StringComparison.Ordinal), engine);
        using var sender = new TestPacketCipher(Mode, aesKey, hmacKey);
        for (int i = 0; i < Batch; i++)
        {
            new SenderPacket((uint)i, new NtpTimestamp(0xeeb54d9380000000), new ErrorEstimate(0x8001)).Write(_protectedSenders[i], protectedLayout: true);
            sender.Protect(_protectedSenders[i], TestPacketLayout.SenderHmacOffset);
        }
        _senderAccessor = i => _senders[i];
        _replyAccessor = i => _replies[i];
    }

    [GlobalCleanup]
    public void Cleanup() => _cipher.Dispose();

    [Benchmark(OperationsPerInvoke = Batch)]
    public int ReflectBatchCrypto()
    {
        for (int i = 0; i < Batch; i++)
        {
            _protectedSenders[i].CopyTo(_senders[i], 0);
        }
        _cipher.TryUnprotectMany(_senderAccessor, Batch, TestPacketLayout.SenderHmacOffset, _valid);
        _cipher.ProtectMany(_replyAccessor, Batch, TestPacketLayout.ReflectorHmacOffset);
        return _valid[Batch - 1] ? 1 : 0;
    }
}
