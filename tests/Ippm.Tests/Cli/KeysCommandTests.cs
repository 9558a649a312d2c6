using System.Text;
using Ippm.Security;

namespace Ippm.Tests.Cli;

/// <summary><c>ippm keys add</c> against perfSONAR's pfstore format and ippm's own KeyFile reader.</summary>
public sealed class KeysCommandTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly string _directory = Directory.CreateTempSubdirectory("ippm-keys-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static UnixFileMode ModeOf(string path) =>
        OperatingSystem.IsWindows() ? throw new PlatformNotSupportedException("ippm's key files are POSIX files") : File.GetUnixFileMode(path);

    [Fact]
    public async Task Add_WritesPfstoresLine_Mode0600_ReadableByKeyFile()
    {
        string path = Path.Combine(_directory, "new.pfs");

        var (exit, stdout, stderr) = await IppmProcess.RunWithInputAsync(Timeout, "testpass123\n", "keys", "add", "-f", path, "alice");

        Assert.True(exit == 0, stderr);
        Assert.Empty(stdout);
        // I2WritePFLine: "%s\t%s\n" with the passphrase's octets in hex; "testpass123" is 74 65 73 74 70 61 73 73 31 32 33.
        Assert.Equal("alice\t7465737470617373313233\n"u8.ToArray(), await File.ReadAllBytesAsync(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, ModeOf(path));
        using KeyFile keys = KeyFile.Load(path);
        Assert.True(keys.TryGetSecret("alice", out ReadOnlySpan<byte> secret));
        Assert.Equal("testpass123"u8.ToArray(), secret.ToArray());
        Assert.DoesNotContain("testpass123", stderr, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(_directory, "*.tmp"));
    }

    [Fact]
    public async Task Add_ReplacesAnExistingIdentity_KeepsOtherLinesAndComments()
    {
        string path = Path.Combine(_directory, "keys.pfs");
        await File.WriteAllTextAsync(path, "# perfSONAR pfs\nbob\t626f62\nalice\t6f6c64\ncarol 6361726f6c\n");

        var (exit, _, stderr) = await IppmProcess.RunWithInputAsync(Timeout, "new pass\n", "keys", "add", "-f", path, "alice");

        Assert.True(exit == 0, stderr);
        Assert.Equal("# perfSONAR pfs\nbob\t626f62\nalice\t6e65772070617373\ncarol 6361726f6c\n", await File.ReadAllTextAsync(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, ModeOf(path));
        using KeyFile keys = KeyFile.Load(path);
        Assert.True(keys.TryGetSecret("alice", out ReadOnlySpan<byte> alice));
        Assert.Equal(Encoding.UTF8.GetBytes("new pass"), alice.ToArray());
        Assert.True(keys.TryGetSecret("bob", out ReadOnlySpan<byte> bob));
        Assert.Equal("bob"u8.ToArray(), bob.ToArray());
    }

    [Fact]
    public async Task Add_GeneratedFile_KeysARealMeasurement()
    {
        string path = Path.Combine(_directory, "made.pfs");
        var (added, _, addError) = await IppmProcess.RunWithInputAsync(Timeout, "correct horse\n", "keys", "add", "-f", path, "alice");
        Assert.True(added == 0, addError);
        using var server = new ServerProcess("server", "--twamp-listen", "127.0.0.1:0", "--pfs", path);
        int port = await server.TwampPortAsync(Timeout);

        var (exit, stdout, stderr) = await IppmProcess.RunAsync(Timeout, "twping", "-A", "E", "-k", path, "-c", "5", "-i", "0.01", $"127.0.0.1:{port}");

        Assert.True(exit == 0, stderr);
        Assert.Contains("mode:\tencrypted, key from passphrase", stdout, StringComparison.Ordinal);
        Assert.Contains("5 sent, 0 lost", stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "alice", "empty passphrase")]
    [InlineData("secret\n", "has space", "no whitespace")]
    public async Task Add_BadInput_ExitsOne_WritesNothing(string input, string identity, string message)
    {
        string path = Path.Combine(_directory, "none.pfs");

        var (exit, _, stderr) = await IppmProcess.RunWithInputAsync(Timeout, input, "keys", "add", "-f", path, identity);

        Assert.Equal(1, exit);
        Assert.Contains(message, stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(path));
    }

    [Fact]
    public async Task BenchKeyFile_Mode0600_RandomName_NeverReusesAnExistingFile()
    {
        string first = await Ippm.Cli.BenchServerChild.WritePrivateKeyFileAsync("ippm-test-key", ".pfs", "bench\t6b6579", CancellationToken.None);
        string second = await Ippm.Cli.BenchServerChild.WritePrivateKeyFileAsync("ippm-test-key", ".pfs", "bench\t6b6579", CancellationToken.None);
        try
        {
            Assert.NotEqual(first, second);
            Assert.StartsWith(Path.GetTempPath(), first, StringComparison.Ordinal);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, ModeOf(first));
            Assert.Equal("bench\t6b6579\n", await File.ReadAllTextAsync(first));
            using KeyFile keys = KeyFile.Load(first);
            Assert.True(keys.TryGetSecret("bench", out ReadOnlySpan<byte> secret));
            Assert.Equal("key"u8.ToArray(), secret.ToArray());
        }
        finally
        {
            File.Delete(first);
            File.Delete(second);
        }
    }
}
