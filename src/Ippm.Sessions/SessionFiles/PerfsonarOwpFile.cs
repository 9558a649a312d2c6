using System.Buffers;
using System.Buffers.Binary;
using Ippm.Sessions.Owamp;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;

namespace Ippm.Sessions.SessionFiles;

/// <summary>One OWAMP session as perfSONAR's owping/owampd save it (<c>owping -F/-T</c>, owampd's data directory).</summary>
public sealed record PerfsonarOwpSession(
    uint Version,
    uint Finished,
    uint NextSeqno,
    SessionRequest Request,
    IReadOnlyList<ScheduleSlot> Slots,
    IReadOnlyList<SkipRange> SkipRanges,
    IReadOnlyList<OwampDataRecord> Records)
{
    /// <summary>Finished = 1: the session ended normally (RFC 4656 §3.9's Fetch-Ack meaning).</summary>
    public bool IsFinished => Finished == 1;

    /// <summary>Where the file kept its skip ranges (a fetched session keeps them first); writing it back uses the same.</summary>
    public OwpSkipPlacement SkipPlacement { get; init; } = OwpSkipPlacement.AfterRecords;

    /// <summary>The session as ippm's report code takes it.</summary>
    public OwampDirectionData ToDirectionData() =>
        new(Request.Sid, (int)Math.Min(Request.PacketCount, int.MaxValue), NextSeqno, SkipRanges, Records, Malformed: 0, BadHmac: 0);
}

/// <summary>
/// Reads perfSONAR's <c>.owp</c> session file, version 3 (owamp's api.c, the format owping 3.x–5.x writes), all
/// integers big-endian:
/// <code>
///  0 magic "OwA\0" (4) | 4 version = 3 (4) | 8 Finished (4) | 12 Next Seqno (4)
/// 16 skip records k (4) | 20 data records n (4) | 24 offset of skip records (8) | 32 offset of data records (8)
/// 40 Request-Session as sent (112, HMAC field included) | 152 s × schedule slot (16) | HMAC block (16)
///    then n × data record (25, RFC 4656 §3.9) and k × skip range (8), in either order, at the two offsets
/// </code>
/// The records run to the skip records when those follow them, else to the end of the file, as owstats reads
/// them; an unfinished file may say n = 0. Versions 0 and 2 (owamp before 2006) carry no Next Seqno nor skip ranges and are refused.
/// Every inconsistency is an <see cref="InvalidDataException"/> naming it; nothing is trusted before it is
/// checked against the file's length.
/// </summary>
public static class PerfsonarOwpFile
{
    public const uint SupportedVersion = 3;
    public const int FixedHeaderLength = 40;

    /// <summary>Files above this size are refused before they are read (about 40 M records).</summary>
    public const long MaxFileLength = 1L << 30;

    private static ReadOnlySpan<byte> Magic => "OwA\0"u8;

    public static PerfsonarOwpSession Read(string path) => Read(path, MaxFileLength);

    /// <summary>Reads <paramref name="path"/>, refusing it before reading when it is longer than <paramref name="maxFileLength"/>.</summary>
    public static PerfsonarOwpSession Read(string path, long maxFileLength)
    {
        ArgumentNullException.ThrowIfNull(path);
        long length = new FileInfo(path).Length;
        if (length > maxFileLength)
        {
            throw new InvalidDataException($"{path}: {length} octets, more than the {maxFileLength} a session file may have here.");
        }
        return Parse(File.ReadAllBytes(path));
    }

