using System.CommandLine;
using Ippm.Plots;
using Ippm.Plots.Archive;

namespace Ippm.Cli;

/// <summary>
/// <c>ippm plot ARCHIVE… [--test NAME]… [--since T] [--until T] -o FILE.png|.svg|.html</c>: parses the command
/// line and prints what was written; reading, selecting and drawing are <see cref="PlotReport"/>'s (Ippm.Plots).
/// </summary>
internal static class PlotCommand
{
    /// <summary>An archive line is not archive format version 1 (the message names file:line).</summary>
    public const int BadArchive = 2;

    /// <summary>No session matches --test / --since / --until (the message says what the archive holds).</summary>
    public const int NothingSelected = 3;

    public static Command Create()
    {
        var archives = new Argument<string[]>("archive")
        {
            Description = "The agent's JSON Lines archive; several files or a quoted pattern ('ippm.jsonl*') for rotated ones.",
            Arity = ArgumentArity.OneOrMore,
        };
        var output = new Option<string>("-o", "--output") { Description = "The file to write: .png, .svg (one test, or a grid with a column per test) or .html (a section per test).", Required = true };
        var tests = new Option<string[]>("--test") { Description = "Only this test (repeat for several); default: every test in the archive." };
        var since = new Option<string>("--since") { Description = "Only sessions still running at or after T: ISO 8601 (UTC unless an offset is given) or a duration before now (90m, 24h, 7d)." };
        var until = new Option<string>("--until") { Description = "Only sessions that started before T (same forms as --since)." };
        var skipBad = new Option<bool>("--skip-bad") { Description = "Skip lines that are not archive records (reported on standard error) instead of refusing the archive." };
        var noPackets = new Option<bool>("--no-packets") { Description = "Ignore a per-packet file (NAME.packets.jsonl) beside the archive; delay distributions then come from the session summaries." };
        var command = new Command("plot", "Draw the agent's archive: delay over time (min/median/p95), delay distribution, loss and reordering per test, as PNG, SVG or a self-contained HTML report.")
        {
            archives, output, tests, since, until, skipBad, noPackets,
        };
        command.SetAction(parse => Run(
            parse.GetValue(archives) ?? [],
            parse.GetValue(output)!,
            parse.GetValue(tests) ?? [],
            parse.GetValue(since),
            parse.GetValue(until),
            parse.GetValue(skipBad),
            !parse.GetValue(noPackets)));
        return command;
    }

    private static int Run(string[] archives, string output, string[] tests, string? sinceText, string? untilText, bool skipBad, bool usePackets)
    {
        DateTimeOffset now = TimeProvider.System.GetUtcNow();
        DateTimeOffset? since = null, until = null;
        if (sinceText is not null)
        {
            if (!PlotTimeArgument.TryParse(sinceText, now, out DateTimeOffset t))
            {
                return CliErrors.Fail($"--since expects an ISO 8601 time or a duration such as 24h, not '{sinceText}'", ExitCodes.Usage);
            }
            since = t;
        }
        if (untilText is not null)
        {
            if (!PlotTimeArgument.TryParse(untilText, now, out DateTimeOffset t))
            {
                return CliErrors.Fail($"--until expects an ISO 8601 time or a duration such as 24h, not '{untilText}'", ExitCodes.Usage);
            }
            until = t;
        }
        if (since is { } s && until is { } u && u <= s)
        {
            return CliErrors.Fail("--until must be later than --since", ExitCodes.Usage);
        }
        try
        {
            PlotReport.FormatOf(output);
        }
        catch (ArgumentException e)
        {
            return CliErrors.Fail(e.Message, ExitCodes.Usage);
        }

        try
        {
            PlotResult result = PlotReport.Write(new PlotRequest(archives, tests, since, until, skipBad, usePackets), output, TimeProvider.System);
            foreach (ArchiveFormatException skipped in result.Selection.Skipped)
            {
                Console.Error.WriteLine($"ippm: skipped {skipped.Message}");
            }
            int sessions = result.Selection.Tests.Sum(t => t.Sessions.Count);
            int failed = result.Selection.Tests.Sum(t => t.Failed.Count());
            Console.WriteLine($"wrote {output}: {result.Selection.Tests.Count} tests ({string.Join(", ", result.Selection.Tests.Select(t => t.Test))}), {sessions} sessions, {failed} failed");
            return ExitCodes.Success;
        }
        catch (ArchiveFormatException e)
        {
            return CliErrors.Fail($"{e.Message} (--skip-bad skips such lines)", BadArchive);
        }
        catch (EmptySelectionException e)
        {
            return CliErrors.Fail(e.Message, NothingSelected);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return CliErrors.Fail(e.Message, ExitCodes.Usage);
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException { InnerException: DllNotFoundException })
        {
            // The single-file build keeps SkiaSharp's native libraries beside the executable (the .deb: /usr/lib/ippm).
            return CliErrors.Fail($"cannot load the drawing library: {(e.InnerException ?? e).Message.Split('\n')[0]} (libSkiaSharp.so and libHarfBuzzSharp.so belong beside the ippm executable)", ExitCodes.Usage);
        }
    }
}
