using System.Text.Json;

namespace Ippm.Tests.Cli;

/// <summary>
/// What an owping/twping user types by habit or by mistake: each gets owping's behaviour or a clear usage error,
/// before anything is measured.
/// </summary>
public sealed class ClientMistakesTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly string _directory = Directory.CreateTempSubdirectory("ippm-mistakes-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task IdentityWithoutKeyFile_AsksForThePassphrase_AsOwpingDoes()
    {
        string keys = Path.Combine(_directory, "keys.pfs");
        await File.WriteAllTextAsync(keys, "alice\t7465737470617373313233\n"); // testpass123
        using var server = new ServerProcess("server", "--twamp-listen", "127.0.0.1:0", "--pfs", keys, "--modes", "authenticated,encrypted");
        string target = $"127.0.0.1:{await server.TwampPortAsync(Timeout)}";

        // Not a terminal here, so the passphrase is the first line of standard input; -A defaults to the protected modes.
        var (exit, stdout, stderr) = await IppmProcess.RunWithInputAsync(Timeout, "testpass123\n", "twping", "-u", "alice", "-c", "5", "-i", "0.01f", "--json", target);
        Assert.True(exit == 0, stderr);
        using (JsonDocument json = JsonDocument.Parse(stdout))
        {
            Assert.NotEqual("open", json.RootElement.GetProperty("mode").GetString());
            Assert.Equal(0, json.RootElement.GetProperty("lost").GetInt32());
        }

        var wrong = await IppmProcess.RunWithInputAsync(Timeout, "not the passphrase\n", "twping", "-u", "alice", "-c", "5", target);
        Assert.Equal(2, wrong.ExitCode);

        // -A O asks for open mode only: no passphrase is read (the server here offers none, hence the refusal).
        var openOnly = await IppmProcess.RunWithInputAsync(Timeout, "", "twping", "-u", "alice", "-A", "O", "-c", "5", target);
        Assert.Equal(2, openOnly.ExitCode);
        Assert.DoesNotContain("without -k", openOnly.Stderr, StringComparison.Ordinal);

        var none = await IppmProcess.RunWithInputAsync(Timeout, "", "twping", "-u", "alice", "-c", "5", target);
        Assert.Equal(1, none.ExitCode);
        Assert.Contains("-u alice without -k: empty passphrase", none.Stderr, StringComparison.Ordinal);
        Assert.Empty(none.Stdout);
    }

    [Fact]
    public async Task SaveFileThatCannotBeWritten_FailsBeforeConnecting()
    {
        // Nothing listens on the port: without the early check this would be "cannot reach" (exit 3) after connecting.
        (System.Net.Sockets.Socket holder, int port) = IppmProcess.ClosedTcpPort();
        using var holderScope = holder;
        var (exit, stdout, stderr) = await IppmProcess.RunAsync(Timeout, "owping", "-F", "/proc/ippm-cannot-be-created.owp", "-c", "1", $"127.0.0.1:{port}");
        Assert.Equal(1, exit);
        Assert.Contains("cannot save in /proc/ippm-cannot-be-created.owp", stderr, StringComparison.Ordinal);
        Assert.Empty(stdout);

        // A writable one is created only by the measurement: the check leaves no file behind.
        string fine = Path.Combine(_directory, "from.owp");
        var unreachable = await IppmProcess.RunAsync(Timeout, "owping", "-F", fine, "-c", "1", $"127.0.0.1:{port}");
        Assert.Equal(3, unreachable.ExitCode);
        Assert.False(File.Exists(fine));
    }

    [Fact]
    public async Task SourceAddressNotOfThisHost_IsAUsageErrorNamingS()
    {
        (System.Net.Sockets.Socket holder, int port) = IppmProcess.ClosedTcpPort();
        using var holderScope = holder;
        var (exit, stdout, stderr) = await IppmProcess.RunAsync(Timeout, "twping", "-S", "192.0.2.1", "-c", "1", $"127.0.0.1:{port}");
        Assert.Equal(1, exit);
        Assert.Contains("cannot send from the -S address", stderr, StringComparison.Ordinal);
        Assert.Empty(stdout);
    }

    [Fact]
    public async Task KeyFileWithoutIdentities_SaysSo()
    {
        string empty = Path.Combine(_directory, "empty.pfs");
        await File.WriteAllTextAsync(empty, "# nothing here yet\n");
        var (exit, _, stderr) = await IppmProcess.RunAsync(Timeout, "twping", "-A", "A", "-k", empty, "-c", "1", "127.0.0.1:1");
        Assert.Equal(1, exit);
        Assert.Contains("holds no identities", stderr, StringComparison.Ordinal);
    }
}
