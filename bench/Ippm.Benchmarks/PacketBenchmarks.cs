using BenchmarkDotNet.Attributes;
using Ippm.Security;
using Ippm.Wire;
using Ippm.Wire.Test;

namespace Ippm.Benchmarks;

/// <summary>The per-packet work of a sender and a reflector, without sockets.</summary>
[MemoryDiagnoser]
public class PacketBenchmarks
{
    private readonly byte[] _sender = new byte[112];
    private readonly byte[] _reflector = new byte[112];
    private ControlKeys _keys = null!;
    private TestPacketCipher _cipher = null!;
    private readonly SessionId _sid = SessionId.Parse("7f000001eeb54d909c9613d336cd38ef");

    [Params(SecurityMode.Open, SecurityMode.Authenticated, SecurityMode.Encrypted)]
    public SecurityMode Mode { get; set; }

    private bool Protected => Mode.ProtectsTestPackets();

    [GlobalSetup]
    public void Setup()
    {
        _keys = ControlKeys.CreateRandom();
        if (Protected)
        {
            _cipher = TestPacketCipher.Create(Mode, _keys, _sid);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (Protected)
        {
            _cipher.Dispose();
        }
        _keys.Dispose();
    }

    /// <summary>What a Session-Sender does per packet: fields, then protection.</summary>
    [Benchmark]
    public void SenderEncodeAndProtect()
    {
        new SenderPacket(42, new NtpTimestamp(0xeeb54d9380000000), new ErrorEstimate(0x8001)).Write(_sender, Protected);
        if (Protected)
        {
            _cipher.Protect(_sender, TestPacketLayout.SenderHmacOffset);
        }
    }

    /// <summary>What a reflector does per packet: verify the sender packet, build the reply, protect it.</summary>
    [Benchmark]
    public bool ReflectOne()
    {
        new SenderPacket(42, new NtpTimestamp(0xeeb54d9380000000), new ErrorEstimate(0x8001)).Write(_sender, Protected);
        if (Protected)
        {
            _cipher.Protect(_sender, TestPacketLayout.SenderHmacOffset);
            if (!_cipher.TryUnprotect(_sender, TestPacketLayout.SenderHmacOffset))
            {
                return false;
            }
        }
        Array.Clear(_reflector, 0, Protected ? 96 : 41);
        ReflectorPacket.CopySenderFields(_sender, _reflector, Protected, 255);
        ReflectorPacket.WriteReceiveTimestamp(_reflector, Protected, new NtpTimestamp(0xeeb54d9388000000));
        ReflectorPacket.WriteSequenceNumber(_reflector, 7);
        ReflectorPacket.WriteTimestamp(_reflector, Protected, new NtpTimestamp(0xeeb54d9390000000), new ErrorEstimate(0x8001));
        if (Protected)
        {
            _cipher.Protect(_reflector, TestPacketLayout.ReflectorHmacOffset);
        }
        return true;
    }

    [Benchmark]
    public ReflectorPacket DecodeReflector()
    {
        ReflectorPacket.TryRead(_reflector, Protected, out ReflectorPacket packet);
        return packet;
    }
}
