using System.Buffers;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;

namespace Ippm.Tests.Owamp;

public sealed class FetchMessageTests
{
    private static readonly SessionId s_sid = SessionId.Parse("7f000001eeb54d909c9613d336cd38ef");

    private static byte[] Encode(int length, Action<byte[]> write)
    {
        byte[] buffer = new byte[length];
        Array.Fill(buffer, (byte)0xA5); // proves Write sets every octet, MBZ and HMAC slot included
        write(buffer);
        return buffer;
    }

    [Fact]
    public void FetchSessionRoundTrip()
    {
        var message = new FetchSession(17, FetchSession.ToEnd, s_sid);
        byte[] encoded = Encode(FetchSession.Length, b => message.Write(b));
        Assert.Equal(
            "04" + "00000000000000" + "00000011" + "ffffffff" + "7f000001eeb54d909c9613d336cd38ef" + new string('0', 32),
            Convert.ToHexStringLower(encoded));
        Assert.Equal(OperationStatus.Done, FetchSession.TryRead(encoded, out FetchSession? decoded));
        Assert.Equal(message, decoded);
        Assert.Equal(encoded, Encode(FetchSession.Length, b => decoded!.Write(b)));
    }

    [Fact]
    public void FetchSessionTruncationsAndBadCommand()
    {
        byte[] encoded = Encode(FetchSession.Length, b => new FetchSession(0, 9, s_sid).Write(b));
        for (int length = 0; length < encoded.Length; length++)
        {
            Assert.Equal(OperationStatus.NeedMoreData, FetchSession.TryRead(encoded.AsSpan(0, length), out FetchSession? m));
            Assert.Null(m);
        }
        foreach (byte command in new byte[] { 0, 1, 2, 3, 5, 0xFF })
        {
            encoded[0] = command;
            Assert.Equal(OperationStatus.InvalidData, FetchSession.TryRead(encoded, out FetchSession? m));
            Assert.Null(m);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => new FetchSession(0, 9, s_sid).Write(new byte[47]));
    }

    [Fact]
    public void FetchAckRoundTrip()
    {
        var message = new FetchAck(AcceptCode.Ok, 2, 0x01020304, 3, 0xA0B0C0D0);
        byte[] encoded = Encode(FetchAck.Length, b => message.Write(b));
        Assert.Equal("00020000" + "01020304" + "00000003" + "a0b0c0d0" + new string('0', 32), Convert.ToHexStringLower(encoded));
        Assert.Equal(OperationStatus.Done, FetchAck.TryRead(encoded, out FetchAck? decoded));
        Assert.Equal(message, decoded);
        Assert.Equal(encoded, Encode(FetchAck.Length, b => decoded!.Write(b)));

        var denied = new FetchAck(AcceptCode.TemporaryResourceLimitation, 0, 0, 0, 0);
        Assert.Equal(OperationStatus.Done, FetchAck.TryRead(Encode(FetchAck.Length, b => denied.Write(b)), out FetchAck? d));
        Assert.Equal(denied, d);
    }

