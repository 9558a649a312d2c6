using System.Buffers;
using System.Buffers.Binary;

namespace Ippm.Wire.Stamp;

/// <summary>STAMP TLV Types (RFC 8972 §5.1, IANA "STAMP TLV Types").</summary>
public enum StampTlvType : byte
{
    ExtraPadding = 1,
    Location = 2,
    TimestampInformation = 3,
    ClassOfService = 4,
    DirectMeasurement = 5,
    AccessReport = 6,
    FollowUpTelemetry = 7,
    Hmac = 8,
}

/// <summary>STAMP TLV Flags (RFC 8972 §4): U (unrecognized), M (malformed), I (integrity failed); the rest MBZ.</summary>
[Flags]
public enum StampTlvFlags : byte
{
    None = 0,
    Unrecognized = 0x80,
    Malformed = 0x40,
    IntegrityFailed = 0x20,
}

/// <summary>
/// One TLV of an extended STAMP packet (RFC 8972 §4), as located in a packet:
/// <code>0 Flags (1) | 1 Type (1) | 2 Length (2) = octets of Value | 4 Value</code>
/// <see cref="Offset"/> is where the TLV starts, relative to the span it was read from.
/// </summary>
public readonly record struct StampTlv(int Offset, StampTlvFlags Flags, byte Type, int Length)
{
    public const int HeaderLength = 4;

    public int ValueOffset => Offset + HeaderLength;
    public int End => Offset + HeaderLength + Length;

    public StampTlvType KnownType => (StampTlvType)Type;

    /// <summary>
    /// Reads the TLV header at <paramref name="offset"/>. NeedMoreData when the header or the value it announces
    /// runs past the end of <paramref name="tlvs"/> (the RFC 8972 §4 "malformed" case the caller flags).
    /// </summary>
    public static OperationStatus TryRead(ReadOnlySpan<byte> tlvs, int offset, out StampTlv tlv)
    {
        tlv = default;
        if (tlvs.Length - offset < HeaderLength)
        {
            return OperationStatus.NeedMoreData;
        }
        int length = BinaryPrimitives.ReadUInt16BigEndian(tlvs[(offset + 2)..]);
        tlv = new StampTlv(offset, (StampTlvFlags)tlvs[offset], tlvs[offset + 1], length);
        return tlvs.Length - offset - HeaderLength < length ? OperationStatus.NeedMoreData : OperationStatus.Done;
    }

    /// <summary>Writes a TLV header and value; returns the octets written.</summary>
    public static int Write(Span<byte> destination, StampTlvFlags flags, StampTlvType type, ReadOnlySpan<byte> value)
    {
        WriteHeader(destination, flags, type, value.Length);
        value.CopyTo(destination[HeaderLength..]);
        return HeaderLength + value.Length;
    }

    public static void WriteHeader(Span<byte> destination, StampTlvFlags flags, StampTlvType type, int valueLength)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(valueLength, ushort.MaxValue);
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, HeaderLength + valueLength, nameof(destination));
        destination[0] = (byte)flags;
        destination[1] = (byte)type;
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)valueLength);
    }

    /// <summary>
    /// Whether a Length is valid for a type this implementation knows (RFC 8972 §4.1–§4.8); unknown types
    /// are never malformed, only unrecognized.
    /// </summary>
    public static bool IsValidLength(StampTlvType type, int length) => type switch
    {
        StampTlvType.ExtraPadding => true,
        StampTlvType.Location => length >= LocationTlv.FixedLength,
        StampTlvType.TimestampInformation => length >= TimestampInformationTlv.Length,
        StampTlvType.ClassOfService => length == ClassOfServiceTlv.Length,
        StampTlvType.DirectMeasurement => length == DirectMeasurementTlv.Length,
        StampTlvType.AccessReport => length == AccessReportTlv.Length,
        StampTlvType.FollowUpTelemetry => length == FollowUpTelemetryTlv.Length,
        StampTlvType.Hmac => length == StampLayout.HmacLength,
        _ => true,
    };

    public static bool IsKnown(byte type) => type is >= 1 and <= 8;
}

