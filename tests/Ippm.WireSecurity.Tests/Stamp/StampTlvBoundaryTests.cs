using System.Buffers;
using Ippm.Wire;
using Ippm.Wire.Stamp;

namespace Ippm.Tests.Stamp;

/// <summary>
/// The edges of STAMP's base packets and TLVs (RFC 8762 §4.2, RFC 8972 §4): exact-length packets, TLVs located
/// at an offset inside a packet's TLV area, the length each known TLV type must have, and the header writer's refusals.
/// </summary>
public sealed class StampTlvBoundaryTests
{
    [Theory]
    [InlineData(false, 44)]
    [InlineData(true, 112)]
    public void BasePackets_ExactlyTheBaseLength_AreComplete(bool authenticated, int length)
    {
        byte[] sender = new byte[length];
        new StampSenderPacket(5, new NtpTimestamp(6), new ErrorEstimate(1), 0x1234).Write(sender, authenticated);
        byte[] reflector = new byte[length];
        new StampReflectorPacket(1, new NtpTimestamp(2), new ErrorEstimate(1), 0x1234, new NtpTimestamp(3), 5, new NtpTimestamp(6), new ErrorEstimate(1), 64)
            .Write(reflector, authenticated);

        Assert.Equal(OperationStatus.Done, StampSenderPacket.TryRead(sender, authenticated, out StampSenderPacket s));
        Assert.Equal((ushort)0x1234, s.Ssid);
        Assert.Equal(OperationStatus.Done, StampReflectorPacket.TryRead(reflector, authenticated, out StampReflectorPacket r));
        Assert.Equal(64, r.SenderTtl);
    }

    [Fact]
    public void Tlv_AtAnOffset_PositionsAreRelativeToTheTlvArea()
    {
        // Two TLVs back to back: Extra Padding with 3 octets, then Class of Service (4) at offset 7.
        byte[] tlvs = new byte[15];
        int first = StampTlv.Write(tlvs, StampTlvFlags.None, StampTlvType.ExtraPadding, [0, 0, 0]);
        StampTlv.Write(tlvs.AsSpan(first), StampTlvFlags.None, StampTlvType.ClassOfService, [1, 2, 3, 4]);

        Assert.Equal(OperationStatus.Done, StampTlv.TryRead(tlvs, first, out StampTlv cos));

        Assert.Equal(7, cos.Offset);
        Assert.Equal(11, cos.ValueOffset);
        Assert.Equal(15, cos.End);
        Assert.Equal(StampTlvType.ClassOfService, cos.KnownType);
        Assert.Equal("01020304", Convert.ToHexStringLower(tlvs.AsSpan(cos.ValueOffset, cos.Length)));
    }

    [Fact]
    public void Tlv_AtAnOffset_HeaderOrValuePastTheEnd_IsNeedMoreData()
    {
        byte[] tlvs = new byte[15];
        int first = StampTlv.Write(tlvs, StampTlvFlags.None, StampTlvType.ExtraPadding, [0, 0, 0]);
        StampTlv.Write(tlvs.AsSpan(first), StampTlvFlags.None, StampTlvType.ClassOfService, [1, 2, 3, 4]);

        // Only 3 octets of the second header remain.
        Assert.Equal(OperationStatus.NeedMoreData, StampTlv.TryRead(tlvs.AsSpan(0, first + 3), first, out _));
        // The header is there, the last value octet is not.
        Assert.Equal(OperationStatus.NeedMoreData, StampTlv.TryRead(tlvs.AsSpan(0, 14), first, out StampTlv cut));
        Assert.Equal(4, cut.Length);
        // Nothing at all after the offset.
        Assert.Equal(OperationStatus.NeedMoreData, StampTlv.TryRead(tlvs, 15, out _));
    }

