using System.Buffers;
using System.Buffers.Binary;
using Ippm.Wire;
using Ippm.Wire.Control;

namespace Ippm.Tests.Owamp;

public sealed class OwampStopSessionsTests
{
    private static readonly SessionId s_sidA = SessionId.Parse("7f000001eeb54cbc92975afa5299ac45");
    private static readonly SessionId s_sidB = SessionId.Parse("7f000001eeb54cbc92dcc20d8943d86d");

    private static SessionDescription Description(SessionId sid, uint next, int k) =>
        new(sid, next, Enumerable.Range(0, k).Select(i => new SkipRange((uint)(10 * i) + 1, (uint)(10 * i) + 3 + (uint)i)).ToArray());

    private static byte[] Encode(OwampStopSessions message)
    {
        byte[] buffer = new byte[message.EncodedLength];
        Array.Fill(buffer, (byte)0xA5); // proves Write sets every octet, MBZ, padding and HMAC slot included
        message.Write(buffer);
        return buffer;
    }

    /// <summary>Reads a whole message the way a control channel would: header, then each description.</summary>
    private static (OperationStatus Status, OwampStopSessions? Message, int Consumed) ReadAll(ReadOnlySpan<byte> source, int maxSkipRanges = 1000)
    {
        OperationStatus status = OwampStopSessions.TryReadHeader(source, out AcceptCode accept, out uint count);
        if (status != OperationStatus.Done)
        {
            return (status, null, 0);
        }
        int offset = OwampStopSessions.HeaderLength;
        var sessions = new List<SessionDescription>();
        for (uint i = 0; i < count; i++)
        {
            status = OwampStopSessions.TryReadDescription(source[offset..], maxSkipRanges, out SessionDescription? description, out int consumed);
            if (status != OperationStatus.Done)
            {
                return (status, null, offset + consumed);
            }
            Assert.NotNull(description);
            Assert.Equal(description.Length, consumed);
            sessions.Add(description);
            offset += consumed;
        }
        if (source.Length < offset + OwampStopSessions.HmacLength)
        {
            return (OperationStatus.NeedMoreData, null, offset + OwampStopSessions.HmacLength);
        }
        return (OperationStatus.Done, new OwampStopSessions(accept, sessions), offset + OwampStopSessions.HmacLength);
    }

    [Theory]
    [InlineData(0, 32)]
    [InlineData(1, 32)]
    [InlineData(2, 48)]
    [InlineData(3, 48)]
    [InlineData(4, 64)]
    [InlineData(5, 64)]
    public void DescriptionLengthIsPaddedToABlock(int k, int expected)
    {
        Assert.Equal(expected, SessionDescription.EncodedLength(k));
        Assert.Equal(expected, Description(s_sidA, 7, k).Length);
    }

