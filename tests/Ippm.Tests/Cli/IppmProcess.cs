using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace Ippm.Tests.Cli;

/// <summary>Runs the built <c>ippm</c> executable as a separate process, as a user would.</summary>
internal static class IppmProcess
{
    public static string DllPath => Path.Combine(AppContext.BaseDirectory, "ippm.dll");

    private const string EnvPath = "/usr/bin/env";

    public static ProcessStartInfo StartInfo(params string[] args)
    {
        var info = new ProcessStartInfo(File.Exists(EnvPath) ? EnvPath : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (File.Exists(EnvPath))
        {
            // A runner started with signals ignored (SIGINT/SIGQUIT for a background job of a shell without job
            // control, SIGHUP under nohup) passes that on, and .NET then leaves them ignored, as shells expect: the
            // signal, reload and systemd tests would see nothing. env (coreutils >= 8.31) resets every signal to its
            // default, then execs dotnet with the same process id.
            info.ArgumentList.Add("--default-signal");
            info.ArgumentList.Add("dotnet");
        }
        info.ArgumentList.Add(DllPath);
        foreach (string arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        return info;
    }

    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(TimeSpan timeout, params string[] args)
    {
        using Process process = Process.Start(StartInfo(args))!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"ippm {string.Join(' ', args)} did not finish within {timeout}.");
        }
        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Runs ippm with <paramref name="input"/> on its standard input (then closed).</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunWithInputAsync(TimeSpan timeout, string input, params string[] args)
    {
        ProcessStartInfo info = StartInfo(args);
        info.RedirectStandardInput = true;
        using Process process = Process.Start(info)!;
        await process.StandardInput.WriteAsync(input);
        process.StandardInput.Close();
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"ippm {string.Join(' ', args)} did not finish within {timeout}.");
        }
        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Sends a POSIX signal (INT, TERM) to a process, as Ctrl+C or systemd would.</summary>
    public static void Signal(int pid, string signal)
    {
        using Process kill = Process.Start(new ProcessStartInfo("kill", $"-{signal} {pid}") { UseShellExecute = false })!;
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>
    /// A port that was free a moment ago. Only for a port that must be known before the process that binds it starts
    /// (a third-party program's own listener, a config file given to another process); the caller says why. Anything
    /// ippm listens on is given port 0 and read back with <see cref="ServerProcess.TwampPortAsync"/> and its siblings.
    /// </summary>
    public static int FreeTcpPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>
    /// A TCP port on 127.0.0.1 that refuses connections for as long as the returned socket lives: bound, never listening,
    /// so nothing else can take it (unlike a port picked and released).
    /// </summary>
    public static (Socket Holder, int Port) ClosedTcpPort()
    {
        var holder = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        holder.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return (holder, ((IPEndPoint)holder.LocalEndPoint!).Port);
    }
}

/// <summary>A running <c>ippm</c> process (a server, or a long client run to signal); disposed by killing it.</summary>
internal sealed class ServerProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    public ServerProcess(params string[] args)
    {
        _process = Process.Start(IppmProcess.StartInfo(args))!;
        _process.ErrorDataReceived += (_, e) => { lock (_log) { _log.AppendLine(e.Data); _stderr.AppendLine(e.Data); } };
        _process.OutputDataReceived += (_, e) => { lock (_log) { _log.AppendLine(e.Data); _stdout.AppendLine(e.Data); } };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
    }

    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    public int Pid => _process.Id;

    public int Id => _process.Id;

    /// <summary>Standard output and error as they arrive, separately (the log above has both).</summary>
    public string Stdout
    {
        get
        {
            lock (_log)
            {
                return _stdout.ToString();
            }
        }
    }

    public string Stderr
    {
        get
        {
            lock (_log)
            {
                return _stderr.ToString();
            }
        }
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    /// <summary>
    /// Waits for a line that names a listener's bound address and returns its port, so a server given port 0 is found
    /// where the system put it: <paramref name="before"/> is a regular expression for the text before <c>ADDR:PORT</c>,
    /// matching either the log line (<c>TWAMP control listening on 127.0.0.1:PORT</c>) or the summary
    /// <c>ippm server</c> prints on standard output, whatever the log level (<c>ippm: listening on TWAMP 127.0.0.1:PORT, …</c>).
    /// </summary>
    private async Task<int> WaitForPortAsync(string before, TimeSpan timeout)
    {
        var pattern = new Regex(before + @"(?:\[[0-9A-Fa-f:.]+\]|[0-9.]+|\+):(?<port>\d+)", RegexOptions.CultureInvariant);
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            Match match = pattern.Match(Log);
            if (match.Success)
            {
                return int.Parse(match.Groups["port"].Value, CultureInfo.InvariantCulture);
            }
            if (DateTime.UtcNow > deadline || _process.HasExited)
            {
                throw new TimeoutException($"no '{before}ADDR:PORT' in the log. Log so far:\n{Log}");
            }
            await Task.Delay(50);
        }
    }

    /// <summary>The bound TWAMP-Control port of an <c>ippm server</c> started with <c>--twamp-listen ADDR:0</c>.</summary>
    public Task<int> TwampPortAsync(TimeSpan timeout) => WaitForPortAsync(@"\bTWAMP (?:control listening on )?", timeout);

    /// <summary>The bound OWAMP-Control port of an <c>ippm server</c> started with <c>--owamp-listen ADDR:0</c>.</summary>
    public Task<int> OwampPortAsync(TimeSpan timeout) => WaitForPortAsync(@"\bOWAMP (?:control listening on )?", timeout);

    /// <summary>The bound IKEv2 port of an <c>ippm server --ike-listen ADDR:0</c> or an <c>ippm ike respond --listen ADDR:0</c>.</summary>
    public Task<int> IkePortAsync(TimeSpan timeout) => WaitForPortAsync(@"\bIKE(?:v2)?(?: responder listening on)? ", timeout);

    /// <summary>The bound STAMP reflector port of an <c>ippm server</c> started with <c>--stamp-listen ADDR:0</c>.</summary>
    public Task<int> StampPortAsync(TimeSpan timeout) => WaitForPortAsync(@"\bSTAMP (?:/ TWAMP-Light reflector listening on )?", timeout);

    /// <summary>The bound metrics port of an <c>ippm server</c> or <c>ippm agent</c> started with <c>--metrics-listen ADDR:0</c>.</summary>
    public Task<int> MetricsPortAsync(TimeSpan timeout) => WaitForPortAsync(@"\bmetrics (?:at http://)?", timeout);

    public async Task WaitForLogAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!Log.Contains(text, StringComparison.Ordinal))
        {
            if (DateTime.UtcNow > deadline || _process.HasExited)
            {
                throw new TimeoutException($"server did not log '{text}'. Log so far:\n{Log}");
            }
            await Task.Delay(50);
        }
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }
        _process.Dispose();
    }
}
