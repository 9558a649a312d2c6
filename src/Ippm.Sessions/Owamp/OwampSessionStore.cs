using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Ippm.Sessions.Server;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;
using Microsoft.Extensions.Logging;

namespace Ippm.Sessions.Owamp;

/// <summary>
/// A completed OWAMP receive session as Fetch-Session serves it (RFC 4656 §3.9): Finished, Next Seqno, skip
/// ranges, the original Request-Session and slot blocks, the records, and the identity (KeyID) of the control
/// connection that requested it (null: open mode).
/// </summary>
public sealed record OwampStoredSession(
    SessionId Sid,
    byte Finished,
    uint NextSeqno,
    IReadOnlyList<SkipRange> SkipRanges,
    byte[] Request,
    byte[] SlotBlocks,
    string? Identity,
    IReadOnlyList<OwampDataRecord> Records)
{
    /// <summary>Number of schedule slots (<see cref="SlotBlocks"/> holds 16 octets per slot, no HMAC block).</summary>
    public int SlotCount => SlotBlocks.Length / ScheduleSlot.Length;

    /// <summary>Records with Begin ≤ seq ≤ End, in stored order.</summary>
    public OwampDataRecord[] RecordsBetween(uint begin, uint end) =>
        Records.Where(r => r.SequenceNumber >= begin && r.SequenceNumber <= end).ToArray();
}

/// <summary>
/// The <c>.owp</c> file of one stored session, all integers big-endian:
/// <code>
///  0 magic "IPPM-OWP" (8) | 8 version = 1 (1) | 9 Finished (1) | 10 identity length i (1) | 11 MBZ (1)
/// 12 SID (16) | 28 Next Seqno (4) | 32 skip ranges k (4) | 36 schedule slots s (4) | 40 records n (4)
/// 44 identity (i octets, UTF-8 KeyID; 0 octets = open mode)
///    Request-Session as received (112) | s × slot (16) | k × skip range (8) | n × record (25)
///    SHA-256 of everything before it (32)
/// </code>
/// The length is implied by the counts and must match the file exactly; the digest catches corruption.
/// </summary>
public static class OwampSessionFile
{
    public const string Extension = ".owp";
    public const int HeaderLength = 44;
    public const int DigestLength = 32;
    private const byte Version = 1;
    private const int MaxIdentityLength = 255;
    private static ReadOnlySpan<byte> Magic => "IPPM-OWP"u8;

    /// <summary>The exact file length for <paramref name="session"/>.</summary>
    public static long EncodedLength(OwampStoredSession session) =>
        HeaderLength + IdentityBytes(session.Identity).Length + SessionRequest.Length + session.SlotBlocks.Length
        + ((long)session.SkipRanges.Count * SkipRange.Length) + ((long)session.Records.Count * OwampDataRecord.Length) + DigestLength;

    public static void Write(OwampStoredSession session, Stream destination)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(destination);
        if (session.Request.Length != SessionRequest.Length || session.SlotBlocks.Length % ScheduleSlot.Length != 0)
        {
            throw new ArgumentException("Request-Session must be 112 octets and the slots whole blocks.", nameof(session));
        }
        byte[] identity = IdentityBytes(session.Identity);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Put(ReadOnlySpan<byte> bytes)
        {
            hash.AppendData(bytes);
            destination.Write(bytes);
        }

