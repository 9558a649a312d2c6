using System.Buffers;
using Ippm.Wire;
using Ippm.Wire.Stamp;

namespace Ippm.Tests.Stamp;

/// <summary>
/// The STAMP base packets against the field layouts of RFC 8762 Figures 2–5 (with RFC 8972 §3's SSID) and the TLV
/// value layouts of RFC 8972 §4. Expected octets are written field by field from the figures' offsets and sizes.
/// </summary>
public sealed class StampWireTests
{
    private const byte Filler = 0xA5;

    private static readonly StampSenderPacket s_sender = new(0x01020304, new NtpTimestamp(0xeeb54d93_80000000), new ErrorEstimate(0x8001), 0xBEEF);

    private static readonly StampReflectorPacket s_reflector = new(
        SequenceNumber: 0x0A0B0C0D,
        Timestamp: new NtpTimestamp(0xeeb54d93_90000000),
        ErrorEstimate: new ErrorEstimate(0x0C64),
        Ssid: 0xBEEF,
        ReceiveTimestamp: new NtpTimestamp(0xeeb54d93_88000000),
        SenderSequenceNumber: 0x01020304,
        SenderTimestamp: new NtpTimestamp(0xeeb54d93_80000000),
        SenderErrorEstimate: new ErrorEstimate(0x8001),
        SenderTtl: 254);

    private static byte[] Filled(int length)
    {
        byte[] b = new byte[length];
        Array.Fill(b, Filler);
        return b;
    }

    private static string Zeros(int octets) => new('0', octets * 2);

    [Fact]
    public void SenderPacket_Unauthenticated_IsRfc8762Figure2WithSsid()
    {
        byte[] packet = Filled(44);
        s_sender.Write(packet, authenticated: false);
        // Seq (4) | Timestamp (8) | Error Estimate (2) | SSID (2) | MBZ (28) = 44
        Assert.Equal("01020304" + "eeb54d9380000000" + "8001" + "beef" + Zeros(28), Convert.ToHexStringLower(packet));
    }

    [Fact]
    public void SenderPacket_Authenticated_IsRfc8762Figure3WithSsid()
    {
        byte[] packet = Filled(112);
        s_sender.Write(packet, authenticated: true);
        // Seq (4) | MBZ (12) | Timestamp (8) | Error Estimate (2) | SSID (2) | MBZ (68) | HMAC (16, not written)
        Assert.Equal("01020304" + Zeros(12) + "eeb54d9380000000" + "8001" + "beef" + Zeros(68), Convert.ToHexStringLower(packet.AsSpan(0, 96)));
        Assert.All(packet[96..], b => Assert.Equal(Filler, b));
    }

    [Fact]
    public void ReflectorPacket_Unauthenticated_IsRfc8762Figure4WithSsid()
    {
        byte[] packet = Filled(44);
        s_reflector.Write(packet, authenticated: false);
        Assert.Equal(
            "0a0b0c0d" + "eeb54d9390000000" + "0c64" + "beef" + "eeb54d9388000000" + "01020304" + "eeb54d9380000000" + "8001" + "0000" + "fe" + "000000",
            Convert.ToHexStringLower(packet));
    }

