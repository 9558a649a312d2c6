using Ippm.Sessions.Server;
using Ippm.Sessions.Telemetry;
using Microsoft.Extensions.Logging;

namespace Ippm.Service;

/// <summary>
/// The service side of a running <c>ippm server</c>: tells systemd when it is ready, reloading and stopping, and re-reads
/// configuration, keys and limits on SIGHUP. A reload builds a complete new set first and only then swaps it in, so a
/// file that does not parse leaves the running configuration as it was (logged, counted as a failed reload). Control
/// connections keep the policy and keys they opened with; listeners, test ports and the data directory need a restart.
/// </summary>
public sealed partial class ServiceHost
{
    private static readonly TimeSpan s_oldKeysGrace = TimeSpan.FromSeconds(60);

    private readonly ServerOptions _live;
    private readonly ILogger _logger;
    private readonly Func<(ServerOptions? Fresh, string? Error)> _rebuild;
    private readonly SystemdNotifier _systemd = new();
    private readonly SemaphoreSlim _reloading = new(1, 1);

    /// <param name="rebuild">Reads every file again and builds new options, or says why it cannot.</param>
    public ServiceHost(ServerOptions live, ILogger logger, Func<(ServerOptions? Fresh, string? Error)> rebuild)
    {
        _live = live;
        _logger = logger;
        _rebuild = rebuild;
    }

    /// <summary>
    /// What the server listens on (bound addresses, so a port 0 shows the port chosen), added to the status systemd shows;
    /// null says nothing more than "serving".
    /// </summary>
    public string? Listening { get; set; }

    private string Serving => Listening is null ? "serving" : $"serving on {Listening}";

    /// <summary>Runs until <paramref name="cancellationToken"/> is cancelled or SIGTERM/SIGINT arrives (graceful stop).</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        await ServiceSignals.RunUntilStoppedAsync(
            () =>
            {
                _systemd.Ready(Serving);
                Log.Ready(_logger, Environment.ProcessId);
            },
            () =>
            {
                Reload();
                return Task.CompletedTask;
            },
            cancellationToken).ConfigureAwait(false);
        _systemd.Stopping();
        Log.Stopping(_logger);
    }

    /// <summary>One reload, serialised with any other; true when the new configuration is in force.</summary>
    public bool Reload()
    {
        _reloading.Wait();
        try
        {
            _systemd.Reloading();
            (ServerOptions? Fresh, string? Error) result;
            try
            {
                result = _rebuild();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                result = (null, e.Message);
            }
            if (result.Fresh is null)
            {
                Log.ReloadFailed(_logger, result.Error ?? "unknown error");
                ServerMetrics.Reload("failed");
                _systemd.Ready(Serving + "; last reload failed: " + result.Error);
                return false;
            }
            Apply(result.Fresh);
            ServerMetrics.Reload("ok");
            _systemd.Ready(Serving + "; reloaded");
            return true;
        }
        finally
        {
            _reloading.Release();
        }
    }

    private void Apply(ServerOptions fresh)
    {
        var oldKeys = _live.Keys;
        _live.Keys = fresh.Keys;
        _live.OwampPolicy = fresh.OwampPolicy;
        _live.TwampPolicy = fresh.TwampPolicy;
        _live.Modes = fresh.Modes;
        _live.Pbkdf2Count = fresh.Pbkdf2Count;
        _live.MaxConnections = fresh.MaxConnections;
        _live.MaxSessionsPerConnection = fresh.MaxSessionsPerConnection;
        _live.MaxPacketsPerSession = fresh.MaxPacketsPerSession;
        _live.ServWait = fresh.ServWait;
        _live.RefWait = fresh.RefWait;
        _live.AllowThirdPartyTestAddresses = fresh.AllowThirdPartyTestAddresses;
        NeedsRestart("test-ports", _live.TestPorts?.ToString(), fresh.TestPorts?.ToString());
        NeedsRestart("data-dir", _live.DataDirectory, fresh.DataDirectory);
        NeedsRestart("data-limit", _live.DataDirectoryLimitBytes.ToString(System.Globalization.CultureInfo.InvariantCulture), fresh.DataDirectoryLimitBytes.ToString(System.Globalization.CultureInfo.InvariantCulture));
        NeedsRestart("max-scheduled-packets", _live.MaxScheduledPackets.ToString(System.Globalization.CultureInfo.InvariantCulture), fresh.MaxScheduledPackets.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Log.Reloaded(_logger, _live.OwampPolicy.Source, _live.TwampPolicy.Source, _live.Keys?.Identities.Count ?? 0);
        if (oldKeys is not null && !ReferenceEquals(oldKeys, fresh.Keys))
        {
            // A handshake that started a moment ago may still read the old passphrases; zero them a little later.
            _ = Task.Delay(s_oldKeysGrace, CancellationToken.None).ContinueWith(_ => oldKeys.Dispose(), TaskScheduler.Default);
        }
    }

    private void NeedsRestart(string key, string? running, string? configured)
    {
        if (!string.Equals(running, configured, StringComparison.Ordinal))
        {
            Log.NeedsRestart(_logger, key, running ?? "-", configured ?? "-");
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 600, Level = LogLevel.Information, Message = "ready (pid {Pid}); SIGHUP reloads configuration, keys and limits")]
        public static partial void Ready(ILogger logger, int pid);

        [LoggerMessage(EventId = 601, Level = LogLevel.Information, Message = "reloaded: OWAMP limits {Owamp}, TWAMP limits {Twamp}, {Identities} key identities; open connections keep the policy they started with")]
        public static partial void Reloaded(ILogger logger, string owamp, string twamp, int identities);

        [LoggerMessage(EventId = 602, Level = LogLevel.Error, Message = "reload failed, the running configuration is unchanged: {Reason}")]
        public static partial void ReloadFailed(ILogger logger, string reason);

        [LoggerMessage(EventId = 603, Level = LogLevel.Warning, Message = "reload: {Key} changed from {Running} to {Configured}; it takes effect at the next restart")]
        public static partial void NeedsRestart(ILogger logger, string key, string running, string configured);

        [LoggerMessage(EventId = 604, Level = LogLevel.Information, Message = "stopping")]
        public static partial void Stopping(ILogger logger);
    }
}
