using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Ippm.Cli;

/// <summary>
/// <c>ippm server --log-format</c>: simple (the default by hand), json (one object per line, for log shippers), or
/// systemd (journald's <c>&lt;N&gt;</c> priority prefixes, no timestamps: the journal adds them). "auto" picks systemd when
/// standard error is the journal (<c>$JOURNAL_STREAM</c> is set), else simple.
/// </summary>
internal static class ServiceLogging
{
    public static ILoggerFactory Create(LogLevel level, string format)
    {
        string chosen = format.ToLowerInvariant() switch
        {
            "auto" => Environment.GetEnvironmentVariable("JOURNAL_STREAM") is { Length: > 0 } ? "systemd" : "simple",
            var f => f,
        };
        return chosen switch
        {
            "json" => LoggerFactory.Create(builder => builder
                .SetMinimumLevel(level)
                .AddJsonConsole(o =>
                {
                    o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                    o.UseUtcTimestamp = true;
                })
                .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)),
            "systemd" => LoggerFactory.Create(builder => builder
                .SetMinimumLevel(level)
                .AddSystemdConsole()
                .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)),
            _ => Logging.Create(level),
        };
    }
}
