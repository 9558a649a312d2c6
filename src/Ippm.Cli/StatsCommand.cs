using System.CommandLine;
using System.Text;
using Ippm.Sessions.Owamp;
using Ippm.Sessions.PerfsonarOutput;
using Ippm.Sessions.SessionFiles;

namespace Ippm.Cli;

/// <summary><c>ippm stats</c>: perfSONAR's owstats for <c>.owp</c> session files (ippm's and perfSONAR's owping, owampd, powstream).</summary>
internal static class StatsCommand
{
    public static Command Create()
    {
        var files = new Argument<FileInfo[]>("file") { Description = ".owp session files (owping -F/-T, owampd's or ippm server's data directory, powstream).", Arity = ArgumentArity.OneOrMore };
        var output = new RawOutputOptions("Print the raw records instead of a summary: \"SEQNO STIME SS SERR RTIME RS RERR TTL\", as owstats -R.", reportOptions: true);
        var json = new Option<bool>("--json") { Description = "Print each session's figures as ippm's JSON (the members of owping --json's outbound/inbound objects); an array for several files." };
        var perSample = new Option<uint>("-N", "--sample-packets") { Description = "Summarise every N packets apart (owstats -N).", HelpName = "N" };
        var command = new Command("stats", "Summarise OWAMP session files as perfSONAR's owstats does (its report, -M, -R).") { files, json, perSample };
        output.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (output.TryRead(parse, out RawOutputOptions.Values values) is string error)
            {
                return CliErrors.Fail(error, ExitCodes.Usage);
            }
            bool asJson = parse.GetValue(json);
            if (asJson && values.Any)
            {
                return CliErrors.Fail("--json excludes -R and -M.", ExitCodes.Usage);
            }
            FileInfo[] paths = parse.GetValue(files) ?? [];
            var sessions = new List<PerfsonarOwpSession>();
            foreach (FileInfo file in paths)
            {
                try
                {
                    sessions.Add(OwpFiles.Read(file.FullName));
                }
                catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
                {
                    return CliErrors.Fail($"{file}: {e.Message}", ExitCodes.Usage);
                }
            }
            if (asJson)
            {
                TwpingCommand.WriteJson(w =>
                {
                    if (sessions.Count > 1)
                    {
                        w.WriteStartArray();
                    }
                    foreach (PerfsonarOwpSession s in sessions)
                    {
                        OwampDirectionReport.Create(s.ToDirectionData()).WriteJson(w);
                    }
                    if (sessions.Count > 1)
                    {
                        w.WriteEndArray();
                    }
                });
                return ExitCodes.Success;
            }
            uint perSampleCount = parse.GetValue(perSample);
            var text = new StringBuilder();
            foreach (PerfsonarOwpSession session in sessions)
            {
                if (values.Raw)
                {
                    foreach (Ippm.Wire.Test.OwampDataRecord r in session.Records)
                    {
                        text.Append(PerfsonarReport.RawLine(r)).Append('\n');
                    }
                    continue;
                }
                string fromHost = await RawOutputOptions.NameOfAsync(session.Request.SenderAddress, cancellationToken).ConfigureAwait(false);
                string toHost = await RawOutputOptions.NameOfAsync(session.Request.ReceiverAddress, cancellationToken).ConfigureAwait(false);
                foreach ((uint first, uint last) in Samples(session.Request.PacketCount, perSampleCount))
                {
                    PerfsonarSessionInfo info;
                    try
                    {
                        info = PerfsonarStats.InfoFor(session, fromHost, toHost, first, last);
                    }
                    catch (InvalidDataException e)
                    {
                        return CliErrors.Fail($"{paths[sessions.IndexOf(session)]}: {e.Message}", ExitCodes.Usage);
                    }
                    PerfsonarStats stats = PerfsonarStats.ForOwamp(session, info, values.BucketWidth);
                    text.Append(values.Machine ? PerfsonarReport.Machine(stats) : PerfsonarReport.Summary(stats, values.Unit, values.Percentiles));
                }
            }
            Console.Out.Write(text.ToString());
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>owstats -N: consecutive samples of N packets (the last one shorter); the whole session without it.</summary>
    internal static IEnumerable<(uint First, uint Last)> Samples(uint packets, uint perSample)
    {
        if (perSample == 0 || perSample >= packets)
        {
            yield return (0, packets);
            yield break;
        }
        for (uint first = 0; first < packets; first += perSample)
        {
            yield return (first, Math.Min(first + perSample, packets));
        }
    }
}