    [Fact]
    public void Tlv_WriteHeader_RefusesAValueTooLongForTheLengthFieldOrTheDestination()
    {
        var tooLong = Assert.Throws<ArgumentOutOfRangeException>(() => StampTlv.WriteHeader(new byte[70_000], StampTlvFlags.None, StampTlvType.ExtraPadding, 65_536));
        Assert.Equal("valueLength", tooLong.ParamName);

        byte[] destination = Enumerable.Repeat((byte)0xA5, 7).ToArray();
        var tooShort = Assert.Throws<ArgumentOutOfRangeException>(() => StampTlv.WriteHeader(destination, StampTlvFlags.None, StampTlvType.ClassOfService, 4));
        Assert.Equal("destination", tooShort.ParamName);
        Assert.All(destination, b => Assert.Equal(0xA5, b));

        byte[] largest = new byte[4 + 65_535];
        StampTlv.WriteHeader(largest, StampTlvFlags.None, StampTlvType.ExtraPadding, 65_535);
        Assert.Equal("0001ffff", Convert.ToHexStringLower(largest.AsSpan(0, 4)));
    }

    [Theory]
    // RFC 8972 §4.1–§4.8: fixed-length values must have exactly their length, Location and Timestamp Information at
    // least their fixed part (sub-TLVs may follow), Extra Padding any length.
    [InlineData(StampTlvType.ExtraPadding, 0, true)]
    [InlineData(StampTlvType.ExtraPadding, 1400, true)]
    [InlineData(StampTlvType.Location, 3, false)]
    [InlineData(StampTlvType.Location, 4, true)]
    [InlineData(StampTlvType.Location, 64, true)]
    [InlineData(StampTlvType.TimestampInformation, 3, false)]
    [InlineData(StampTlvType.TimestampInformation, 4, true)]
    [InlineData(StampTlvType.TimestampInformation, 12, true)]
    [InlineData(StampTlvType.ClassOfService, 3, false)]
    [InlineData(StampTlvType.ClassOfService, 4, true)]
    [InlineData(StampTlvType.ClassOfService, 5, false)]
    [InlineData(StampTlvType.DirectMeasurement, 11, false)]
    [InlineData(StampTlvType.DirectMeasurement, 12, true)]
    [InlineData(StampTlvType.DirectMeasurement, 13, false)]
    [InlineData(StampTlvType.AccessReport, 4, true)]
    [InlineData(StampTlvType.AccessReport, 8, false)]
    [InlineData(StampTlvType.FollowUpTelemetry, 16, true)]
    [InlineData(StampTlvType.FollowUpTelemetry, 12, false)]
    [InlineData(StampTlvType.Hmac, 16, true)]
    [InlineData(StampTlvType.Hmac, 32, false)]
    [InlineData((StampTlvType)200, 0, true)] // unknown types are unrecognized, never malformed
    public void Tlv_IsValidLength_PerRfc8972(StampTlvType type, int length, bool valid)
    {
        Assert.Equal(valid, StampTlv.IsValidLength(type, length));
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(1, true)]
    [InlineData(4, true)]
    [InlineData(8, true)]
    [InlineData(9, false)]
    [InlineData(255, false)]
    public void Tlv_IsKnown_Types1To8(byte type, bool known)
    {
        Assert.Equal(known, StampTlv.IsKnown(type));
    }

    [Fact]
    public void ClassOfService_EcnIsTwoBitsBetweenDscp2AndRp()
    {
        byte[] value = new byte[4];
        new ClassOfServiceTlv(Dscp1: 0, Dscp2: 0, Ecn: 1, ReversePath: 0).Write(value);

        // 000000 | 000000 | 01 | 00 | 16 zero bits
        Assert.Equal("00040000", Convert.ToHexStringLower(value));
        // Bits outside a field do not leak into its neighbours.
        new ClassOfServiceTlv(Dscp1: 0xFF, Dscp2: 0, Ecn: 0xFF, ReversePath: 0).Write(value);
        Assert.Equal("fc0c0000", Convert.ToHexStringLower(value));
    }

    [Fact]
    public void StampTimestamp_NtpFormat_IsTheWireBitsUnchanged()
    {
        Assert.Equal(new NtpTimestamp(0xeeb54d93_80000001), StampTimestamp.Decode(0xeeb54d93_80000001, ptp: false));
        // A PTP nanoseconds field past 10⁹ is clamped to the last nanosecond of its second.
        Assert.Equal(
            StampTimestamp.Decode(0x5e5afb00_3B9AC9FFUL, ptp: true),
            StampTimestamp.Decode(0x5e5afb00_FFFFFFFFUL, ptp: true));
    }
}
