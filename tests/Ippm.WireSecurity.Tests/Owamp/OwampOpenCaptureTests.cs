using System.Buffers;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;

namespace Ippm.Tests.Owamp;

/// <summary>
/// Golden bytes from /work/shared/vectors/perfsonar/owamp-open (owping 5.2.3 against owampd 5.2.3, open mode, so
/// the control bytes are plaintext). Hex literals are copied from owamp-open.hex.txt; expected values from
/// owamp-open.decoded.txt.
/// </summary>
public sealed class OwampOpenCaptureTests
{
    private const string ToSid = "7f000001eeb54cbc92975afa5299ac45";
    private const string FromSid = "7f000001eeb54cbc92dcc20d8943d86d";
    private static readonly string s_zeroBlock = new('0', 32);

    /// <summary>Client Stop-Sessions: frame 32 (header block) + frame 34 (description and HMAC).</summary>
    private const string ClientStopSessions =
        "03000000000000010000000000000000"
        + "7f000001eeb54cbc92975afa5299ac450000000500000000000000000000000000000000000000000000000000000000";

    /// <summary>Server Stop-Sessions: frames 36, 38, 40 and 42, one block each.</summary>
    private const string ServerStopSessions =
        "03000000000000010000000000000000"
        + "7f000001eeb54cbc92dcc20d8943d86d"
        + "00000005000000000000000000000000"
        + "00000000000000000000000000000000";

    /// <summary>Frame 44.</summary>
    private const string FetchSessionHex =
        "040000000000000000000000ffffffff7f000001eeb54cbc92975afa5299ac4500000000000000000000000000000000";

    /// <summary>Frame 45.</summary>
    private const string FetchAckHex = "0001000000000005000000000000000500000000000000000000000000000000";

    /// <summary>Frame 47: Request-Session copy (144), skip ranges (0) + HMAC (16), 5 records (128) + HMAC (16).</summary>
    private const string FetchResponse =
        "01040001000000010000000523b026107f0000010000000000000000000000007f0000010000000000000000000000007f000001eeb54cbc92975afa5299ac4500000000eeb54cbd87ff79c7000000020009917900000000000000000000000000000000000000000000000000000000000000000000000000000000199999a000000000000000000000000000000000000000000000000000000000000000000000000000010001eeb54cbd8de7c8d1eeb54cbd8dfb2edfff0000000100010001eeb54cbdb747d805eeb54cbdb752007dff0000000200010001eeb54cbdbedaec4aeeb54cbdbee45c35ff0000000300010001eeb54cbde7785729eeb54cbde783be66ff0000000400010001eeb54cbdfb8348f5eeb54cbdfb8bef8cff00000000000000000000000000000000000000";

    [Theory]
    [InlineData(ClientStopSessions, ToSid)]
    [InlineData(ServerStopSessions, FromSid)]
    public void StopSessions(string hex, string sid)
    {
        byte[] wire = Convert.FromHexString(hex);
        Assert.Equal(64, wire.Length);

        // [C]/[S] Stop-Sessions: cmd=3 accept=0 nsessions=1
        Assert.Equal(OperationStatus.Done, OwampStopSessions.TryReadHeader(wire, out AcceptCode accept, out uint count));
        Assert.Equal(AcceptCode.Ok, accept);
        Assert.Equal(1u, count);

        // session SID=… next-seqno=5 skip-ranges=0
        Assert.Equal(OperationStatus.Done, OwampStopSessions.TryReadDescription(wire.AsSpan(16), 100, out SessionDescription? description, out int consumed));
        Assert.Equal(32, consumed);
        Assert.NotNull(description);
        Assert.Equal(SessionId.Parse(sid), description.Sid);
        Assert.Equal(5u, description.NextSeqno);
        Assert.Empty(description.SkipRanges);

        // HMAC field (open mode, unused)
        Assert.Equal(s_zeroBlock, Convert.ToHexStringLower(wire, 48, 16));

        var message = new OwampStopSessions(accept, [description]);
        Assert.Equal(wire.Length, message.EncodedLength);
        byte[] reencoded = new byte[message.EncodedLength];
        message.Write(reencoded);
        Assert.Equal(hex, Convert.ToHexStringLower(reencoded));
    }

    [Fact]
    public void FetchSessionMessage()
    {
        byte[] wire = Convert.FromHexString(FetchSessionHex);
        Assert.Equal(FetchSession.Length, wire.Length);

        // [C] Fetch-Session: begin=0 end=4294967295 SID=7f000001eeb54cbc92975afa5299ac45
        Assert.Equal(OperationStatus.Done, FetchSession.TryRead(wire, out FetchSession? message));
        Assert.Equal(new FetchSession(0, 4294967295, SessionId.Parse(ToSid)), message);
        Assert.Equal(FetchSession.ToEnd, message!.EndSeq);

        byte[] reencoded = new byte[FetchSession.Length];
        message.Write(reencoded);
        Assert.Equal(FetchSessionHex, Convert.ToHexStringLower(reencoded));
    }

