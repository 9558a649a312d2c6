using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Ippm.Cli;

internal static class Logging
{
    /// <summary>Logs go to standard error so that reports (and JSON) on standard output stay clean.</summary>
    public static ILoggerFactory Create(LogLevel level) =>
        LoggerFactory.Create(builder => builder
            .SetMinimumLevel(level)
            .AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
                o.UseUtcTimestamp = true;
            })
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace));
}