    [Fact]
    public void ReflectorPacket_Authenticated_IsRfc8762Figure5WithSsid()
    {
        byte[] packet = Filled(112);
        s_reflector.Write(packet, authenticated: true);
        Assert.Equal(
            "0a0b0c0d" + Zeros(12) + "eeb54d9390000000" + "0c64" + "beef" + Zeros(4) + "eeb54d9388000000" + Zeros(8)
            + "01020304" + Zeros(12) + "eeb54d9380000000" + "8001" + Zeros(6) + "fe" + Zeros(15),
            Convert.ToHexStringLower(packet.AsSpan(0, 96)));
        Assert.All(packet[96..], b => Assert.Equal(Filler, b));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void BasePackets_RoundTrip_AndEveryShorterPrefixNeedsMoreData(bool authenticated)
    {
        int length = StampLayout.BaseLength(authenticated);
        byte[] sender = new byte[length + 8];
        s_sender.Write(sender, authenticated);
        byte[] reflector = new byte[length];
        s_reflector.Write(reflector, authenticated);

        Assert.Equal(OperationStatus.Done, StampSenderPacket.TryRead(sender, authenticated, out StampSenderPacket s));
        Assert.Equal(s_sender, s);
        Assert.Equal(OperationStatus.Done, StampReflectorPacket.TryRead(reflector, authenticated, out StampReflectorPacket r));
        Assert.Equal(s_reflector, r);
        for (int prefix = 0; prefix < length; prefix++)
        {
            Assert.Equal(OperationStatus.NeedMoreData, StampSenderPacket.TryRead(sender.AsSpan(0, prefix), authenticated, out _));
            Assert.Equal(OperationStatus.NeedMoreData, StampReflectorPacket.TryRead(reflector.AsSpan(0, prefix), authenticated, out _));
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void BuildFromSender_CopiesSenderFieldsAndSsid_ClearsMbz_LeavesTimestampForLater(bool authenticated)
    {
        byte[] sender = new byte[StampLayout.BaseLength(authenticated)];
        s_sender.Write(sender, authenticated);
        byte[] reply = Filled(sender.Length);

        StampReflectorPacket.BuildFromSender(sender, reply, authenticated, 7, new NtpTimestamp(0x1122334455667788), 61);
        StampReflectorPacket.WriteTimestamp(reply, authenticated, new NtpTimestamp(0x99), new ErrorEstimate(0x0001));

        StampReflectorPacket.TryRead(reply, authenticated, out StampReflectorPacket r);
        Assert.Equal(
            new StampReflectorPacket(7, new NtpTimestamp(0x99), new ErrorEstimate(0x0001), 0xBEEF, new NtpTimestamp(0x1122334455667788),
                s_sender.SequenceNumber, s_sender.Timestamp, s_sender.ErrorEstimate, 61),
            r);
        byte[] expected = new byte[sender.Length];
        r.Write(expected, authenticated);
        Assert.Equal(Convert.ToHexStringLower(expected.AsSpan(0, authenticated ? 96 : 44)), Convert.ToHexStringLower(reply.AsSpan(0, authenticated ? 96 : 44)));
    }

    [Fact]
    public void TwampLightCompatibility_First41OctetsOfTheUnauthenticatedReplyAreTwampsReflectorPacket()
    {
        byte[] stamp = new byte[44];
        s_reflector.Write(stamp, authenticated: false);
        Assert.Equal(OperationStatus.Done, Ippm.Wire.Test.ReflectorPacket.TryRead(stamp, protectedLayout: false, out Ippm.Wire.Test.ReflectorPacket twamp));
        Assert.Equal(s_reflector.SequenceNumber, twamp.SequenceNumber);
        Assert.Equal(s_reflector.ReceiveTimestamp, twamp.ReceiveTimestamp);
        Assert.Equal(s_reflector.SenderSequenceNumber, twamp.SenderSequenceNumber);
        Assert.Equal(s_reflector.SenderTimestamp, twamp.SenderTimestamp);
        Assert.Equal(s_reflector.SenderErrorEstimate, twamp.SenderErrorEstimate);
        Assert.Equal(s_reflector.SenderTtl, twamp.SenderTtl);
    }

    [Fact]
    public void Tlv_HeaderIsFlagsTypeLength_AndTruncationIsNeedMoreData()
    {
        byte[] tlvs = new byte[12];
        int written = StampTlv.Write(tlvs, StampTlvFlags.Unrecognized, StampTlvType.ClassOfService, [1, 2, 3, 4]);
        Assert.Equal(8, written);
        Assert.Equal("80040004" + "01020304", Convert.ToHexStringLower(tlvs.AsSpan(0, 8)));
        Assert.Equal(OperationStatus.Done, StampTlv.TryRead(tlvs.AsSpan(0, 8), 0, out StampTlv tlv));
        Assert.Equal(new StampTlv(0, StampTlvFlags.Unrecognized, 4, 4), tlv);
        for (int prefix = 0; prefix < 8; prefix++)
        {
            Assert.Equal(OperationStatus.NeedMoreData, StampTlv.TryRead(tlvs.AsSpan(0, prefix), 0, out _));
        }
        // A Length announcing more than remains is malformed (RFC 8972 §4).
        tlvs[10] = 0xFF;
        tlvs[11] = 0xFF;
        Assert.Equal(OperationStatus.NeedMoreData, StampTlv.TryRead(tlvs, 8, out StampTlv bad));
        Assert.Equal(0xFFFF, bad.Length);
    }

    [Fact]
    public void ClassOfService_BitLayoutIsDscp1Dscp2EcnRpReserved()
    {
        byte[] value = Filled(4);
        new ClassOfServiceTlv(Dscp1: 46, Dscp2: 10, Ecn: 3, ReversePath: 1).Write(value);
        // 101110 | 001010 | 11 | 01 | 16 zero bits
        Assert.Equal(Convert.ToUInt32("10111000101011010000000000000000", 2), System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(value));
        Assert.Equal(new ClassOfServiceTlv(46, 10, 3, 1), ClassOfServiceTlv.Read(value));
    }

    [Fact]
    public void OtherTlvValues_HaveRfc8972Layouts()
    {
        byte[] direct = new byte[12];
        new DirectMeasurementTlv(1, 0x0203, 0x04050607).Write(direct);
        Assert.Equal("00000001" + "00000203" + "04050607", Convert.ToHexStringLower(direct));

        byte[] followUp = Filled(16);
        new FollowUpTelemetryTlv(9, new NtpTimestamp(0x0102030405060708), 2).Write(followUp);
        Assert.Equal("00000009" + "0102030405060708" + "02" + "000000", Convert.ToHexStringLower(followUp));
        Assert.Equal(new FollowUpTelemetryTlv(9, new NtpTimestamp(0x0102030405060708), 2), FollowUpTelemetryTlv.Read(followUp));

        byte[] access = Filled(4);
        new AccessReportTlv(2, 1).Write(access);
        Assert.Equal("20010000", Convert.ToHexStringLower(access));
        Assert.Equal(new AccessReportTlv(2, 1), AccessReportTlv.Read(access));

        byte[] info = new byte[4];
        new TimestampInformationTlv(1, 2, 5, 2).Write(info);
        Assert.Equal("01020502", Convert.ToHexStringLower(info));

        byte[] location = Filled(LocationTlv.RequestLength);
        Assert.Equal(LocationTlv.RequestLength, LocationTlv.WriteRequest(location));
        // ports zero | Source MAC (type 1, length 8) | Destination IP (4, 16) | Source IP (7, 16), all zero
        Assert.Equal("00000000" + "00010008" + Zeros(8) + "00040010" + Zeros(16) + "00070010" + Zeros(16), Convert.ToHexStringLower(location));
    }

    [Fact]
    public void PtpTimestamp_IsSecondsSince1970AndNanoseconds_ZBitSaysSo()
    {
        // 2020-03-01T00:00:00.25Z: 1583020800 s since 1970 = 0x5e5afb00; 250 000 000 ns = 0x0ee6b280.
        NtpTimestamp time = NtpTimestamp.FromDateTimeOffset(new DateTimeOffset(2020, 3, 1, 0, 0, 0, 250, TimeSpan.Zero));
        Assert.Equal(0x5e5afb00_0ee6b280UL, StampTimestamp.Encode(time, ptp: true));
        Assert.Equal(time.Value, StampTimestamp.Encode(time, ptp: false));
        Assert.InRange(NtpTimestamp.DifferenceSeconds(StampTimestamp.Decode(0x5e5afb00_0ee6b280UL, ptp: true), time), -1e-9, 1e-9);
        Assert.True(StampTimestamp.WithFormat(new ErrorEstimate(0x8001), ptp: true).IsPtpFormat);
        Assert.Equal(0x8001, StampTimestamp.WithFormat(new ErrorEstimate(0xC001), ptp: false).Value);
    }
}
