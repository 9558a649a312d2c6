using System.CommandLine;
using Ippm.Cli;

var root = new RootCommand("ippm: OWAMP/TWAMP IP performance measurement (RFC 4656, 5357, 5618, 7717).")
{
    DemoCommand.Create(),
    TwpingCommand.Create(),
    StampCommand.Create(),
    OwpingCommand.Create(),
    ServerCommand.Create(),
    AgentCommand.Create(),
    BenchCommand.Create(),
    IkeCommand.Create(),
    KeysCommand.Create(),
    StatsCommand.Create(),
    PlotCommand.Create(),
};
ParseResult parse = root.Parse(args);
CliErrors.Json = parse.Tokens.Any(t => t.Type == System.CommandLine.Parsing.TokenType.Option && t.Value == "--json");
if (ParseErrors.TryReport(parse) is int usage)
{
    return usage;
}
if (RootHelp.IsRootHelp(parse))
{
    return RootHelp.Write(parse);
}
// Signals are ours (see Interruption), not System.CommandLine's: it would end the process 2 s after Ctrl+C,
// before a measurement has sent Stop-Sessions and printed what it measured.
using var interruption = new Interruption();
return await parse.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }, interruption.Token).ConfigureAwait(false);