/// <summary>
/// Class of Service TLV value (RFC 8972 §4.4, with verified erratum 8199):
/// <code>DSCP1 (6 bits) | DSCP2 (6 bits) | ECN (2 bits) | RP (2 bits) | Reserved (16 bits)</code>
/// DSCP1: what the Session-Sender asks for the reflected packet; DSCP2 and ECN: what the reflector received;
/// RP = 1: the reflector could not use DSCP1 and used the received DSCP instead.
/// </summary>
public readonly record struct ClassOfServiceTlv(byte Dscp1, byte Dscp2, byte Ecn, byte ReversePath)
{
    public const int Length = 4;

    public void Write(Span<byte> value)
    {
        uint word = ((uint)(Dscp1 & 0x3F) << 26) | ((uint)(Dscp2 & 0x3F) << 20) | ((uint)(Ecn & 0x3) << 18) | ((uint)(ReversePath & 0x3) << 16);
        BinaryPrimitives.WriteUInt32BigEndian(value, word);
    }

    public static ClassOfServiceTlv Read(ReadOnlySpan<byte> value)
    {
        uint word = BinaryPrimitives.ReadUInt32BigEndian(value);
        return new ClassOfServiceTlv((byte)(word >> 26), (byte)((word >> 20) & 0x3F), (byte)((word >> 18) & 0x3), (byte)((word >> 16) & 0x3));
    }
}

/// <summary>Direct Measurement TLV value (RFC 8972 §4.5): S_TxC (4) | R_RxC (4) | R_TxC (4).</summary>
public readonly record struct DirectMeasurementTlv(uint SenderTransmitted, uint ReflectorReceived, uint ReflectorTransmitted)
{
    public const int Length = 12;

    public void Write(Span<byte> value)
    {
        BinaryPrimitives.WriteUInt32BigEndian(value, SenderTransmitted);
        BinaryPrimitives.WriteUInt32BigEndian(value[4..], ReflectorReceived);
        BinaryPrimitives.WriteUInt32BigEndian(value[8..], ReflectorTransmitted);
    }

    public static DirectMeasurementTlv Read(ReadOnlySpan<byte> value) => new(
        BinaryPrimitives.ReadUInt32BigEndian(value),
        BinaryPrimitives.ReadUInt32BigEndian(value[4..]),
        BinaryPrimitives.ReadUInt32BigEndian(value[8..]));
}

/// <summary>STAMP Synchronization Sources (RFC 8972 §5.4).</summary>
public enum StampSyncSource : byte
{
    Ntp = 1,
    Ptp = 2,
    SsuBits = 3,
    Gnss = 4,
    LocalFreeRunning = 5,
}

/// <summary>STAMP Timestamping Methods (RFC 8972 §5.5).</summary>
public enum StampTimestampMethod : byte
{
    HardwareAssist = 1,
    SoftwareLocal = 2,
    ControlPlane = 3,
}

/// <summary>
/// Timestamp Information TLV value (RFC 8972 §4.3): Sync Src In (1) | Timestamp In (1) | Sync Src Out (1) |
/// Timestamp Out (1) | optional sub-TLVs. The Session-Sender sends zeros; the reflector says how it took T2 and T3.
/// </summary>
public readonly record struct TimestampInformationTlv(byte SyncSourceIn, byte TimestampIn, byte SyncSourceOut, byte TimestampOut)
{
    public const int Length = 4;

    public void Write(Span<byte> value)
    {
        value[0] = SyncSourceIn;
        value[1] = TimestampIn;
        value[2] = SyncSourceOut;
        value[3] = TimestampOut;
    }

    public static TimestampInformationTlv Read(ReadOnlySpan<byte> value) => new(value[0], value[1], value[2], value[3]);
}

