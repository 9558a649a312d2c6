using System.Text.Json;

namespace Ippm.Tests.Cli;

/// <summary>The README's STAMP promises as a user tries them: <c>ippm server --stamp-listen</c> and <c>ippm stamp</c> as processes.</summary>
public sealed class StampCliTests : IDisposable
{
    private const string KeyHex = "5354414d502d746573742d6b65792d3031";
    private readonly string _directory = Directory.CreateTempSubdirectory("ippm-stamp-cli-").FullName;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string KeyFile(string selector)
    {
        string path = Path.Combine(_directory, $"stamp-{Guid.NewGuid():n}.keys");
        File.WriteAllText(path, $"# STAMP keys\n{selector}\t{KeyHex}\n");
        return path;
    }

    [Theory]
    [InlineData("127.0.0.1", false)]
    [InlineData("127.0.0.1", true)]
    [InlineData("::1", false)]
    [InlineData("::1", true)]
    public async Task ServerAndStamp_EachModeAndFamily_EveryTlv_NoneLost(string address, bool authenticated)
    {
        string bracketed = address.Contains(':', StringComparison.Ordinal) ? $"[{address}]" : address;
        var serverArgs = new List<string> { "server", "--stamp-listen", $"{bracketed}:0" };
        string? keys = authenticated ? KeyFile("*") : null;
        if (keys is not null)
        {
            serverArgs.AddRange(["--stamp-keys", keys]);
        }
        using var server = new ServerProcess([.. serverArgs]);
        int port = await server.StampPortAsync(Timeout);
        string listen = $"{bracketed}:{port}";

        var args = new List<string> { "stamp", "-c", "40", "-i", "0.01f", "-s", "100", "--cos", "--timestamp-info", "--direct-measurement", "--follow-up", "--location", "--access-report", "1:1", "--ssid", "77", "--json", listen };
        if (keys is not null)
        {
            args.InsertRange(1, ["-A", "A", "-k", keys]);
        }
        var (exit, stdout, stderr) = await IppmProcess.RunAsync(Timeout, [.. args]);
        Assert.True(exit == 0, $"ippm stamp exited {exit}: {stderr}");
        using JsonDocument json = JsonDocument.Parse(stdout);
        JsonElement root = json.RootElement;
        Assert.Equal("stamp", root.GetProperty("protocol").GetString());
        Assert.Equal(authenticated ? "authenticated" : "unauthenticated", root.GetProperty("mode").GetString());
        Assert.Equal(77, root.GetProperty("ssid").GetInt32());
        Assert.Equal(40, root.GetProperty("sent").GetInt32());
        Assert.Equal(0, root.GetProperty("lost").GetInt32());
        Assert.Equal(root.GetProperty("packet_size").GetInt32(), root.GetProperty("reply_size").GetInt32());
        JsonElement tlvs = root.GetProperty("tlvs");
        Assert.Equal(40, tlvs.GetProperty("replies_with_tlvs").GetInt32());
        Assert.Equal(0, tlvs.GetProperty("unrecognized").GetInt32() + tlvs.GetProperty("malformed").GetInt32() + tlvs.GetProperty("integrity_failed").GetInt32());
        Assert.Equal(40, tlvs.GetProperty("direct_measurement").GetProperty("r_rxc").GetInt32());
        Assert.Equal(address, tlvs.GetProperty("location").GetProperty("destination").GetString());
        Assert.Equal(port, tlvs.GetProperty("location").GetProperty("destination_port").GetInt32());
        Assert.DoesNotContain(KeyHex, server.Log, StringComparison.OrdinalIgnoreCase);

        // Wrong key: every reply fails its HMAC check, so everything is lost; the server keeps serving.
        if (authenticated)
        {
            string wrong = Path.Combine(_directory, "wrong.keys");
            await File.WriteAllTextAsync(wrong, "x\t00112233\n");
            var bad = await IppmProcess.RunAsync(Timeout, "stamp", "-A", "A", "-k", wrong, "-c", "5", "-i", "0.01f", "-L", "0.5", "--json", listen);
            Assert.Equal(0, bad.ExitCode);
            using JsonDocument badJson = JsonDocument.Parse(bad.Stdout);
            Assert.Equal(5, badJson.RootElement.GetProperty("lost").GetInt32());
            var again = await IppmProcess.RunAsync(Timeout, "stamp", "-A", "A", "-k", keys!, "-c", "5", "-i", "0.01f", listen);
            Assert.Contains("5 sent, 0 lost", again.Stdout, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task TwpingLight_AgainstStampReflector_NoneLost()
    {
        using var server = new ServerProcess("server", "--stamp-listen", "127.0.0.1:0", "--stamp-stateless");
        int port = await server.StampPortAsync(Timeout);
        var (exit, stdout, stderr) = await IppmProcess.RunAsync(Timeout, "twping", "--light", "-c", "30", "-i", "0.01f", "--json", $"127.0.0.1:{port}");
        Assert.True(exit == 0, $"twping --light exited {exit}: {stderr}");
        using JsonDocument json = JsonDocument.Parse(stdout);
        Assert.Equal("twamp-light", json.RootElement.GetProperty("protocol").GetString());
        Assert.Equal(30, json.RootElement.GetProperty("sent").GetInt32());
        Assert.Equal(0, json.RootElement.GetProperty("lost").GetInt32());
        Assert.Equal(44, json.RootElement.GetProperty("packet_size").GetInt32());
    }

    [Fact]
    public async Task StampAndTwpingLight_WithoutHost_UseAnEmbeddedReflector()
    {
        var stamp = await IppmProcess.RunAsync(Timeout, "stamp", "-A", "A", "-c", "10", "-i", "0.01f", "--direct-measurement");
        Assert.True(stamp.ExitCode == 0, stamp.Stderr);
        Assert.Contains("embedded STAMP reflector", stamp.Stderr, StringComparison.Ordinal);
        Assert.Contains("10 sent, 0 lost", stamp.Stdout, StringComparison.Ordinal);
        Assert.Contains("mode:\tauthenticated", stamp.Stdout, StringComparison.Ordinal);
        var light = await IppmProcess.RunAsync(Timeout, "twping", "--light", "-c", "10", "-i", "0.01f");
        Assert.True(light.ExitCode == 0, light.Stderr);
        Assert.Contains("10 sent, 0 lost", light.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadCommandLines_ExitOne()
    {
        Assert.Equal(1, (await IppmProcess.RunAsync(Timeout, "stamp", "-A", "A", "127.0.0.1:1")).ExitCode);
        Assert.Equal(1, (await IppmProcess.RunAsync(Timeout, "stamp", "-A", "X")).ExitCode);
        Assert.Equal(1, (await IppmProcess.RunAsync(Timeout, "server", "--stamp-listen", "nonsense")).ExitCode);
        // TWAMP-Light has no mode negotiation: -k without a single -A, mixed mode and --ike are refused.
        Assert.Equal(1, (await IppmProcess.RunAsync(Timeout, "twping", "--light", "-k", KeyFile("alice"), "127.0.0.1:1")).ExitCode);
        Assert.Equal(1, (await IppmProcess.RunAsync(Timeout, "twping", "--light", "-A", "M", "-k", KeyFile("alice"), "127.0.0.1:1")).ExitCode);
        Assert.Equal(1, (await IppmProcess.RunAsync(Timeout, "twping", "--light", "-A", "A", "127.0.0.1:1")).ExitCode);
    }

    [Theory]
    [InlineData("A", "authenticated")]
    [InlineData("E", "encrypted")]
    public async Task TwpingLight_ProtectedModes_AgainstServerWithLightKeyLine_NoneLost(string letter, string modeName)
    {
        // The reflector's file names the sender's address with the mode; the sender's file holds the same hex.
        string serverKeys = KeyFile($"light-{letter}@127.0.0.1");
        string clientKeys = KeyFile("reflector");
        using var server = new ServerProcess("server", "--stamp-listen", "127.0.0.1:0", "--stamp-keys", serverKeys);
        int port = await server.StampPortAsync(Timeout);
        var (exit, stdout, stderr) = await IppmProcess.RunAsync(Timeout, "twping", "--light", "-A", letter, "-k", clientKeys, "-c", "30", "-i", "0.01f", "--json", $"127.0.0.1:{port}");
        Assert.True(exit == 0, $"twping --light -A {letter} exited {exit}: {stderr}");
        using JsonDocument json = JsonDocument.Parse(stdout);
        JsonElement root = json.RootElement;
        Assert.Equal("twamp-light", root.GetProperty("protocol").GetString());
        Assert.Equal(modeName, root.GetProperty("mode").GetString());
        Assert.Equal(30, root.GetProperty("sent").GetInt32());
        Assert.Equal(0, root.GetProperty("lost").GetInt32());
        Assert.Equal(0, root.GetProperty("bad_hmac").GetInt32());
        Assert.Equal(112, root.GetProperty("packet_size").GetInt32());   // 48-octet protected header + 64 padding
        Assert.Equal(112, root.GetProperty("reply_size").GetProperty("min").GetInt32());    // the protected reflector packet, same size
        Assert.Equal(112, root.GetProperty("reply_size").GetProperty("max").GetInt32());

        // A sender with another key gets nothing back; the server counts it and keeps serving.
        string wrongKeys = Path.Combine(_directory, "wrong.keys");
        File.WriteAllText(wrongKeys, "reflector\t00112233445566778899aabbccddeeff\n");
        var wrong = await IppmProcess.RunAsync(Timeout, "twping", "--light", "-A", letter, "-k", wrongKeys, "-c", "5", "-i", "0.01f", "-L", "0.5", "--json", $"127.0.0.1:{port}");
        Assert.True(wrong.ExitCode == 0, wrong.Stderr);
        using JsonDocument wrongJson = JsonDocument.Parse(wrong.Stdout);
        Assert.Equal(5, wrongJson.RootElement.GetProperty("lost").GetInt32());
        var again = await IppmProcess.RunAsync(Timeout, "twping", "--light", "-A", letter, "-k", clientKeys, "-c", "10", "-i", "0.01f", $"127.0.0.1:{port}");
        Assert.True(again.ExitCode == 0, again.Stderr);
        Assert.Contains("10 sent, 0 lost", again.Stdout, StringComparison.Ordinal);
        Assert.Contains($"mode:\t{modeName}", again.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain(KeyHex, server.Log, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task TwpingLight_EncryptedWithoutHost_UsesEmbeddedReflector()
    {
        var light = await IppmProcess.RunAsync(Timeout, "twping", "--light", "-A", "E", "-c", "10", "-i", "0.01f");
        Assert.True(light.ExitCode == 0, light.Stderr);
        Assert.Contains("embedded TWAMP-Light reflector", light.Stderr, StringComparison.Ordinal);
        Assert.Contains("10 sent, 0 lost", light.Stdout, StringComparison.Ordinal);
        Assert.Contains("mode:\tencrypted", light.Stdout, StringComparison.Ordinal);
    }
}
