using System.CommandLine;
using Ippm.Ikev2.Exchanges;
using Ippm.Sessions.Server;

namespace Ippm.Cli;

/// <summary><c>ippm server</c> flags for the per-source shares and attack limits (README, "Limits and fairness").</summary>
internal sealed class ServerLimitOptions
{
    private readonly Option<int?> _connectionsPerSource = new("--max-connections-per-source") { Description = "Control connections one source address may hold (default: max-connections / 16, at least 4)." };
    private readonly Option<int> _sessionsPerSource = new("--max-sessions-per-source") { Description = "Test sessions one source address may hold over all its connections.", DefaultValueFactory = _ => 128 };
    private readonly Option<string> _memoryPerSource = new("--max-memory-per-source") { Description = "Reflector buffer memory one source address may hold, K/M/G suffixes.", DefaultValueFactory = _ => "64M" };
    private readonly Option<long?> _packetsPerSource = new("--max-scheduled-packets-per-source") { Description = "OWAMP packets one source address (or authenticated identity) may schedule at once (default: max-scheduled-packets / 4)." };
    private readonly Option<double> _startDelay = new("--max-start-delay") { Description = "Seconds ahead an OWAMP session may start; later ones get Accept=4.", DefaultValueFactory = _ => 300 };
    private readonly Option<double> _sessionDuration = new("--max-session-duration") { Description = "Seconds ahead an OWAMP session's schedule may end (start delay included); longer ones get Accept=4.", DefaultValueFactory = _ => 86400 };
    private readonly Option<double> _setupTimeout = new("--setup-timeout") { Description = "Seconds a new connection has to authenticate (Set-Up-Response), and a started command to arrive whole.", DefaultValueFactory = _ => 10 };
    private readonly Option<double> _openLifetime = new("--open-lifetime") { Description = "Seconds an open-mode (unauthenticated) control connection may last.", DefaultValueFactory = _ => 3600 };
    private readonly Option<double> _openIdle = new("--open-idle-under-pressure") { Description = "Seconds an idle open-mode connection is kept while 3/4 of max-connections are held (instead of SERVWAIT).", DefaultValueFactory = _ => 30 };
    private readonly Option<int> _ikeHalfOpenPerSource = new("--ike-max-half-open-per-source") { Description = "IKE half-open SAs one source address may hold; more IKE_SA_INITs from it are dropped.", DefaultValueFactory = _ => 16 };
    private readonly Option<int> _ikeSasPerIdentity = new("--ike-max-sas-per-identity") { Description = "Established IKE SAs one peer identity may hold (rekeyed ones included); the oldest is forgotten when another completes.", DefaultValueFactory = _ => 16 };
    private readonly Option<int> _ikeCookieThreshold = new("--ike-cookie-threshold") { Description = "Half-open IKE SAs (all sources) above which every IKE_SA_INIT must return a COOKIE.", DefaultValueFactory = _ => 64 };

    public void AddTo(Command command)
    {
        foreach (Option option in new Option[] { _connectionsPerSource, _sessionsPerSource, _memoryPerSource, _packetsPerSource, _startDelay, _sessionDuration, _setupTimeout, _openLifetime, _openIdle, _ikeHalfOpenPerSource, _ikeCookieThreshold, _ikeSasPerIdentity })
        {
            command.Options.Add(option);
        }
    }

    /// <summary>Sets the limits on <paramref name="options"/>; returns an error message for a bad value.</summary>
    public string? ApplyTo(ParseResult parse, ServerOptions options)
    {
        if (!ServerCommand.TryParseSize(parse.GetValue(_memoryPerSource)!, out long memory))
        {
            return $"--max-memory-per-source '{parse.GetValue(_memoryPerSource)}' is not a size such as 64M.";
        }
        int? connections = parse.GetValue(_connectionsPerSource);
        long? packets = parse.GetValue(_packetsPerSource);
        int sessions = parse.GetValue(_sessionsPerSource);
        double startDelay = parse.GetValue(_startDelay), duration = parse.GetValue(_sessionDuration), setup = parse.GetValue(_setupTimeout), lifetime = parse.GetValue(_openLifetime), idle = parse.GetValue(_openIdle);
        if (connections is < 1 || packets is < 1 || sessions < 1 || startDelay < 0 || duration <= 0 || setup <= 0 || lifetime <= 0 || idle <= 0)
        {
            return "limits must be positive (--max-*-per-source, --max-session-duration, --setup-timeout, --open-lifetime, --open-idle-under-pressure) and --max-start-delay not negative.";
        }
        options.MaxConnectionsPerSource = connections;
        options.MaxSessionsPerSource = sessions;
        options.MaxMemoryPerSource = memory;
        options.MaxScheduledPacketsPerSource = packets;
        options.MaxStartDelay = TimeSpan.FromSeconds(startDelay);
        options.MaxSessionDuration = TimeSpan.FromSeconds(duration);
        options.SetupTimeout = TimeSpan.FromSeconds(setup);
        options.OpenModeLifetime = TimeSpan.FromSeconds(lifetime);
        options.OpenModeIdleUnderPressure = TimeSpan.FromSeconds(idle);
        return null;
    }

    public IkeResponderOptions ApplyTo(ParseResult parse, IkeResponderOptions options) => options with
    {
        MaxHalfOpenPerSource = Math.Max(1, parse.GetValue(_ikeHalfOpenPerSource)),
        CookieThreshold = Math.Max(0, parse.GetValue(_ikeCookieThreshold)),
        MaxSasPerIdentity = Math.Max(1, parse.GetValue(_ikeSasPerIdentity)),
    };
}
