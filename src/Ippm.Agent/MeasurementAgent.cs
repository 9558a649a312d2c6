using System.Security.Cryptography;
using Microsoft.Extensions.Logging;

namespace Ippm.Agent;

/// <summary>
/// The set of running tests. Each test has its own runner, so one test's target can refuse, hang or answer garbage
/// without the others noticing. <see cref="ApplyAsync"/> swaps in a new configuration test by test: added tests start,
/// removed ones stop (their running session archived as interrupted), changed ones restart, and tests whose settings
/// and key file are unchanged keep running undisturbed. The archive's place and rotation are fixed at start.
/// </summary>
public sealed partial class MeasurementAgent : IAsyncDisposable
{
    private readonly ILoggerFactory _logs;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly AgentArchive _archive;
    private readonly Dictionary<string, TestRunner> _runners = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _changing = new(1, 1);
    private AgentConfig _config;
    private bool _stopped;

    public MeasurementAgent(AgentConfig config, ILoggerFactory logs, TimeProvider? time = null)
    {
        _config = config;
        _logs = logs;
        _logger = logs.CreateLogger("Ippm.Agent");
        _time = time ?? TimeProvider.System;
        _archive = new AgentArchive(config.Archive, _logger, _time);
    }

    /// <summary>Names of the tests running now.</summary>
    public IReadOnlyCollection<string> Tests
    {
        get
        {
            lock (_runners)
            {
                return _runners.Keys.ToArray();
            }
        }
    }

    /// <summary>Attempts (archived lines) of a running test so far; 0 when it is not running.</summary>
    public long Attempts(string test)
    {
        lock (_runners)
        {
            return _runners.TryGetValue(test, out TestRunner? r) ? r.Attempts : 0;
        }
    }

    public void Start()
    {
        foreach (AgentTest test in _config.Tests)
        {
            StartRunner(test);
        }
        Log.Started(_logger, _config.Tests.Count, _config.Archive.Path);
    }

    /// <summary>Applies a new configuration (already parsed and checked); returns how many tests started, stopped and kept.</summary>
    public async Task<(int Started, int Stopped, int Kept)> ApplyAsync(AgentConfig fresh)
    {
        await _changing.WaitAsync().ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_stopped, this);
            if (fresh.Archive != _config.Archive)
            {
                Log.ArchiveNeedsRestart(_logger, _config.Archive.Path);
            }
            var freshByName = fresh.Tests.ToDictionary(t => t.Name, StringComparer.Ordinal);
            List<TestRunner> stopping;
            lock (_runners)
            {
                stopping = _runners.Values
                    .Where(r => !freshByName.TryGetValue(r.Test.Name, out AgentTest? t) || t.Fingerprint != r.Test.Fingerprint)
                    .ToList();
                foreach (TestRunner r in stopping)
                {
                    _runners.Remove(r.Test.Name);
                }
            }
            await Task.WhenAll(stopping.Select(r => r.StopAsync())).ConfigureAwait(false);
            foreach (TestRunner r in stopping)
            {
                if (!freshByName.ContainsKey(r.Test.Name))
                {
                    AgentMetrics.Forget(r.Test.Name);
                }
            }
            int started = 0, kept = 0;
            foreach (AgentTest test in fresh.Tests)
            {
                bool running;
                lock (_runners)
                {
                    running = _runners.ContainsKey(test.Name);
                }
                if (running)
                {
                    // The running copy keeps its own key; this one is not needed.
                    CryptographicOperations.ZeroMemory(test.Secret);
                    CryptographicOperations.ZeroMemory(test.IkePsk);
                    kept++;
                }
                else
                {
                    StartRunner(test);
                    started++;
                }
            }
            // Retry settings apply to every runner from its next failure; the archive keeps its start-up settings.
            _config = fresh with { Archive = _config.Archive };
            int stoppedCount = stopping.Count(r => !freshByName.ContainsKey(r.Test.Name));
            Log.Applied(_logger, started, stoppedCount, kept);
            return (started, stoppedCount, kept);
        }
        finally
        {
            _changing.Release();
        }
    }

    private void StartRunner(AgentTest test)
    {
        var runner = new TestRunner(test, _archive, () => (_config.RetryInitial, _config.RetryMax), _logs.CreateLogger("Ippm.Agent.Test"), _time);
        lock (_runners)
        {
            _runners.Add(test.Name, runner);
        }
        runner.Start();
    }

    /// <summary>Stops every test (running sessions archived as interrupted) and closes the archive.</summary>
    public async Task StopAsync()
    {
        await _changing.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_stopped)
            {
                return;
            }
            _stopped = true;
            TestRunner[] all;
            lock (_runners)
            {
                all = _runners.Values.ToArray();
                _runners.Clear();
            }
            await Task.WhenAll(all.Select(r => r.StopAsync())).ConfigureAwait(false);
            _archive.Dispose();
            Log.Stopped(_logger, all.Length, all.Sum(r => r.Attempts));
        }
        finally
        {
            _changing.Release();
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    private static partial class Log
    {
        [LoggerMessage(EventId = 1320, Level = LogLevel.Information, Message = "measuring: {Tests} tests, archive {Archive}")]
        public static partial void Started(ILogger logger, int tests, string archive);

        [LoggerMessage(EventId = 1321, Level = LogLevel.Information, Message = "configuration applied: {Started} tests started, {Stopped} stopped, {Kept} unchanged and still running")]
        public static partial void Applied(ILogger logger, int started, int stopped, int kept);

        [LoggerMessage(EventId = 1322, Level = LogLevel.Warning, Message = "reload: the archive settings changed; {Path} and its rotation stay as they are until the next restart")]
        public static partial void ArchiveNeedsRestart(ILogger logger, string path);

        [LoggerMessage(EventId = 1323, Level = LogLevel.Information, Message = "stopped: {Tests} tests, {Attempts} sessions and attempts archived since they started")]
        public static partial void Stopped(ILogger logger, int tests, long attempts);
    }
}
