using System.Buffers.Binary;

namespace Ippm.Wire;

/// <summary>
/// A 64-bit NTP-format timestamp (RFC 4656 §4.1.2): 32-bit seconds since 1900-01-01T00:00Z and a
/// 32-bit binary fraction. The same 32.32 layout also carries durations (Timeout, slot values).
/// </summary>
public readonly record struct NtpTimestamp(ulong Value) : IComparable<NtpTimestamp>
{
    /// <summary>Seconds between 1900-01-01 and 1970-01-01 (RFC 868).</summary>
    public const long UnixEpochOffsetSeconds = 2_208_988_800L;

    public const int Size = 8;

    public uint Seconds => (uint)(Value >> 32);
    public uint Fraction => (uint)Value;
    public bool IsZero => Value == 0;

    public static NtpTimestamp FromUnixNanoseconds(long unixNanoseconds)
    {
        long seconds = Math.DivRem(unixNanoseconds, 1_000_000_000L, out long nanos);
        if (nanos < 0)
        {
            seconds--;
            nanos += 1_000_000_000L;
        }
        ulong fraction = (ulong)(((UInt128)(ulong)nanos << 32) / 1_000_000_000UL);
        return new NtpTimestamp(((ulong)(seconds + UnixEpochOffsetSeconds) << 32) | fraction);
    }

    public static NtpTimestamp FromDateTimeOffset(DateTimeOffset time)
    {
        long ticks = time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        return FromUnixNanoseconds(ticks * 100);
    }

    public long ToUnixNanoseconds()
    {
        long seconds = (long)Seconds - UnixEpochOffsetSeconds;
        long nanos = (long)(((UInt128)Fraction * 1_000_000_000UL + (1UL << 31)) >> 32);
        return seconds * 1_000_000_000L + nanos;
    }

    public DateTimeOffset ToDateTimeOffset() =>
        DateTimeOffset.UnixEpoch.AddTicks(ToUnixNanoseconds() / 100);

    /// <summary>A 32.32 duration from seconds (negative values are not representable).</summary>
    public static NtpTimestamp FromSeconds(double seconds)
    {
        if (!(seconds >= 0) || seconds >= 4_294_967_296.0)
        {
            throw new ArgumentOutOfRangeException(nameof(seconds), seconds, "Duration must be in [0, 2^32) seconds.");
        }
        return new NtpTimestamp((ulong)Math.Round(seconds * 4_294_967_296.0));
    }

    /// <summary>The value read as a 32.32 duration, in seconds.</summary>
    public double TotalSeconds => Value / 4_294_967_296.0;

    /// <summary>Signed difference a − b in seconds, exact to the 32.32 resolution.</summary>
    public static double DifferenceSeconds(NtpTimestamp a, NtpTimestamp b) =>
        (long)(a.Value - b.Value) / 4_294_967_296.0;

    public static NtpTimestamp Read(ReadOnlySpan<byte> source) => new(BinaryPrimitives.ReadUInt64BigEndian(source));

    public void Write(Span<byte> destination) => BinaryPrimitives.WriteUInt64BigEndian(destination, Value);

    public int CompareTo(NtpTimestamp other) => Value.CompareTo(other.Value);

    public static bool operator <(NtpTimestamp left, NtpTimestamp right) => left.Value < right.Value;
    public static bool operator >(NtpTimestamp left, NtpTimestamp right) => left.Value > right.Value;
    public static bool operator <=(NtpTimestamp left, NtpTimestamp right) => left.Value <= right.Value;
    public static bool operator >=(NtpTimestamp left, NtpTimestamp right) => left.Value >= right.Value;

    public override string ToString() => $"{Seconds:x8}.{Fraction:x8}";
}