/// <summary>
/// Follow-Up Telemetry TLV value (RFC 8972 §4.7): Sequence Number (4) | Follow-Up Timestamp (8) | Timestamp M (1) |
/// Reserved (3). The reflector reports its previous reply in the session and when that reply really left.
/// </summary>
public readonly record struct FollowUpTelemetryTlv(uint SequenceNumber, NtpTimestamp FollowUpTimestamp, byte TimestampMethod)
{
    public const int Length = 16;

    public void Write(Span<byte> value)
    {
        BinaryPrimitives.WriteUInt32BigEndian(value, SequenceNumber);
        FollowUpTimestamp.Write(value[4..]);
        value[12] = TimestampMethod;
        value.Slice(13, 3).Clear();
    }

    public static FollowUpTelemetryTlv Read(ReadOnlySpan<byte> value) =>
        new(BinaryPrimitives.ReadUInt32BigEndian(value), NtpTimestamp.Read(value[4..]), value[12]);
}

/// <summary>
/// Access Report TLV value (RFC 8972 §4.6): ID (4 bits) | Resv (4 bits) | Return Code (1) | Reserved (2).
/// ID 1 = 3GPP, 2 = non-3GPP; Return Code 1 = network available, 2 = unavailable. Reflected unchanged.
/// </summary>
public readonly record struct AccessReportTlv(byte AccessId, byte ReturnCode)
{
    public const int Length = 4;

    public void Write(Span<byte> value)
    {
        value[0] = (byte)((AccessId & 0x0F) << 4);
        value[1] = ReturnCode;
        value.Slice(2, 2).Clear();
    }

    public static AccessReportTlv Read(ReadOnlySpan<byte> value) => new((byte)(value[0] >> 4), value[1]);
}

/// <summary>Location sub-TLV types (RFC 8972 §4.2.1, IANA "STAMP Sub-TLV Types").</summary>
public enum LocationSubTlvType : byte
{
    SourceMacAddress = 1,
    SourceEui48Address = 2,
    SourceEui64Address = 3,
    DestinationIpAddress = 4,
    DestinationIpv4Address = 5,
    DestinationIpv6Address = 6,
    SourceIpAddress = 7,
    SourceIpv4Address = 8,
    SourceIpv6Address = 9,
}

/// <summary>
/// Location TLV (RFC 8972 §4.2): Destination Port (2) | Source Port (2) | sub-TLVs, each with the 4-octet TLV
/// header. The sender asks with zeroed fields (Source MAC: 8-octet value; Destination / Source IP: 16-octet
/// value); the reflector answers in place, never changing a length: Source EUI-64 (zeroed when the MAC is
/// unknown, as over a UDP socket), Destination / Source IPv4 (address then 12 MBZ) or IPv6.
/// </summary>
public static class LocationTlv
{
    public const int FixedLength = 4;
    public const int MacValueLength = 8;
    public const int IpValueLength = 16;

    /// <summary>The value a Session-Sender sends: zero ports, and zeroed Source MAC, Destination IP and Source IP requests.</summary>
    public static int WriteRequest(Span<byte> value)
    {
        value[..FixedLength].Clear();
        int o = FixedLength;
        o += WriteSubTlv(value[o..], LocationSubTlvType.SourceMacAddress, MacValueLength);
        o += WriteSubTlv(value[o..], LocationSubTlvType.DestinationIpAddress, IpValueLength);
        o += WriteSubTlv(value[o..], LocationSubTlvType.SourceIpAddress, IpValueLength);
        return o;
    }

    public static int RequestLength => FixedLength + (3 * StampTlv.HeaderLength) + MacValueLength + (2 * IpValueLength);

    private static int WriteSubTlv(Span<byte> destination, LocationSubTlvType type, int length)
    {
        StampTlv.WriteHeader(destination, StampTlvFlags.None, (StampTlvType)type, length);
        destination.Slice(StampTlv.HeaderLength, length).Clear();
        return StampTlv.HeaderLength + length;
    }
}