    public static PerfsonarOwpSession Parse(ReadOnlySpan<byte> file)
    {
        if (file.Length < FixedHeaderLength || !file[..4].SequenceEqual(Magic))
        {
            throw new InvalidDataException("Not a perfSONAR .owp file: the \"OwA\" magic is missing.");
        }
        uint version = BinaryPrimitives.ReadUInt32BigEndian(file[4..]);
        if (version != SupportedVersion)
        {
            throw new InvalidDataException($".owp file version {version}; only version {SupportedVersion} is read.");
        }
        uint finished = BinaryPrimitives.ReadUInt32BigEndian(file[8..]);
        uint nextSeqno = BinaryPrimitives.ReadUInt32BigEndian(file[12..]);
        uint skipCount = BinaryPrimitives.ReadUInt32BigEndian(file[16..]);
        uint recordCount = BinaryPrimitives.ReadUInt32BigEndian(file[20..]);
        ulong skipOffset = BinaryPrimitives.ReadUInt64BigEndian(file[24..]);
        ulong recordOffset = BinaryPrimitives.ReadUInt64BigEndian(file[32..]);

        if (SessionRequest.TryRead(file[FixedHeaderLength..], out SessionRequest? request) != OperationStatus.Done
            || request!.Command != CommandNumber.RequestSession)
        {
            throw new InvalidDataException(".owp file: the stored Request-Session is truncated or not an OWAMP one.");
        }
        long slotsStart = FixedHeaderLength + SessionRequest.Length;
        long headerEnd = slotsStart + ((long)request.ScheduleSlotCount * ScheduleSlot.Length) + ScheduleSlot.Length;
        if (headerEnd > file.Length)
        {
            throw new InvalidDataException($".owp file: {request.ScheduleSlotCount} schedule slots do not fit in {file.Length} octets.");
        }
        var slots = new ScheduleSlot[request.ScheduleSlotCount];
        for (int i = 0; i < slots.Length; i++)
        {
            if (ScheduleSlot.TryRead(file[(int)(slotsStart + (i * ScheduleSlot.Length))..], out slots[i]) != OperationStatus.Done)
            {
                throw new InvalidDataException($".owp file: schedule slot {i} has an unknown type.");
            }
        }

        if (recordOffset < (ulong)headerEnd || recordOffset > (ulong)file.Length)
        {
            throw new InvalidDataException($".owp file: data records said to start at {recordOffset}, outside {headerEnd}..{file.Length}.");
        }
        // owstats: the records end where the skip records start when those follow them, else at the end of file.
        ulong recordEnd = skipOffset > recordOffset ? skipOffset : (ulong)file.Length;
        if (recordEnd > (ulong)file.Length)
        {
            throw new InvalidDataException($".owp file: skip records said to start at {skipOffset}, beyond the {file.Length} octets.");
        }
        // owstats counts the records from the offsets; a non-zero count in the header must agree with it (an
        // unfinished file may still say 0).
        ulong available = (recordEnd - recordOffset) / OwampDataRecord.Length;
        if (recordCount != 0 && recordCount != available)
        {
            throw new InvalidDataException($".owp file: {recordCount} data records announced, {available} stored.");
        }
        recordCount = (uint)Math.Min(available, int.MaxValue);
        var records = new OwampDataRecord[recordCount];
        for (int i = 0; i < records.Length; i++)
        {
            OwampDataRecord.TryRead(file[(int)(recordOffset + ((ulong)i * OwampDataRecord.Length))..], out records[i]);
        }

        var skips = new SkipRange[skipCount];
        if (skipCount > 0)
        {
            if (skipOffset < (ulong)headerEnd || skipOffset + ((ulong)skipCount * SkipRange.Length) > (ulong)file.Length)
            {
                throw new InvalidDataException($".owp file: {skipCount} skip ranges at {skipOffset} do not fit in {file.Length} octets.");
            }
            for (int i = 0; i < skips.Length; i++)
            {
                skips[i] = SkipRange.Read(file[(int)(skipOffset + ((ulong)i * SkipRange.Length))..]);
            }
        }
        return new PerfsonarOwpSession(version, finished, nextSeqno, request, slots, skips, records)
        {
            SkipPlacement = skipOffset != 0 && skipOffset <= recordOffset ? OwpSkipPlacement.BeforeRecords : OwpSkipPlacement.AfterRecords,
        };
    }
}
