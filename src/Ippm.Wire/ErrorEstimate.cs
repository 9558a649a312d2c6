using System.Buffers.Binary;

namespace Ippm.Wire;

/// <summary>
/// The 16-bit Error Estimate of RFC 4656 §4.1.2: S(1) Z(1) Scale(6) | Multiplier(8);
/// error = Multiplier × 2^(Scale − 32) seconds.
/// </summary>
public readonly record struct ErrorEstimate(ushort Value)
{
    public const int Size = 2;
    private const ushort SynchronizedBit = 0x8000;
    private const ushort PtpFormatBit = 0x4000;

    /// <summary>S: the clock is synchronised to UTC by an external source.</summary>
    public bool IsSynchronized => (Value & SynchronizedBit) != 0;

    /// <summary>Z (RFC 8186): the timestamp is in truncated PTP format. ippm always sends 0.</summary>
    public bool IsPtpFormat => (Value & PtpFormatBit) != 0;

    public int Scale => (Value >> 8) & 0x3F;
    public byte Multiplier => (byte)Value;

    /// <summary>Multiplier 0 is invalid (RFC 4656 §4.1.2).</summary>
    public bool IsValid => Multiplier != 0;

    /// <summary>The estimate in seconds (NaN when invalid).</summary>
    public double Seconds => IsValid ? Multiplier * Math.Pow(2, Scale - 32) : double.NaN;

    /// <summary>
    /// Encodes an error in seconds, rounding up so the claim is never tighter than the truth.
    /// Follows the reference encoder (shift the 32.32 value until it fits 8 bits, then add one).
    /// </summary>
    public static ErrorEstimate FromSeconds(double seconds, bool synchronized)
    {
        // An unknown error (NaN) must not turn into a tiny claim: treat it as the largest one.
        double fixedPoint = double.IsNaN(seconds) ? double.MaxValue : Math.Max(0, seconds) * 4_294_967_296.0;
        ulong e = fixedPoint >= ulong.MaxValue ? ulong.MaxValue : (ulong)Math.Ceiling(fixedPoint);
        int scale = 0;
        while (e >= 0xFF && scale < 63)
        {
            e >>= 1;
            scale++;
        }
        ulong multiplier = Math.Min(e + 1, 0xFF);
        ushort value = (ushort)((scale << 8) | (int)multiplier);
        if (synchronized)
        {
            value |= SynchronizedBit;
        }
        return new ErrorEstimate(value);
    }

    public static ErrorEstimate Read(ReadOnlySpan<byte> source) => new(BinaryPrimitives.ReadUInt16BigEndian(source));

    public void Write(Span<byte> destination) => BinaryPrimitives.WriteUInt16BigEndian(destination, Value);

    public override string ToString() => $"0x{Value:x4} ({(IsSynchronized ? "sync" : "unsync")}, {Seconds:g3} s)";
}
