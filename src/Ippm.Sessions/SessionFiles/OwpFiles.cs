using System.Buffers;
using Ippm.Sessions.Owamp;
using Ippm.Wire.Control;

namespace Ippm.Sessions.SessionFiles;

/// <summary>
/// Reads any <c>.owp</c> session file ippm meets: perfSONAR's (owping -F/-T, owampd, powstream, and ippm's owping
/// -F/-T, which write the same format) and ippm server's data directory (<see cref="OwampSessionFile"/>, "IPPM-OWP"),
/// told apart by their magic.
/// </summary>
public static class OwpFiles
{
    public static PerfsonarOwpSession Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        long length = new FileInfo(path).Length;
        if (length > PerfsonarOwpFile.MaxFileLength)
        {
            throw new InvalidDataException($"{length} octets, more than the {PerfsonarOwpFile.MaxFileLength} a session file may have here.");
        }
        return Parse(File.ReadAllBytes(path));
    }

    public static PerfsonarOwpSession Parse(ReadOnlySpan<byte> file)
    {
        if (!file.StartsWith("IPPM-OWP"u8))
        {
            return PerfsonarOwpFile.Parse(file);
        }
        OwampStoredSession stored = OwampSessionFile.TryRead(file, out string reason) ?? throw new InvalidDataException($"ippm server session file: {reason}.");
        return FromStored(stored);
    }

    /// <summary>A session of ippm server's data directory as perfSONAR's file would hold it (the server wrote the records as it received them).</summary>
    public static PerfsonarOwpSession FromStored(OwampStoredSession stored)
    {
        ArgumentNullException.ThrowIfNull(stored);
        if (SessionRequest.TryRead(stored.Request, out SessionRequest? request) != OperationStatus.Done)
        {
            throw new InvalidDataException("ippm server session file: the stored Request-Session is malformed.");
        }
        var slots = new ScheduleSlot[stored.SlotCount];
        for (int i = 0; i < slots.Length; i++)
        {
            if (ScheduleSlot.TryRead(stored.SlotBlocks.AsSpan(i * ScheduleSlot.Length), out slots[i]) != OperationStatus.Done)
            {
                throw new InvalidDataException($"ippm server session file: schedule slot {i} has an unknown type.");
            }
        }
        return new PerfsonarOwpSession(PerfsonarOwpFile.SupportedVersion, stored.Finished, stored.NextSeqno, request! with { Sid = stored.Sid }, slots, stored.SkipRanges, stored.Records);
    }
}