    [Fact]
    public void FetchAckTruncations()
    {
        byte[] encoded = Encode(FetchAck.Length, b => new FetchAck(AcceptCode.Ok, 1, 5, 0, 5).Write(b));
        for (int length = 0; length < encoded.Length; length++)
        {
            Assert.Equal(OperationStatus.NeedMoreData, FetchAck.TryRead(encoded.AsSpan(0, length), out FetchAck? m));
            Assert.Null(m);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => new FetchAck(AcceptCode.Ok, 1, 5, 0, 5).Write(new byte[31]));
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 16)]
    [InlineData(2, 16)]
    [InlineData(3, 32)]
    [InlineData(4, 32)]
    [InlineData(5, 48)]
    public void SkipRangeListLength(int count, int expected) => Assert.Equal(expected, SkipRangeList.EncodedLength(count));

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(7)]
    public void SkipRangeListRoundTrip(int count)
    {
        SkipRange[] ranges = Enumerable.Range(0, count).Select(i => new SkipRange((uint)(100 * i), (uint)((100 * i) + i))).ToArray();
        int length = SkipRangeList.EncodedLength(count);
        byte[] encoded = Encode(length, b => SkipRangeList.Write(ranges, b));
        Assert.True(encoded.AsSpan(8 * count).IndexOfAnyExcept((byte)0) < 0, "padding is zero");

        Assert.Equal(OperationStatus.Done, SkipRangeList.TryRead(encoded, count, out SkipRange[] decoded));
        Assert.Equal(ranges, decoded);
        Assert.Equal(encoded, Encode(length, b => SkipRangeList.Write(decoded, b)));

        for (int prefix = 0; prefix < length; prefix++)
        {
            Assert.Equal(OperationStatus.NeedMoreData, SkipRangeList.TryRead(encoded.AsSpan(0, prefix), count, out SkipRange[] none));
            Assert.Empty(none);
        }
        if (length > 0)
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => SkipRangeList.Write(ranges, new byte[length - 1]));
        }
    }

    [Fact]
    public void SkipRangeListRejectsMalformedRangesAndCounts()
    {
        byte[] encoded = Encode(16, b => SkipRangeList.Write([new SkipRange(9, 12), new SkipRange(3, 4)], b));
        Assert.Equal(OperationStatus.InvalidData, SkipRangeList.TryRead(encoded, 2, out _));
        encoded = Encode(16, b => SkipRangeList.Write([new SkipRange(9, 8)], b));
        Assert.Equal(OperationStatus.InvalidData, SkipRangeList.TryRead(encoded, 1, out _));

        // A count taken from a peer's Fetch-Ack and cast to int must not throw.
        Assert.Equal(OperationStatus.InvalidData, SkipRangeList.TryRead(encoded, -1, out _));
        Assert.Equal(OperationStatus.InvalidData, SkipRangeList.TryRead(encoded, int.MaxValue, out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => SkipRangeList.EncodedLength(-1));
    }

    [Fact]
    public void DataRecordLayoutAndRoundTrip()
    {
        var record = new OwampDataRecord(
            0x01020304,
            new ErrorEstimate(0x8001),
            new ErrorEstimate(0x0001),
            new NtpTimestamp(0xeeb54dda_85afa000),
            new NtpTimestamp(0xeeb54dda_85c7368a),
            64);
        byte[] encoded = Encode(OwampDataRecord.Length, b => record.Write(b));
        Assert.Equal("01020304" + "8001" + "0001" + "eeb54dda85afa000" + "eeb54dda85c7368a" + "40", Convert.ToHexStringLower(encoded));
        Assert.Equal(OperationStatus.Done, OwampDataRecord.TryRead(encoded, out OwampDataRecord decoded));
        Assert.Equal(record, decoded);
        Assert.False(decoded.IsLost);
        Assert.Equal(encoded, Encode(OwampDataRecord.Length, b => decoded.Write(b)));

        for (int length = 0; length < encoded.Length; length++)
        {
            Assert.Equal(OperationStatus.NeedMoreData, OwampDataRecord.TryRead(encoded.AsSpan(0, length), out OwampDataRecord none));
            Assert.Equal(default, none);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => record.Write(new byte[24]));
    }

    [Fact]
    public void LostRecordFromTheSpecCapture()
    {
        // test spec §6: seq=3 senderr=0001 recverr=0001 sendts=eeb54dda66666664 recvts=0 ttl=255
        byte[] bytes = Convert.FromHexString("00000003" + "0001" + "0001" + "eeb54dda66666664" + "0000000000000000" + "ff");
        Assert.Equal(OperationStatus.Done, OwampDataRecord.TryRead(bytes, out OwampDataRecord record));
        Assert.True(record.IsLost);
        Assert.Equal(3u, record.SequenceNumber);
        Assert.Equal(255, record.Ttl);
        Assert.Equal(0xeeb54dda_66666664ul, record.SendTime.Value);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 32)]
    [InlineData(2, 64)]
    [InlineData(5, 128)]
    [InlineData(16, 400)]
    [InlineData(17, 432)]
    public void DataRecordSectionLength(int count, int expected) => Assert.Equal(expected, OwampDataRecord.EncodedLength(count));
}
