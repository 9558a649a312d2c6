using Ippm.Tests.Cli;

namespace Ippm.Tests.Engine;

/// <summary><c>ippm server --coalesce-us</c> from the executable: out-of-range values refused, a window accepted and served with.</summary>
public sealed class CoalesceOptionCliTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("-1")]
    [InlineData("100001")]
    public async Task OutOfRange_IsAUsageError_NamingTheOption(string value)
    {
        var (exit, _, stderr) = await IppmProcess.RunAsync(Timeout, "server", "--twamp-listen", $"127.0.0.1:{IppmProcess.FreeTcpPort()}", "--coalesce-us", value);
        Assert.Equal(1, exit);
        Assert.Contains("--coalesce-us", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Window_ServerAnswersEveryPacket()
    {
        int port = IppmProcess.FreeTcpPort();
        using var server = new ServerProcess("server", "--twamp-listen", $"127.0.0.1:{port}", "--coalesce-us", "500");
        await server.WaitForLogAsync("listening", Timeout);
        var (exit, stdout, stderr) = await IppmProcess.RunAsync(Timeout, "twping", "-c", "20", "-i", "0.01", "--json", $"127.0.0.1:{port}");
        Assert.True(exit == 0, $"twping exited {exit}: {stderr}");
        using var json = System.Text.Json.JsonDocument.Parse(stdout);
        Assert.Equal(20, json.RootElement.GetProperty("received").GetInt32());
        Assert.Equal(0, json.RootElement.GetProperty("lost").GetInt32());
    }
}