        Span<byte> header = stackalloc byte[HeaderLength];
        header.Clear();
        Magic.CopyTo(header);
        header[8] = Version;
        header[9] = session.Finished;
        header[10] = (byte)identity.Length;
        session.Sid.Write(header[12..]);
        BinaryPrimitives.WriteUInt32BigEndian(header[28..], session.NextSeqno);
        BinaryPrimitives.WriteUInt32BigEndian(header[32..], (uint)session.SkipRanges.Count);
        BinaryPrimitives.WriteUInt32BigEndian(header[36..], (uint)session.SlotCount);
        BinaryPrimitives.WriteUInt32BigEndian(header[40..], (uint)session.Records.Count);
        Put(header);
        Put(identity);
        Put(session.Request);
        Put(session.SlotBlocks);
        Span<byte> range = stackalloc byte[SkipRange.Length];
        foreach (SkipRange skip in session.SkipRanges)
        {
            skip.Write(range);
            Put(range);
        }
        byte[] chunk = new byte[OwampDataRecord.Length * 1024];
        int used = 0;
        foreach (OwampDataRecord record in session.Records)
        {
            record.Write(chunk.AsSpan(used));
            used += OwampDataRecord.Length;
            if (used == chunk.Length)
            {
                Put(chunk);
                used = 0;
            }
        }
        Put(chunk.AsSpan(0, used));
        destination.Write(hash.GetHashAndReset());
    }

    /// <summary>Parses a whole file. Returns null, with a reason, for anything truncated, inconsistent or corrupted.</summary>
    public static OwampStoredSession? TryRead(ReadOnlySpan<byte> file, out string reason)
    {
        if (file.Length < HeaderLength + SessionRequest.Length + DigestLength)
        {
            reason = $"{file.Length} octets: truncated";
            return null;
        }
        if (!file[..8].SequenceEqual(Magic) || file[8] != Version)
        {
            reason = "not an ippm OWAMP session file (bad magic or version)";
            return null;
        }
        int identityLength = file[10];
        uint skipCount = BinaryPrimitives.ReadUInt32BigEndian(file[32..]);
        uint slotCount = BinaryPrimitives.ReadUInt32BigEndian(file[36..]);
        uint recordCount = BinaryPrimitives.ReadUInt32BigEndian(file[40..]);
        long expected = HeaderLength + identityLength + SessionRequest.Length + ((long)slotCount * ScheduleSlot.Length)
            + ((long)skipCount * SkipRange.Length) + ((long)recordCount * OwampDataRecord.Length) + DigestLength;
        if (expected != file.Length)
        {
            reason = $"{file.Length} octets where the header implies {expected}: truncated or corrupted";
            return null;
        }
        int bodyLength = file.Length - DigestLength;
        Span<byte> digest = stackalloc byte[DigestLength];
        SHA256.HashData(file[..bodyLength], digest);
        if (!CryptographicOperations.FixedTimeEquals(digest, file[bodyLength..]))
        {
            reason = "SHA-256 does not match: corrupted";
            return null;
        }

        int offset = HeaderLength;
        string? identity = identityLength == 0 ? null : Encoding.UTF8.GetString(file.Slice(offset, identityLength));
        offset += identityLength;
        byte[] request = file.Slice(offset, SessionRequest.Length).ToArray();
        offset += SessionRequest.Length;
        if (SessionRequest.TryRead(request, out SessionRequest? parsed) != OperationStatus.Done || parsed!.ScheduleSlotCount != slotCount)
        {
            reason = "the stored Request-Session is malformed or disagrees with the slot count";
            return null;
        }
        byte[] slots = file.Slice(offset, (int)slotCount * ScheduleSlot.Length).ToArray();
        offset += slots.Length;
        var ranges = new SkipRange[skipCount];
        for (int i = 0; i < ranges.Length; i++)
        {
            ranges[i] = SkipRange.Read(file[offset..]);
            offset += SkipRange.Length;
        }
        if (!SkipRange.AreWellFormed(ranges))
        {
            reason = "the stored skip ranges are malformed";
            return null;
        }
        var records = new OwampDataRecord[recordCount];
        for (int i = 0; i < records.Length; i++)
        {
            OwampDataRecord.TryRead(file[offset..], out records[i]);
            offset += OwampDataRecord.Length;
        }
        reason = "";
        return new OwampStoredSession(SessionId.Read(file[12..]), file[9], BinaryPrimitives.ReadUInt32BigEndian(file[28..]), ranges, request, slots, identity, records);
    }

    public static string FileName(SessionId sid) => sid.ToString() + Extension;

    private static byte[] IdentityBytes(string? identity)
    {
        byte[] bytes = identity is null ? [] : Encoding.UTF8.GetBytes(identity);
        return bytes.Length <= MaxIdentityLength ? bytes : throw new ArgumentException("Identity longer than 255 octets.", nameof(identity));
    }
}

