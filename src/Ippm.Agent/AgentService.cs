using Ippm.Policy;
using Ippm.Service;
using Microsoft.Extensions.Logging;

namespace Ippm.Agent;

/// <summary>
/// <c>ippm agent</c> as a service, in <c>ServiceHost</c>'s manner: sd_notify READY/RELOADING/STOPPING, SIGHUP re-reads
/// the configuration file (a file that does not parse, or names a key file that cannot be read, is refused with its
/// file:line and the running tests are left exactly as they were), SIGTERM/SIGINT stop gracefully: running sessions are
/// interrupted, report what they measured and are archived as <c>interrupted</c>.
/// </summary>
public sealed partial class AgentService
{
    private readonly MeasurementAgent _agent;
    private readonly string _configPath;
    private readonly ILogger _logger;
    private readonly SystemdNotifier _systemd = new();
    private readonly SemaphoreSlim _reloading = new(1, 1);

    public AgentService(MeasurementAgent agent, string configPath, ILogger logger)
    {
        _agent = agent;
        _configPath = configPath;
        _logger = logger;
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        await ServiceSignals.RunUntilStoppedAsync(
            () =>
            {
                _agent.Start();
                _systemd.Ready($"measuring {_agent.Tests.Count} tests");
                Log.Ready(_logger, Environment.ProcessId);
            },
            ReloadAsync,
            cancellationToken).ConfigureAwait(false);
        _systemd.Stopping();
        Log.Stopping(_logger);
        await _agent.StopAsync().ConfigureAwait(false);
    }

    /// <summary>One reload, serialised with any other; true when the new configuration is in force.</summary>
    public async Task<bool> ReloadAsync()
    {
        await _reloading.WaitAsync().ConfigureAwait(false);
        try
        {
            _systemd.Reloading();
            AgentConfig fresh;
            try
            {
                fresh = AgentConfigFile.Load(_configPath);
            }
            catch (Exception e) when (e is PolicyFormatException or IOException or UnauthorizedAccessException)
            {
                Log.ReloadFailed(_logger, e.Message);
                _systemd.Ready("measuring; last reload failed: " + e.Message);
                return false;
            }
            await _agent.ApplyAsync(fresh).ConfigureAwait(false);
            _systemd.Ready($"measuring {_agent.Tests.Count} tests; reloaded");
            return true;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
        finally
        {
            _reloading.Release();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1330, Level = LogLevel.Information, Message = "ready (pid {Pid}); SIGHUP reloads the test list, SIGTERM stops")]
        public static partial void Ready(ILogger logger, int pid);

        [LoggerMessage(EventId = 1331, Level = LogLevel.Error, Message = "reload failed, the running tests are unchanged: {Reason}")]
        public static partial void ReloadFailed(ILogger logger, string reason);

        [LoggerMessage(EventId = 1332, Level = LogLevel.Information, Message = "stopping: interrupting running sessions and archiving them")]
        public static partial void Stopping(ILogger logger);
    }
}
