using System.CommandLine;
using Ippm.Cli;

var root = new RootCommand("ippm: OWAMP/TWAMP IP performance measurement (RFC 4656, 5357, 5618, 7717).")
{
    DemoCommand.Create(),
    TwpingCommand.Create(),
    StampCommand.Create(),
    OwpingCommand.Create(),
    ServerCommand.Create(),
    BenchCommand.Create(),
    IkeCommand.Create(),
};
return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