/// <summary>Why a stored session could not be served.</summary>
public enum OwampStoreLookup
{
    Found,
    NotFound,
    Forbidden,
    Unreadable,
}

/// <summary>
/// The on-disk Session-Receiver store of <see cref="ServerOptions.DataDirectory"/>: one <c>&lt;SID&gt;.owp</c> file
/// per completed receive session, written atomically (temporary file, then rename) with mode 0600, the oldest
/// files evicted to stay within <see cref="ServerOptions.DataDirectoryLimitBytes"/>. Every I/O failure is logged
/// and reported to the caller, which keeps the session in memory instead; nothing here throws.
/// <para>Access rule: a session requested under a KeyID (authenticated or encrypted mode) may be fetched by any
/// control connection authenticated with the same KeyID; a session requested in open mode may be fetched by any
/// connection that knows its SID.</para>
/// </summary>
public sealed partial class OwampSessionStore
{
    /// <summary>One lock per directory, shared by every connection and server of the process.</summary>
    private static readonly ConcurrentDictionary<string, object> Locks = new(StringComparer.Ordinal);

    private readonly ILogger _logger;
    private readonly object _lock;

    public OwampSessionStore(string directory, long limitBytes, ILogger logger)
    {
        Directory = Path.GetFullPath(directory);
        LimitBytes = limitBytes;
        _logger = logger;
        _lock = Locks.GetOrAdd(Directory, _ => new object());
    }

    public string Directory { get; }

    public long LimitBytes { get; }

