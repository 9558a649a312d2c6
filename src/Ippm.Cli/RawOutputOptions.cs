using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Ippm.Sessions.PerfsonarOutput;

namespace Ippm.Cli;

/// <summary>
/// The output flags perfSONAR's owping, twping and owstats share (-R raw records, -M machine summary, -b bucket width,
/// -n units, -a percentiles), defined apart from each tool's own flags.
/// </summary>
internal sealed class RawOutputOptions
{
    public RawOutputOptions(string rawDescription, bool reportOptions)
    {
        Raw = new Option<bool>("-R", "--raw") { Description = rawDescription };
        Machine = new Option<bool>("-M", "--machine") { Description = "Print perfSONAR's machine-readable summary (SUMMARY 3.00 key/value lines, <BUCKETS>, TTLs) instead of the report." };
        BucketWidth = new Option<double>("-b", "--bucket-width") { Description = "Histogram bucket width of -M (and of the owstats report's percentiles), seconds.", HelpName = "SECONDS", DefaultValueFactory = _ => PerfsonarStats.DefaultBucketWidth };
        Units = new Option<string>("-n", "--units") { Description = "Units of the owstats report: n, u, m or s.", HelpName = "UNIT", DefaultValueFactory = _ => "m" };
        Quiet = new Option<bool>("-Q", "--quiet") { Description = "Measure and print no statistics, as owping -Q (the exit status, and -F/-T files, still hold the outcome)." };
        Percentiles = new Option<string?>("-a", "--percentiles") { Description = "Extra percentiles for the owstats report, a comma list such as 90,99.", HelpName = "LIST" };
        _reportOptions = reportOptions;
    }

    private readonly bool _reportOptions;

    public Option<bool> Raw { get; }
    public Option<bool> Machine { get; }
    public Option<double> BucketWidth { get; }
    public Option<string> Units { get; }
    public Option<string?> Percentiles { get; }

    /// <summary>-Q: the clients' only (owstats exists to print).</summary>
    public Option<bool> Quiet { get; }

    public void AddTo(Command command)
    {
        command.Add(Raw);
        command.Add(Machine);
        command.Add(BucketWidth);
        if (_reportOptions)
        {
            command.Add(Units);
            command.Add(Percentiles);
        }
        else
        {
            command.Add(Quiet);
        }
    }

    /// <summary>What the flags say, validated; an error message for bad values.</summary>
    public string? TryRead(ParseResult parse, out Values values)
    {
        values = new Values(parse.GetValue(Raw), parse.GetValue(Machine), parse.GetValue(BucketWidth), 'm', []);
        if (values.Raw && values.Machine)
        {
            return "-R and -M exclude each other.";
        }
        if (!_reportOptions && parse.GetValue(Quiet))
        {
            if (values.Raw || values.Machine)
            {
                return "-Q prints nothing: it excludes -R and -M.";
            }
            values = values with { Quiet = true };
        }
        if (!(values.BucketWidth > 0 && values.BucketWidth < 3600))
        {
            return "-b must be a positive number of seconds.";
        }
        if (!_reportOptions)
        {
            return null;
        }
        string units = parse.GetValue(Units) ?? "m";
        if (units.Length != 1 || PerfsonarReport.Units(units[0]) is null)
        {
            return $"-n '{units}': use n, u, m or s.";
        }
        var percentiles = new List<double>();
        foreach (string part in (parse.GetValue(Percentiles) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out double p) || p < 0 || p > 100)
            {
                return $"-a '{part}': percentiles are numbers from 0 to 100.";
            }
            percentiles.Add(p);
        }
        values = values with { Unit = units[0], Percentiles = percentiles };
        return null;
    }

    internal sealed record Values(bool Raw, bool Machine, double BucketWidth, char Unit, IReadOnlyList<double> Percentiles)
    {
        /// <summary>-Q: no output at all.</summary>
        public bool Quiet { get; init; }

        /// <summary>Something other than ippm's own report (or nothing, for -Q).</summary>
        public bool Any => Raw || Machine || Quiet;
    }

    /// <summary>A host name for an address as owstats prints it (its reverse lookup), the address itself when there is none within 2 s.</summary>
    public static async Task<string> NameOfAsync(IPAddress address, CancellationToken cancellationToken)
    {
        try
        {
            using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            bounded.CancelAfter(TimeSpan.FromSeconds(2));
            IPHostEntry entry = await Dns.GetHostEntryAsync(address.ToString(), bounded.Token).ConfigureAwait(false);
            return string.IsNullOrEmpty(entry.HostName) ? address.ToString() : entry.HostName;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ArgumentException)
        {
            return address.ToString();
        }
    }
}