    [Fact]
    public void EncodedLengthRejectsImpossibleCounts()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => SessionDescription.EncodedLength(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => SessionDescription.EncodedLength(SessionDescription.MaxSkipRanges + 1));
        Assert.Equal(0, SessionDescription.EncodedLength(SessionDescription.MaxSkipRanges) % 16);
    }

    public static TheoryData<int[]> SkipRangeCounts => new()
    {
        Array.Empty<int>(),
        new[] { 0 },
        new[] { 1 },
        new[] { 2 },
        new[] { 3 },
        new[] { 0, 1, 2, 3 },
        new[] { 5, 0 },
    };

    [Theory]
    [MemberData(nameof(SkipRangeCounts))]
    public void RoundTrip(int[] skipRangeCounts)
    {
        var message = new OwampStopSessions(
            AcceptCode.Failure,
            skipRangeCounts.Select((k, i) => Description(i % 2 == 0 ? s_sidA : s_sidB, (uint)(1000 + i), k)).ToArray());
        byte[] encoded = Encode(message);
        Assert.Equal(16 + skipRangeCounts.Sum(SessionDescription.EncodedLength) + 16, encoded.Length);
        Assert.True(encoded.AsSpan(encoded.Length - 16).IndexOfAnyExcept((byte)0) < 0, "HMAC slot left zero");

        (OperationStatus status, OwampStopSessions? decoded, int consumed) = ReadAll(encoded);

        Assert.Equal(OperationStatus.Done, status);
        Assert.Equal(encoded.Length, consumed);
        Assert.Equal(message, decoded); // structural equality, skip ranges included
        Assert.Equal(encoded, Encode(decoded!));
    }

    [Fact]
    public void HeaderLayout()
    {
        byte[] encoded = Encode(new OwampStopSessions(AcceptCode.InternalError, [Description(s_sidA, 5, 0), Description(s_sidB, 6, 1)]));
        Assert.Equal("03020000000000020000000000000000", Convert.ToHexStringLower(encoded, 0, 16));
        Assert.Equal(OperationStatus.Done, OwampStopSessions.TryReadHeader(encoded, out AcceptCode accept, out uint count));
        Assert.Equal(AcceptCode.InternalError, accept);
        Assert.Equal(2u, count);
    }

    [Fact]
    public void DescriptionLayout()
    {
        var description = new SessionDescription(s_sidA, 0x01020304, [new SkipRange(5, 6), new SkipRange(9, 9)]);
        byte[] buffer = new byte[48];
        Array.Fill(buffer, (byte)0xA5);
        description.Write(buffer);
        Assert.Equal(
            "7f000001eeb54cbc92975afa5299ac45" + "01020304" + "00000002" + "0000000500000006" + "0000000900000009" + "0000000000000000",
            Convert.ToHexStringLower(buffer));
    }

    [Fact]
    public void NoSessionsIsHeaderPlusHmac()
    {
        var message = new OwampStopSessions(AcceptCode.Ok, []);
        Assert.Equal(32, message.EncodedLength);
        Assert.Equal("0300000000000000" + new string('0', 48), Convert.ToHexStringLower(Encode(message)));
    }

    [Theory]
    [MemberData(nameof(SkipRangeCounts))]
    public void EveryTruncationNeedsMoreData(int[] skipRangeCounts)
    {
        var message = new OwampStopSessions(AcceptCode.Ok, skipRangeCounts.Select(k => Description(s_sidB, 9, k)).ToArray());
        byte[] encoded = Encode(message);
        for (int length = 0; length < encoded.Length; length++)
        {
            (OperationStatus status, _, int needed) = ReadAll(encoded.AsSpan(0, length));
            Assert.Equal(OperationStatus.NeedMoreData, status);
            if (length >= OwampStopSessions.HeaderLength)
            {
                Assert.True(needed > length, $"prefix {length}: needed {needed}");
                Assert.True(needed <= encoded.Length, $"prefix {length}: needed {needed}");
            }
        }
    }

    [Fact]
    public void DescriptionNeedMoreDataTellsHowMuchToRead()
    {
        byte[] encoded = new byte[64];
        Description(s_sidA, 3, 4).Write(encoded);

        // Fewer than 32 octets: the count is not known yet, ask for the minimum.
        for (int length = 0; length < 32; length++)
        {
            Assert.Equal(OperationStatus.NeedMoreData, OwampStopSessions.TryReadDescription(encoded.AsSpan(0, length), 10, out SessionDescription? d, out int consumed));
            Assert.Null(d);
            Assert.Equal(32, consumed);
        }
        // 32 octets or more: k = 4 is known, ask for the whole 64.
        for (int length = 32; length < 64; length++)
        {
            Assert.Equal(OperationStatus.NeedMoreData, OwampStopSessions.TryReadDescription(encoded.AsSpan(0, length), 10, out _, out int consumed));
            Assert.Equal(64, consumed);
        }
        Assert.Equal(OperationStatus.Done, OwampStopSessions.TryReadDescription(encoded, 10, out SessionDescription? done, out int used));
        Assert.Equal(64, used);
        Assert.Equal(Description(s_sidA, 3, 4), done);
    }

    [Fact]
    public void WrongCommandIsInvalid()
    {
        byte[] encoded = Encode(new OwampStopSessions(AcceptCode.Ok, []));
        foreach (byte command in new byte[] { 0, 1, 2, 4, 5, 0x83, 0xFF })
        {
            encoded[0] = command;
            Assert.Equal(OperationStatus.InvalidData, OwampStopSessions.TryReadHeader(encoded, out _, out _));
        }
    }

    [Fact]
    public void TooManySkipRangesIsInvalid()
    {
        byte[] encoded = new byte[48];
        Description(s_sidA, 3, 3).Write(encoded);
        Assert.Equal(OperationStatus.Done, OwampStopSessions.TryReadDescription(encoded, 3, out _, out _));
        Assert.Equal(OperationStatus.InvalidData, OwampStopSessions.TryReadDescription(encoded, 2, out SessionDescription? d, out _));
        Assert.Null(d);

        // A hostile count is refused from the first 32 octets, before anything is allocated or awaited.
        BinaryPrimitives.WriteUInt32BigEndian(encoded.AsSpan(20), uint.MaxValue);
        Assert.Equal(OperationStatus.InvalidData, OwampStopSessions.TryReadDescription(encoded.AsSpan(0, 32), int.MaxValue, out _, out _));
        BinaryPrimitives.WriteUInt32BigEndian(encoded.AsSpan(20), 0x8000_0000);
        Assert.Equal(OperationStatus.InvalidData, OwampStopSessions.TryReadDescription(encoded.AsSpan(0, 32), int.MaxValue, out _, out _));
    }

    [Theory]
    [InlineData(0, 24)]
    [InlineData(0, 31)]
    [InlineData(2, 40)]
    [InlineData(2, 47)]
    [InlineData(4, 63)]
    public void NonZeroPaddingIsInvalid(int k, int paddingOffset)
    {
        byte[] encoded = new byte[SessionDescription.EncodedLength(k)];
        Description(s_sidA, 3, k).Write(encoded);
        Assert.Equal(OperationStatus.Done, OwampStopSessions.TryReadDescription(encoded, 10, out _, out _));
        encoded[paddingOffset] = 1;
        Assert.Equal(OperationStatus.InvalidData, OwampStopSessions.TryReadDescription(encoded, 10, out SessionDescription? d, out _));
        Assert.Null(d);
    }

    public static TheoryData<uint[]> BadRanges => new()
    {
        new uint[] { 5, 4 },                 // Last < First
        new uint[] { 1, 2, 9, 8 },           // second range backwards
        new uint[] { 10, 12, 1, 2 },         // out of order
        new uint[] { 1, 5, 5, 7 },           // overlap on one value
        new uint[] { 1, 5, 3, 9 },           // overlap
        new uint[] { 1, 5, 1, 5 },           // duplicate
        new uint[] { 0, 0, 7, 9, 8, 20 },    // third overlaps second
    };

    [Theory]
    [MemberData(nameof(BadRanges))]
    public void MalformedRangesAreInvalid(uint[] bounds)
    {
        SkipRange[] ranges = Enumerable.Range(0, bounds.Length / 2).Select(i => new SkipRange(bounds[2 * i], bounds[(2 * i) + 1])).ToArray();
        var description = new SessionDescription(s_sidA, 100, ranges);
        byte[] encoded = new byte[description.Length];
        description.Write(encoded); // Write does not judge its own input
        Assert.Equal(OperationStatus.InvalidData, OwampStopSessions.TryReadDescription(encoded, 10, out SessionDescription? d, out _));
        Assert.Null(d);
    }

    [Fact]
    public void WellFormedRangesIncludeAdjacentAndSingleValues()
    {
        var description = new SessionDescription(s_sidA, 100, [new SkipRange(0, 0), new SkipRange(1, 4), new SkipRange(6, 6), new SkipRange(7, uint.MaxValue)]);
        byte[] encoded = new byte[description.Length];
        description.Write(encoded);
        Assert.Equal(OperationStatus.Done, OwampStopSessions.TryReadDescription(encoded, 10, out SessionDescription? d, out _));
        Assert.Equal(description, d);
    }

    [Fact]
    public void WriteThrowsOnlyWhenDestinationTooSmall()
    {
        var message = new OwampStopSessions(AcceptCode.Ok, [Description(s_sidA, 1, 2)]);
        Assert.Throws<ArgumentOutOfRangeException>(() => message.Write(new byte[message.EncodedLength - 1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => message.Sessions[0].Write(new byte[47]));
        message.Write(new byte[message.EncodedLength + 5]);
    }

    [Fact]
    public void EqualityIsStructural()
    {
        var a = new SessionDescription(s_sidA, 5, new List<SkipRange> { new(1, 2) });
        var b = new SessionDescription(s_sidA, 5, new[] { new SkipRange(1, 2) });
        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, b with { SkipRanges = [new SkipRange(1, 3)] });
        Assert.NotEqual(a, b with { NextSeqno = 6 });
        Assert.Equal(new OwampStopSessions(AcceptCode.Ok, [a]), new OwampStopSessions(AcceptCode.Ok, new List<SessionDescription> { b }));
        Assert.NotEqual(new OwampStopSessions(AcceptCode.Ok, [a]), new OwampStopSessions(AcceptCode.Failure, [b]));
    }
}
