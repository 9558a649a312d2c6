namespace Ippm.Wire.Stamp;

/// <summary>
/// STAMP timestamps (RFC 8762 §4.2.1): NTP 64-bit format by default, or the PTPv2 truncated format (32-bit seconds
/// since 1970-01-01, 32-bit nanoseconds) when the Error Estimate's Z bit is 1 (RFC 8186 §2.3). ippm keeps every
/// time as an <see cref="NtpTimestamp"/> internally and converts at the wire. ippm's clock is the system's UTC clock
/// for both formats: it applies no TAI offset to PTP timestamps (stated in README).
/// </summary>
public static class StampTimestamp
{
    private const ushort PtpFormatBit = 0x4000;

    /// <summary>The 64 wire bits of a time in the chosen format.</summary>
    public static ulong Encode(NtpTimestamp time, bool ptp)
    {
        if (!ptp)
        {
            return time.Value;
        }
        long nanos = time.ToUnixNanoseconds();
        ulong seconds = (ulong)(nanos / 1_000_000_000L);
        ulong fraction = (ulong)(nanos % 1_000_000_000L);
        return ((seconds & 0xFFFF_FFFF) << 32) | fraction;
    }

    /// <summary>The time the 64 wire bits mean in the given format; a PTP nanoseconds field ≥ 10⁹ is clamped.</summary>
    public static NtpTimestamp Decode(ulong wire, bool ptp)
    {
        if (!ptp)
        {
            return new NtpTimestamp(wire);
        }
        long seconds = (long)(wire >> 32);
        long nanos = Math.Min((long)(uint)wire, 999_999_999L);
        return NtpTimestamp.FromUnixNanoseconds((seconds * 1_000_000_000L) + nanos);
    }

    /// <summary>The Error Estimate with its Z bit saying which format the timestamps it describes use.</summary>
    public static ErrorEstimate WithFormat(ErrorEstimate error, bool ptp) =>
        new((ushort)(ptp ? error.Value | PtpFormatBit : error.Value & ~PtpFormatBit));
}
