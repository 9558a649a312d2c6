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

    /// <summary>
    /// twping and owping: warnings only; -v adds the control exchange (<c>Ippm.Control</c>), -vv also the IKEv2
    /// exchanges (<c>Ippm.Ike</c>, with retransmissions and dropped datagrams). None of these ever carries key material.
    /// </summary>
    public static ILoggerFactory CreateClient(int verbosity) =>
        LoggerFactory.Create(builder => builder
            .SetMinimumLevel(LogLevel.Warning)
            .AddFilter(Ippm.Sessions.Control.ControlTrace.Category, verbosity >= 1 ? LogLevel.Information : LogLevel.Warning)
            .AddFilter("Ippm.Ike", verbosity >= 2 ? LogLevel.Debug : LogLevel.Warning)
            .AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
                o.UseUtcTimestamp = true;
            })
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace));
}
