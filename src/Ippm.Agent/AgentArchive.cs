using Microsoft.Extensions.Logging;

namespace Ippm.Agent;

/// <summary>
/// The summary archive and, when configured, the per-packet file beside it. A write that fails (disk full, permissions)
/// is logged and counted, never thrown at a test: measuring goes on and the next line tries again.
/// </summary>
public sealed partial class AgentArchive : IDisposable
{
    private readonly RotatingJsonLines _summaries;
    private readonly RotatingJsonLines? _packets;
    private readonly ILogger _logger;

    public AgentArchive(ArchiveSettings settings, ILogger logger, TimeProvider? time = null)
    {
        Settings = settings;
        _logger = logger;
        _summaries = new RotatingJsonLines(settings.Path, settings.MaxBytes, settings.MaxAge, settings.Keep, time);
        _packets = settings.Packets ? new RotatingJsonLines(settings.PacketsPath, settings.MaxBytes, settings.MaxAge, settings.Keep, time) : null;
    }

    public ArchiveSettings Settings { get; }

    public bool WritesPackets => _packets is not null;

    public long WriteFailures { get; private set; }

    public void Summary(byte[] line) => Write(_summaries, line);

    public void Packets(IEnumerable<byte[]> lines)
    {
        if (_packets is null)
        {
            return;
        }
        foreach (byte[] line in lines)
        {
            if (!Write(_packets, line))
            {
                return;
            }
        }
    }

    private bool Write(RotatingJsonLines file, byte[] line)
    {
        try
        {
            file.Append(line);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            WriteFailures++;
            Log.WriteFailed(_logger, file.Path, e.Message);
            return false;
        }
    }

    public void Dispose()
    {
        _summaries.Dispose();
        _packets?.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1300, Level = LogLevel.Error, Message = "cannot write the archive {Path}: {Reason}; measuring goes on")]
        public static partial void WriteFailed(ILogger logger, string path, string reason);
    }
}
