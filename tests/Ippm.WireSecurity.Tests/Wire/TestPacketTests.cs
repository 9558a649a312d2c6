using System.Buffers;
using Ippm.Wire;
using Ippm.Wire.Test;

namespace Ippm.Tests.Wire;

public sealed class TestPacketTests
{
    private const byte Filler = 0xCC;

    // Crypto digest §7 V8 (sender, mode 2) and V10 (reflector, mode 2): everything after block 0 travels in clear,
    // so octets 16.. of those vectors are the plaintext layout.
    private const string V8 = "34fe7319a58c6d521a555a24268fe943eeb54d938000000080010000000000008ec75accf3787a0ab2118bb70ee36f07";
    private const string V10 =
        "34fe7319a58c6d521a555a24268fe943eeb54d93900000008001000000000000eeb54d9388000000000000000000000000000000000000000000000000000000" +
        "eeb54d93800000008001000000000000ff0000000000000000000000000000008ec75accf3787a0ab2118bb70ee36f07";

    private static readonly SenderPacket s_sender = new(0x01020304, new NtpTimestamp(0xeeb54d93_80000000), new ErrorEstimate(0x8001));

    private static readonly ReflectorPacket s_reflector = new(
        SequenceNumber: 0x0A0B0C0D,
        Timestamp: new NtpTimestamp(0xeeb54d93_90000000),
        ErrorEstimate: new ErrorEstimate(0x0C64),
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

    [Fact]
    public void SenderPacket_OpenLayout_WriteReadRoundTripsAtSpecOffsets()
    {
        byte[] packet = Filled(TestPacketLayout.SenderOpenHeader + 27);

        s_sender.Write(packet, protectedLayout: false);

        Assert.Equal("01020304" + "eeb54d9380000000" + "8001", Convert.ToHexStringLower(packet.AsSpan(0, 14)));
        Assert.All(packet[14..], b => Assert.Equal(Filler, b)); // padding untouched
        Assert.Equal(OperationStatus.Done, SenderPacket.TryRead(packet, protectedLayout: false, out SenderPacket read));
        Assert.Equal(s_sender, read);
    }

    [Fact]
    public void SenderPacket_ProtectedLayout_WriteReadRoundTripsAndClearsMbz()
    {
        byte[] packet = Filled(TestPacketLayout.SenderProtectedHeader + 10);

        s_sender.Write(packet, protectedLayout: true);

        Assert.Equal(
            "01020304" + "000000000000000000000000" + "eeb54d9380000000" + "8001" + "000000000000",
            Convert.ToHexStringLower(packet.AsSpan(0, 32)));
        Assert.All(packet[32..], b => Assert.Equal(Filler, b)); // HMAC field and padding are not the writer's business
        Assert.Equal(OperationStatus.Done, SenderPacket.TryRead(packet, protectedLayout: true, out SenderPacket read));
        Assert.Equal(s_sender, read);
    }

    [Fact]
    public void SenderPacket_V8Plaintext_MatchesVectorClearOctets()
    {
        var packet = new SenderPacket(0, new NtpTimestamp(0xeeb54d93_80000000), new ErrorEstimate(0x8001));
        byte[] bytes = new byte[48];

        packet.Write(bytes, protectedLayout: true);

        Assert.All(bytes[..16], b => Assert.Equal(0, b)); // block 0: seq 0 and 12 MBZ (encrypted in V8)
        Assert.Equal(V8[32..64], Convert.ToHexStringLower(bytes.AsSpan(16, 16)));

        byte[] plain = [.. new byte[16], .. Convert.FromHexString(V8)[16..]];
        Assert.Equal(OperationStatus.Done, SenderPacket.TryRead(plain, protectedLayout: true, out SenderPacket read));
        Assert.Equal(packet, read);
        Assert.True(read.ErrorEstimate.IsSynchronized);
    }

    [Fact]
    public void ReflectorPacket_OpenLayout_WriteReadRoundTripsAtSpecOffsets()
    {
        byte[] packet = Filled(TestPacketLayout.ReflectorOpenHeader + 5);

        s_reflector.Write(packet, protectedLayout: false);

        Assert.Equal(
            "0a0b0c0d" + "eeb54d9390000000" + "0c64" + "0000" + "eeb54d9388000000" + "01020304" + "eeb54d9380000000" + "8001" + "0000" + "fe",
            Convert.ToHexStringLower(packet.AsSpan(0, 41)));
        Assert.All(packet[41..], b => Assert.Equal(Filler, b));
        Assert.Equal(OperationStatus.Done, ReflectorPacket.TryRead(packet, protectedLayout: false, out ReflectorPacket read));
        Assert.Equal(s_reflector, read);
    }

    [Fact]
    public void ReflectorPacket_ProtectedLayout_WriteReadRoundTripsAtSpecOffsets()
    {
        byte[] packet = Filled(TestPacketLayout.ReflectorProtectedHeader + 7);

        s_reflector.Write(packet, protectedLayout: true);

        string z(int octets) => new('0', 2 * octets);
        Assert.Equal(
            "0a0b0c0d" + z(12) + "eeb54d9390000000" + "0c64" + z(6) + "eeb54d9388000000" + z(8) +
            "01020304" + z(12) + "eeb54d9380000000" + "8001" + z(6) + "fe" + z(15),
            Convert.ToHexStringLower(packet.AsSpan(0, 96)));
        Assert.All(packet[96..], b => Assert.Equal(Filler, b)); // HMAC and padding untouched
        Assert.Equal(OperationStatus.Done, ReflectorPacket.TryRead(packet, protectedLayout: true, out ReflectorPacket read));
        Assert.Equal(s_reflector, read);
    }

    [Fact]
    public void ReflectorPacket_V10Plaintext_DecodesToDescribedFieldsAndReencodes()
    {
        byte[] v10 = Convert.FromHexString(V10);
        byte[] plain = [.. new byte[16], .. v10[16..]]; // block 0 of V10 is ECB(seq 0 ‖ MBZ)

        Assert.Equal(OperationStatus.Done, ReflectorPacket.TryRead(plain, protectedLayout: true, out ReflectorPacket r));

        Assert.Equal(0u, r.SequenceNumber);
        Assert.Equal(new NtpTimestamp(0xeeb54d93_90000000), r.Timestamp);
        Assert.Equal(new ErrorEstimate(0x8001), r.ErrorEstimate);
        Assert.Equal(new NtpTimestamp(0xeeb54d93_88000000), r.ReceiveTimestamp);
        Assert.Equal(0u, r.SenderSequenceNumber);
        Assert.Equal(new NtpTimestamp(0xeeb54d93_80000000), r.SenderTimestamp);
        Assert.Equal(new ErrorEstimate(0x8001), r.SenderErrorEstimate);
        Assert.Equal(255, r.SenderTtl);

        byte[] reencoded = new byte[112];
        r.Write(reencoded, protectedLayout: true);
        Assert.Equal(Convert.ToHexStringLower(plain.AsSpan(0, 96)), Convert.ToHexStringLower(reencoded.AsSpan(0, 96)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReflectorPacket_CopySenderFields_CopiesSeqTimestampErrorAndSetsTtl(bool protectedLayout)
    {
        byte[] sender = new byte[TestPacketLayout.SenderHeader(protectedLayout)];
        s_sender.Write(sender, protectedLayout);
        byte[] reply = new byte[TestPacketLayout.ReflectorHeader(protectedLayout)];

        ReflectorPacket.CopySenderFields(sender, reply, protectedLayout, senderTtl: 255);
        ReflectorPacket.WriteSequenceNumber(reply, 7);
        ReflectorPacket.WriteReceiveTimestamp(reply, protectedLayout, new NtpTimestamp(0xeeb54d93_88000000));
        ReflectorPacket.WriteTimestamp(reply, protectedLayout, new NtpTimestamp(0xeeb54d93_90000000), new ErrorEstimate(0x0001));

        Assert.Equal(OperationStatus.Done, ReflectorPacket.TryRead(reply, protectedLayout, out ReflectorPacket r));
        Assert.Equal(7u, r.SequenceNumber);
        Assert.Equal(new NtpTimestamp(0xeeb54d93_90000000), r.Timestamp);
        Assert.Equal(new ErrorEstimate(0x0001), r.ErrorEstimate);
        Assert.Equal(new NtpTimestamp(0xeeb54d93_88000000), r.ReceiveTimestamp);
        Assert.Equal(s_sender.SequenceNumber, r.SenderSequenceNumber);
        Assert.Equal(s_sender.Timestamp, r.SenderTimestamp);
        Assert.Equal(s_sender.ErrorEstimate, r.SenderErrorEstimate);
        Assert.Equal(255, r.SenderTtl);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SenderPacket_HotPathWriters_MatchWrite(bool protectedLayout)
    {
        byte[] viaWrite = new byte[TestPacketLayout.SenderHeader(protectedLayout)];
        s_sender.Write(viaWrite, protectedLayout);
        byte[] viaHelpers = new byte[viaWrite.Length];

        SenderPacket.WriteSequenceNumber(viaHelpers, s_sender.SequenceNumber);
        SenderPacket.WriteTimestamp(viaHelpers, protectedLayout, s_sender.Timestamp, s_sender.ErrorEstimate);

        Assert.Equal(viaWrite, viaHelpers);
    }

    [Theory]
    [InlineData(false, 13)]
    [InlineData(true, 47)]
    [InlineData(false, 0)]
    public void SenderPacket_ShorterThanHeader_IsInvalidData(bool protectedLayout, int length)
    {
        Assert.Equal(OperationStatus.InvalidData, SenderPacket.TryRead(new byte[length], protectedLayout, out _));
    }

    [Theory]
    [InlineData(false, 40)]
    [InlineData(true, 111)]
    [InlineData(true, 48)]
    public void ReflectorPacket_ShorterThanHeader_IsInvalidData(bool protectedLayout, int length)
    {
        Assert.Equal(OperationStatus.InvalidData, ReflectorPacket.TryRead(new byte[length], protectedLayout, out _));
    }

    [Fact]
    public void TestPacketLayout_Sizes_MatchSpec()
    {
        Assert.Equal(14, TestPacketLayout.SenderHeader(false));
        Assert.Equal(48, TestPacketLayout.SenderHeader(true));
        Assert.Equal(41, TestPacketLayout.ReflectorHeader(false));
        Assert.Equal(112, TestPacketLayout.ReflectorHeader(true)); // erratum 5045, not 104
        Assert.Equal(27, TestPacketLayout.SymmetricSenderPadding(false)); // what twping uses (vectors README note 8)
        Assert.Equal(64, TestPacketLayout.SymmetricSenderPadding(true));
        Assert.Equal(4, SenderPacket.TimestampOffset(false));
        Assert.Equal(16, SenderPacket.TimestampOffset(true));
        Assert.Equal(4, ReflectorPacket.TimestampOffset(false));
        Assert.Equal(16, ReflectorPacket.TimestampOffset(true));
    }
}
