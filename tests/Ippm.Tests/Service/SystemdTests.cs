using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Ippm.Tests.Cli;

namespace Ippm.Tests.Service;

/// <summary>The unit file in packaging/systemd verifies, and the server speaks sd_notify as <c>Type=notify</c> expects.</summary>
public sealed class SystemdTests
{
    private static string RepositoryFile(params string[] parts)
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "Ippm.slnx")))
        {
            dir = Path.GetDirectoryName(dir);
        }
        Assert.NotNull(dir);
        return Path.Combine([dir!, .. parts]);
    }

    [Fact]
    public async Task UnitFile_PassesSystemdAnalyzeVerify()
    {
        Assert.True(File.Exists("/usr/bin/systemd-analyze"), "systemd-analyze is required (.ci/run installs the systemd package)");
        string unit = File.ReadAllText(RepositoryFile("packaging", "systemd", "ippm-server.service"));
        Assert.Contains("Type=notify", unit, StringComparison.Ordinal);
        Assert.Contains("ExecStart=/usr/bin/ippm server --config /etc/ippm/server.conf", unit, StringComparison.Ordinal);
        // verify checks that ExecStart names an executable: point it at the ippm just built (the .deb installs /usr/bin/ippm).
        string apphost = Path.Combine(AppContext.BaseDirectory, "ippm");
        Assert.True(File.Exists(apphost), apphost);
        string dir = Directory.CreateTempSubdirectory("ippm-unit-").FullName;
        try
        {
            string copy = Path.Combine(dir, "ippm-server.service");
            File.WriteAllText(copy, unit.Replace("/usr/bin/ippm", apphost, StringComparison.Ordinal));
            using Process verify = Process.Start(new ProcessStartInfo("systemd-analyze", ["verify", "--man=no", copy])
            { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false })!;
            Task<string> stderr = verify.StandardError.ReadToEndAsync();
            Task<string> stdout = verify.StandardOutput.ReadToEndAsync();
            await verify.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));

            Assert.Equal("", (await stderr).Trim() + (await stdout).Trim());
            Assert.Equal(0, verify.ExitCode);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Server_NotifiesReadyReloadingAndStopping_AndStopsOnSigterm()
    {
        string dir = Directory.CreateTempSubdirectory("ippm-notify-").FullName;
        string socketPath = Path.Combine(dir, "notify");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(socketPath));
        ProcessStartInfo info = IppmProcess.StartInfo("server", "--twamp-listen", "127.0.0.1:0", "--stamp-listen", "127.0.0.1:0");
        info.Environment["NOTIFY_SOCKET"] = socketPath;
        using Process server = Process.Start(info)!;
        _ = server.StandardError.ReadToEndAsync();
        _ = server.StandardOutput.ReadToEndAsync();
        try
        {
            string ready = await ReceiveAsync(socket);
            // With port 0 the status names the ports the system chose; the TWAMP one answers with a Server-Greeting.
            Match listening = Regex.Match(ready, @"^STATUS=serving on TWAMP 127\.0\.0\.1:(\d+), STAMP 127\.0\.0\.1:(\d+)$", RegexOptions.Multiline);
            Assert.True(listening.Success, ready);
            using (var client = new TcpClient())
            {
                await client.ConnectAsync(IPAddress.Loopback, int.Parse(listening.Groups[1].Value, CultureInfo.InvariantCulture)).WaitAsync(TimeSpan.FromSeconds(30));
                byte[] greeting = new byte[64];
                await client.GetStream().ReadExactlyAsync(greeting).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
            }
            Signal("-HUP", server.Id);
            string reloading = await ReceiveAsync(socket);
            string readyAgain = await ReceiveAsync(socket);
            Signal("-TERM", server.Id);
            string stopping = await ReceiveAsync(socket);
            await server.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));

            Assert.StartsWith("READY=1\n", ready, StringComparison.Ordinal);
            Assert.Contains($"MAINPID={server.Id}", ready, StringComparison.Ordinal);
            Assert.StartsWith("RELOADING=1\nMONOTONIC_USEC=", reloading, StringComparison.Ordinal);
            Assert.StartsWith($"READY=1\nSTATUS=serving on TWAMP 127.0.0.1:{listening.Groups[1].Value}, STAMP 127.0.0.1:{listening.Groups[2].Value}; reloaded", readyAgain, StringComparison.Ordinal);
            Assert.Equal("STOPPING=1", stopping);
            Assert.Equal(0, server.ExitCode);
        }
        finally
        {
            if (!server.HasExited)
            {
                server.Kill(entireProcessTree: true);
            }
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task<string> ReceiveAsync(Socket socket)
    {
        byte[] buffer = new byte[4096];
        int n = await socket.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(30));
        return Encoding.UTF8.GetString(buffer, 0, n);
    }

    private static void Signal(string signal, int pid)
    {
        using Process kill = Process.Start("kill", [signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        kill.WaitForExit(5000);
        Assert.Equal(0, kill.ExitCode);
    }
}
