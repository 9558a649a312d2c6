using System.Buffers;
using System.Buffers.Binary;

namespace Ippm.Wire.Control;

/// <summary>
/// Server-Greeting, server → client, 64 octets, never encrypted (RFC 4656 §3.1, RFC 5357 §3.1).
/// <code>
///  0 Unused (12) | 12 Modes (4) | 16 Challenge (16) | 32 Salt (16) | 48 Count (4) | 52 MBZ (12)
/// </code>
/// </summary>
public sealed record ServerGreeting(uint Modes, byte[] Challenge, byte[] Salt, uint Count)
{
    public const int Length = 64;
    private const int ModesOffset = 12;
    private const int ChallengeOffset = ModesOffset + 4;
    private const int SaltOffset = ChallengeOffset + 16;
    private const int CountOffset = SaltOffset + 16;

    public void Write(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Length, nameof(destination));
        destination[..Length].Clear();
        BinaryPrimitives.WriteUInt32BigEndian(destination[ModesOffset..], Modes);
        Challenge.AsSpan(0, 16).CopyTo(destination[ChallengeOffset..]);
        Salt.AsSpan(0, 16).CopyTo(destination[SaltOffset..]);
        BinaryPrimitives.WriteUInt32BigEndian(destination[CountOffset..], Count);
    }

    public static OperationStatus TryRead(ReadOnlySpan<byte> source, out ServerGreeting? greeting)
    {
        greeting = null;
        if (source.Length < Length)
        {
            return OperationStatus.NeedMoreData;
        }
        greeting = new ServerGreeting(
            BinaryPrimitives.ReadUInt32BigEndian(source[ModesOffset..]),
            source.Slice(ChallengeOffset, 16).ToArray(),
            source.Slice(SaltOffset, 16).ToArray(),
            BinaryPrimitives.ReadUInt32BigEndian(source[CountOffset..]));
        return OperationStatus.Done;
    }
}
