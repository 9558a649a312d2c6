using System.Buffers.Binary;
using Ippm.Wire.Control;
using Ippm.Wire.Test;

namespace Ippm.Sessions.SessionFiles;

/// <summary>Where a <c>.owp</c> file keeps its skip ranges.</summary>
public enum OwpSkipPlacement
{
    /// <summary>Before the records, as owping writes a session it fetched (OWPFetchSession: the skip offset is the end of the header even when there are none).</summary>
    BeforeRecords,

    /// <summary>After the records, as a receiver writes the session it recorded (owping -F, owampd, powstream).</summary>
    AfterRecords,
}

/// <summary>
/// Writes perfSONAR's <c>.owp</c> session file, version 3, the layout <see cref="PerfsonarOwpFile"/> reads and owamp
/// 5.x's owping (<c>-F</c>/<c>-T</c>), owampd and powstream write (api.c OWPWriteDataHeader): the 40-octet fixed
/// header, the Request-Session with its HMAC field zero, the schedule slots, a zero block in place of the HMAC, then
/// skip ranges (8 octets: first, last) and data records (25 octets, RFC 4656 §4.2 as Fetch-Session sends them) in
/// the order <see cref="OwpSkipPlacement"/> says. A file written here and one perfSONAR wrote for the same session
/// are equal octet for octet.
/// </summary>
public static class PerfsonarOwpFileWriter
{
    public static byte[] Serialize(PerfsonarOwpSession session, OwpSkipPlacement placement)
    {
        ArgumentNullException.ThrowIfNull(session);
        int headerLength = PerfsonarOwpFile.FixedHeaderLength + SessionRequest.Length + ((session.Slots.Count + 1) * ScheduleSlot.Length);
        long length = headerLength + ((long)session.SkipRanges.Count * SkipRange.Length) + ((long)session.Records.Count * OwampDataRecord.Length);
        if (length > PerfsonarOwpFile.MaxFileLength)
        {
            throw new InvalidOperationException($"{session.Records.Count} records make a {length}-octet file, more than a session file may have here.");
        }
        byte[] file = new byte[length];
        Span<byte> f = file;
        "OwA\0"u8.CopyTo(f);
        BinaryPrimitives.WriteUInt32BigEndian(f[4..], PerfsonarOwpFile.SupportedVersion);
        BinaryPrimitives.WriteUInt32BigEndian(f[8..], session.Finished);
        BinaryPrimitives.WriteUInt32BigEndian(f[12..], session.NextSeqno);
        BinaryPrimitives.WriteUInt32BigEndian(f[16..], (uint)session.SkipRanges.Count);
        BinaryPrimitives.WriteUInt32BigEndian(f[20..], (uint)session.Records.Count);
        long skipOffset, recordOffset;
        if (placement == OwpSkipPlacement.BeforeRecords)
        {
            skipOffset = headerLength;
            recordOffset = headerLength + ((long)session.SkipRanges.Count * SkipRange.Length);
        }
        else
        {
            recordOffset = headerLength;
            skipOffset = headerLength + ((long)session.Records.Count * OwampDataRecord.Length);
        }
        BinaryPrimitives.WriteUInt64BigEndian(f[24..], (ulong)skipOffset);
        BinaryPrimitives.WriteUInt64BigEndian(f[32..], (ulong)recordOffset);
        // The stored request says how many slots follow; its HMAC field stays zero (SessionRequest.Write clears it).
        (session.Request with { ScheduleSlotCount = (uint)session.Slots.Count }).Write(f[PerfsonarOwpFile.FixedHeaderLength..]);
        int slot = PerfsonarOwpFile.FixedHeaderLength + SessionRequest.Length;
        foreach (ScheduleSlot s in session.Slots)
        {
            s.Write(f[slot..]);
            slot += ScheduleSlot.Length;
        }
        for (int i = 0; i < session.SkipRanges.Count; i++)
        {
            session.SkipRanges[i].Write(f[(int)(skipOffset + (i * SkipRange.Length))..]);
        }
        for (int i = 0; i < session.Records.Count; i++)
        {
            session.Records[i].Write(f[(int)(recordOffset + ((long)i * OwampDataRecord.Length))..]);
        }
        return file;
    }

    /// <summary>Writes the file atomically: a temporary file beside <paramref name="path"/>, then a rename.</summary>
    public static void Write(string path, PerfsonarOwpSession session, OwpSkipPlacement placement)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] bytes = Serialize(session, placement);
        string full = Path.GetFullPath(path);
        string temporary = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        try
        {
            File.WriteAllBytes(temporary, bytes);
            File.Move(temporary, full, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }
}
