using System.Buffers.Binary;

namespace Ippm.Wire;

/// <summary>
/// A 16-octet SID (RFC 4656 §3.5): receiver IPv4 address (4), NTP timestamp (8), random (4).
/// Stored as two integers so it compares and hashes cheaply.
/// </summary>
public readonly record struct SessionId(ulong High, ulong Low)
{
    public const int Size = 16;

    public bool IsZero => High == 0 && Low == 0;

    public static SessionId Read(ReadOnlySpan<byte> source) =>
        new(BinaryPrimitives.ReadUInt64BigEndian(source), BinaryPrimitives.ReadUInt64BigEndian(source[8..]));

    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, High);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], Low);
    }

    public byte[] ToArray()
    {
        var bytes = new byte[Size];
        Write(bytes);
        return bytes;
    }

    public static SessionId Parse(string hex) => Read(Convert.FromHexString(hex));

    public override string ToString() => $"{High:x16}{Low:x16}";
}
