using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Ippm.Security;

namespace Ippm.Cli;

/// <summary>
/// An <c>ippm server</c> with default flags in its own process (so its CPU time is its own), on a free loopback
/// port, with a throwaway key for -A A/E; pinned to core 0 when asked (the reflector bench, whose load runs on core 1).
/// </summary>
internal sealed class BenchServerChild : IDisposable
{
    private readonly Process _process;
    private readonly string _keyFile;

    private BenchServerChild(Process process, string keyFile, IPEndPoint endPoint)
    {
        _process = process;
        _keyFile = keyFile;
        EndPoint = endPoint;
    }

    public IPEndPoint EndPoint { get; }

    public int Pid => _process.Id;

    /// <summary>
    /// A key file in the temporary directory under a random name, created exclusively (never through a file or link
    /// someone else put there) and 0600 before the key is written: no moment where another user could read it.
    /// </summary>
    public static async Task<string> WritePrivateKeyFileAsync(string stem, string extension, string line, CancellationToken cancellationToken)
    {
        string keyFile = Path.Combine(Path.GetTempPath(), $"{stem}-{Environment.ProcessId}-{Path.GetRandomFileName()}{extension}");
        var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        var stream = new FileStream(keyFile, create);
        await using (stream.ConfigureAwait(false))
        {
            await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(line + "\n"), cancellationToken).ConfigureAwait(false);
        }
        return keyFile;
    }

    public static async Task<BenchServerChild> StartAsync(byte[] passphrase, CancellationToken cancellationToken) =>
        await StartAsync(passphrase, pinToCore0: true, cancellationToken).ConfigureAwait(false);

    public static async Task<BenchServerChild> StartAsync(byte[] passphrase, bool pinToCore0, CancellationToken cancellationToken)
    {
        string keyFile = await WritePrivateKeyFileAsync("ippm-bench", ".pfs", KeyFile.FormatLine("bench", passphrase), cancellationToken).ConfigureAwait(false);
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        var info = SelfStartInfo();
        foreach (string arg in new[] { "server", "--twamp-listen", $"127.0.0.1:{port}", "--pfs", keyFile, "--log-level", "Warning" })
        {
            info.ArgumentList.Add(arg);
        }
        info.RedirectStandardError = true;
        info.RedirectStandardOutput = true;
        Process process;
        try
        {
            process = Process.Start(info) ?? throw new IOException("cannot start the ippm server");
        }
        catch
        {
            File.Delete(keyFile);
            throw;
        }
        process.ErrorDataReceived += (_, _) => { };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        var server = new BenchServerChild(process, keyFile, new IPEndPoint(IPAddress.Loopback, port));
        if (pinToCore0)
        {
            BenchCommand.PinToCore(process, 0);
        }
        for (int attempt = 0; attempt < 150 && !process.HasExited; attempt++)
        {
            try
            {
                using var tcp = new TcpClient();
                await tcp.ConnectAsync(server.EndPoint, cancellationToken).ConfigureAwait(false);
                return server;
            }
            catch (SocketException)
            {
                await Task.Delay(100, cancellationToken).ConfigureAwait(false);
            }
        }
        server.Dispose();
        throw new IOException("the ippm server did not start listening");
    }

    /// <summary>User plus system CPU time of the server process (Linux /proc).</summary>
    public TimeSpan? CpuTime()
    {
        try
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    internal static ProcessStartInfo SelfStartInfo()
    {
        string path = Environment.ProcessPath!;
        if (Path.GetFileNameWithoutExtension(path).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            var info = new ProcessStartInfo(path) { UseShellExecute = false };
            info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "ippm.dll"));
            return info;
        }
        return new ProcessStartInfo(path) { UseShellExecute = false };
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        _process.Dispose();
        File.Delete(_keyFile);
    }
}
