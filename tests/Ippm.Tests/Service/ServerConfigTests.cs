using Ippm.Policy;
using Ippm.Service;
using Ippm.Tests.Cli;

namespace Ippm.Tests.Service;

/// <summary><c>ippm server --config FILE</c>: ippm's own key = value format, checked against the server's flags.</summary>
public sealed class ServerConfigTests
{
    [Fact]
    public void Parse_KeysValuesCommentsAndContinuations()
    {
        List<ConfigEntry> entries = ServerConfigFile.Parse("# ippm\ntwamp-listen = 127.0.0.1:862\n\nmodes = open,\\\n  authenticated\nallow-third-party = true\n", "ippm.conf");

        Assert.Equal(["twamp-listen", "modes", "allow-third-party"], entries.Select(e => e.Key));
        Assert.Equal("open,authenticated", entries[1].Value!.Replace(" ", "", StringComparison.Ordinal));
        Assert.Equal(4, entries[1].Line);
    }

    [Theory]
    [InlineData("twamp-listen 127.0.0.1:862", 1, "expected 'key = value'")]
    [InlineData("modes = open\nmodes = encrypted", 2, "already set on line 1")]
    [InlineData("--modes = open", 1, "a flag without '--'")]
    [InlineData("modes =", 1, "expected a value")]
    public void Parse_BadLines_NameFileAndLine(string text, int line, string expected)
    {
        PolicyFormatException e = Assert.Throws<PolicyFormatException>(() => ServerConfigFile.Parse(text, "ippm.conf"));

        Assert.StartsWith($"ippm.conf:{line}: ", e.Message, StringComparison.Ordinal);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownKey_StopsStartUp_WithFileAndLine()
    {
        string file = Path.GetTempFileName();
        File.WriteAllText(file, "twamp-listen = 127.0.0.1:0\n# comment\nmax-sesions = 4\n");
        try
        {
            (int exit, _, string stderr) = await IppmProcess.RunAsync(TimeSpan.FromSeconds(30), "server", "--config", file);

            Assert.NotEqual(0, exit);
            Assert.Contains($"{file}:3: unknown key 'max-sesions'", stderr, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task BadValue_InFile_NamesFileAndLine()
    {
        string file = Path.GetTempFileName();
        File.WriteAllText(file, "twamp-listen = 127.0.0.1:0\nmax-sessions = many\n");
        try
        {
            (int exit, _, string stderr) = await IppmProcess.RunAsync(TimeSpan.FromSeconds(30), "server", "--config", file);

            Assert.NotEqual(0, exit);
            Assert.Contains($"{file}:2: max-sessions:", stderr, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task FlagsOverrideTheFile()
    {
        // Both addresses bindable (port 0): which one the server listens on tells which setting won.
        string file = Path.GetTempFileName();
        File.WriteAllText(file, "twamp-listen = 127.0.0.2:0\nmodes = open\n");
        try
        {
            using var server = new ServerProcess("server", "--config", file, "--twamp-listen", "127.0.0.1:0");
            await server.WaitForLogAsync("ready (pid", TimeSpan.FromSeconds(30));

            int flagPort = await server.TwampPortAsync(TimeSpan.FromSeconds(30));
            Assert.Contains($"TWAMP control listening on 127.0.0.1:{flagPort}", server.Log, StringComparison.Ordinal);
            Assert.DoesNotContain("127.0.0.2", server.Log, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