    /// <summary>The store of <see cref="ServerOptions.DataDirectory"/>, or null when none is configured or the path is invalid (logged).</summary>
    public static OwampSessionStore? For(ServerOptions options, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrEmpty(options.DataDirectory))
        {
            return null;
        }
        try
        {
            return new OwampSessionStore(options.DataDirectory, options.DataDirectoryLimitBytes, logger);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException or System.Security.SecurityException)
        {
            Log.SaveFailed(logger, default, options.DataDirectory, e.Message);
            return null;
        }
    }

    public string PathOf(SessionId sid) => Path.Combine(Directory, OwampSessionFile.FileName(sid));

    /// <summary>Writes <paramref name="session"/> to disk. False (logged) when it must stay in memory.</summary>
    public bool TrySave(OwampStoredSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        long size;
        try
        {
            size = OwampSessionFile.EncodedLength(session);
        }
        catch (ArgumentException e)
        {
            Log.SaveFailed(_logger, session.Sid, Directory, e.Message);
            return false;
        }
        if (size > LimitBytes)
        {
            Log.TooLarge(_logger, session.Sid, size, LimitBytes);
            return false;
        }
        lock (_lock)
        {
            string? temp = null;
            try
            {
                if (OperatingSystem.IsWindows())
                {
                    System.IO.Directory.CreateDirectory(Directory);
                }
                else
                {
                    System.IO.Directory.CreateDirectory(Directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                }
                MakeRoom(size, session.Sid);
                temp = Path.Combine(Directory, $".{session.Sid}.{Guid.NewGuid():N}.tmp");
                var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 1 << 16 };
                if (!OperatingSystem.IsWindows())
                {
                    options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                }
                using (var stream = new FileStream(temp, options))
                {
                    OwampSessionFile.Write(session, stream);
                    stream.Flush(flushToDisk: true);
                }
                File.Move(temp, PathOf(session.Sid), overwrite: true);
                temp = null;
                Log.Saved(_logger, session.Sid, session.Records.Count, size, PathOf(session.Sid));
                return true;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // Whatever the file system does (full, read-only, permissions, a file in the directory's place).
                Log.SaveFailed(_logger, session.Sid, Directory, e.Message);
                return false;
            }
            finally
            {
                if (temp is not null)
                {
                    TryDelete(temp);
                }
            }
        }
    }

    /// <summary>Reads the session <paramref name="sid"/> for a connection authenticated as <paramref name="identity"/> (null: open mode).</summary>
    public OwampStoreLookup TryLoad(SessionId sid, string? identity, out OwampStoredSession? session, out string reason)
    {
        session = null;
        string path = PathOf(sid);
        byte[] bytes;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                reason = $"no received session {sid}";
                return OwampStoreLookup.NotFound;
            }
            if (info.Length > Array.MaxLength)
            {
                reason = $"{path} is {info.Length} octets, too large to serve";
                Log.Unreadable(_logger, sid, path, reason);
                return OwampStoreLookup.Unreadable;
            }
            bytes = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException)
        {
            reason = $"no received session {sid}";
            return OwampStoreLookup.NotFound;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            reason = $"cannot read {path}: {e.Message}";
            Log.Unreadable(_logger, sid, path, e.Message);
            return OwampStoreLookup.Unreadable;
        }
        OwampStoredSession? read = OwampSessionFile.TryRead(bytes, out string why);
        if (read is null || read.Sid != sid)
        {
            reason = read is null ? why : $"the file holds session {read.Sid}";
            Log.Unreadable(_logger, sid, path, reason);
            return OwampStoreLookup.Unreadable;
        }
        if (read.Identity is not null && !string.Equals(read.Identity, identity, StringComparison.Ordinal))
        {
            reason = $"session {sid} belongs to another identity";
            return OwampStoreLookup.Forbidden;
        }
        session = read;
        reason = "";
        return OwampStoreLookup.Found;
    }

    /// <summary>Deletes the oldest <c>.owp</c> files until <paramref name="incoming"/> more octets fit the limit.</summary>
    private void MakeRoom(long incoming, SessionId sid)
    {
        var files = new DirectoryInfo(Directory).EnumerateFiles("*" + OwampSessionFile.Extension)
            .Where(f => f.Name != OwampSessionFile.FileName(sid))
            .OrderBy(f => f.LastWriteTimeUtc).ThenBy(f => f.Name, StringComparer.Ordinal)
            .ToList();
        long total = files.Sum(f => f.Length);
        foreach (FileInfo oldest in files)
        {
            if (total + incoming <= LimitBytes)
            {
                break;
            }
            if (TryDelete(oldest.FullName))
            {
                total -= oldest.Length;
                Log.Evicted(_logger, oldest.Name, oldest.Length, LimitBytes);
            }
        }
    }

    /// <summary>Deletes a stored session (delete_on_fetch); false when it was not there or could not be deleted.</summary>
    public bool Delete(SessionId sid) => File.Exists(PathOf(sid)) && TryDelete(PathOf(sid));

    private bool TryDelete(string path)
    {
        try
        {
            File.Delete(path);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.DeleteFailed(_logger, path, e.Message);
            return false;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 410, Level = LogLevel.Information, Message = "OWAMP session {Sid}: {Records} record(s), {Size} octets stored in {Path}")]
        public static partial void Saved(ILogger logger, SessionId sid, int records, long size, string path);

        [LoggerMessage(EventId = 411, Level = LogLevel.Warning, Message = "OWAMP session {Sid}: {Size} octets exceed the data directory limit of {Limit}; kept in memory only")]
        public static partial void TooLarge(ILogger logger, SessionId sid, long size, long limit);

        [LoggerMessage(EventId = 412, Level = LogLevel.Warning, Message = "OWAMP session {Sid}: cannot store in {Directory} ({Reason}); kept in memory only")]
        public static partial void SaveFailed(ILogger logger, SessionId sid, string directory, string reason);

        [LoggerMessage(EventId = 413, Level = LogLevel.Information, Message = "OWAMP data directory: deleted {File} ({Size} octets) to stay within {Limit} octets")]
        public static partial void Evicted(ILogger logger, string file, long size, long limit);

        [LoggerMessage(EventId = 414, Level = LogLevel.Warning, Message = "OWAMP session {Sid}: stored file {Path} is unusable: {Reason}")]
        public static partial void Unreadable(ILogger logger, SessionId sid, string path, string reason);

        [LoggerMessage(EventId = 415, Level = LogLevel.Warning, Message = "OWAMP data directory: cannot delete {Path}: {Reason}")]
        public static partial void DeleteFailed(ILogger logger, string path, string reason);
    }
}