    [Fact]
    public void FetchAckMessage()
    {
        byte[] wire = Convert.FromHexString(FetchAckHex);
        Assert.Equal(FetchAck.Length, wire.Length);

        // [S] Fetch-Ack: accept=0 finished=1 next-seqno=5 skip-ranges=0 records=5
        Assert.Equal(OperationStatus.Done, FetchAck.TryRead(wire, out FetchAck? message));
        Assert.Equal(new FetchAck(AcceptCode.Ok, 1, 5, 0, 5), message);

        byte[] reencoded = new byte[FetchAck.Length];
        message!.Write(reencoded);
        Assert.Equal(FetchAckHex, Convert.ToHexStringLower(reencoded));
    }

    [Fact]
    public void FetchResponseSectionsAndRecords()
    {
        byte[] wire = Convert.FromHexString(FetchResponse);
        Assert.Equal(304, wire.Length);

        // 1. The Request-Session copy: 112 octets, one slot block, one HMAC block.
        Assert.Equal(OperationStatus.Done, SessionRequest.TryRead(wire, out SessionRequest? request));
        Assert.Equal(SessionId.Parse(ToSid), request!.Sid);
        Assert.Equal(1u, request.ScheduleSlotCount);
        Assert.Equal(5u, request.PacketCount);
        Assert.Equal(OperationStatus.Done, ScheduleSlot.TryRead(wire.AsSpan(SessionRequest.Length), out ScheduleSlot slot));
        Assert.Equal(new ScheduleSlot(ScheduleSlotType.Exponential, new NtpTimestamp(0x00000000_199999a0)), slot);
        int offset = SessionRequest.Length + ScheduleSlot.Length + 16;

        // 2. Skip ranges (Fetch-Ack said 0): no octets, then the HMAC block that is always sent.
        Assert.Equal(0, SkipRangeList.EncodedLength(0));
        Assert.Equal(OperationStatus.Done, SkipRangeList.TryRead(wire.AsSpan(offset), 0, out SkipRange[] ranges));
        Assert.Empty(ranges);
        Assert.Equal(s_zeroBlock, Convert.ToHexStringLower(wire, offset, 16));
        offset += 16;

        // 3. Five 25-octet records, padded to 128, then the HMAC block.
        int recordsLength = OwampDataRecord.EncodedLength(5);
        Assert.Equal(128, recordsLength);
        Assert.Equal(wire.Length, offset + recordsLength + 16);

        (uint Seq, ulong Send, ulong Recv)[] expected =
        [
            (0, 0xeeb54cbd_8de7c8d1, 0xeeb54cbd_8dfb2edf),
            (1, 0xeeb54cbd_b747d805, 0xeeb54cbd_b752007d),
            (2, 0xeeb54cbd_bedaec4a, 0xeeb54cbd_bee45c35),
            (3, 0xeeb54cbd_e7785729, 0xeeb54cbd_e783be66),
            (4, 0xeeb54cbd_fb8348f5, 0xeeb54cbd_fb8bef8c),
        ];
        byte[] reencoded = new byte[recordsLength];
        for (int i = 0; i < expected.Length; i++)
        {
            ReadOnlySpan<byte> bytes = wire.AsSpan(offset + (i * OwampDataRecord.Length), OwampDataRecord.Length);
            Assert.Equal(OperationStatus.Done, OwampDataRecord.TryRead(bytes, out OwampDataRecord record));

            // record seq=i serr=0x0001 rerr=0x0001 send=… recv=… ttl=255
            Assert.Equal(
                new OwampDataRecord(expected[i].Seq, new ErrorEstimate(0x0001), new ErrorEstimate(0x0001), new NtpTimestamp(expected[i].Send), new NtpTimestamp(expected[i].Recv), 255),
                record);
            Assert.False(record.IsLost);
            Assert.Equal(1, record.SendError.Multiplier);
            Assert.False(record.SendError.IsSynchronized);

            record.Write(reencoded.AsSpan(i * OwampDataRecord.Length));
        }
        Assert.Equal(Convert.ToHexStringLower(wire, offset, recordsLength), Convert.ToHexStringLower(reencoded));
        Assert.Equal(s_zeroBlock, Convert.ToHexStringLower(wire, offset + recordsLength, 16));
    }

    [Fact]
    public void ReceiverRecordsMatchTheSentTestPackets()
    {
        // UDP frames 22, 25, 26, 28, 29 (sender 9136 → 9744, the "to" session): seq (4) | timestamp (8) | error (2).
        string[] packets =
        [
            "00000000eeb54cbd8de7c8d10001",
            "00000001eeb54cbdb747d8050001",
            "00000002eeb54cbdbedaec4a0001",
            "00000003eeb54cbde77857290001",
            "00000004eeb54cbdfb8348f50001",
        ];
        byte[] wire = Convert.FromHexString(FetchResponse);
        for (int i = 0; i < packets.Length; i++)
        {
            Assert.Equal(OperationStatus.Done, OwampDataRecord.TryRead(wire.AsSpan(160 + (i * OwampDataRecord.Length)), out OwampDataRecord record));
            byte[] packet = Convert.FromHexString(packets[i]);
            Assert.Equal(Convert.ToHexStringLower(packet, 0, 4), record.SequenceNumber.ToString("x8"));
            Assert.Equal(Convert.ToHexStringLower(packet, 4, 8), record.SendTime.Value.ToString("x16"));
            Assert.Equal(Convert.ToHexStringLower(packet, 12, 2), record.SendError.Value.ToString("x4"));
        }
    }
}
