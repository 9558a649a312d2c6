using System.Text.Json;

namespace Ippm.Tests.Cli;

/// <summary>Issue 9, "Command line and reports": what a first-time user hits, tried from the executable.</summary>
public sealed class CommandLineTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly string _directory = Directory.CreateTempSubdirectory("ippm-cmdline-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string WriteKeyFile(string passphraseHex = "7465737470617373313233")
    {
        string path = Path.Combine(_directory, "keys.pfs");
        File.WriteAllText(path, $"alice\t{passphraseHex}\n");
        return path;
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public async Task UnknownOption_IsReportedAsUnknown_NotResolvedAsHost()
    {
        var (exit, stdout, stderr) = await IppmProcess.RunAsync(Timeout, "twping", "--bogus", "-c", "5");

        Assert.Equal(1, exit);
        Assert.Empty(stdout);
        Assert.Equal(["ippm: unknown option '--bogus'", "see ippm twping --help"], Lines(stderr));
    }

    [Theory]
    [InlineData("twping", "-c", "abc", "127.0.0.1", "ippm: -c expects a whole number, not 'abc'", "see ippm twping --help")]
    [InlineData("owping", "-L", "soon", "127.0.0.1", "ippm: -L expects a number, not 'soon'", "see ippm owping --help")]
    [InlineData("server", "--max-sessions", "many", "--twamp-listen=127.0.0.1:862", "ippm: --max-sessions expects a whole number, not 'many'", "see ippm server --help")]
    public async Task BadValue_OneLineInTheOptionsWords_AndAHint_NotTheHelpPage(string command, string option, string value, string more, string message, string hint)
    {
        var (exit, stdout, stderr) = await IppmProcess.RunAsync(Timeout, command, option, value, more);

        Assert.Equal(1, exit);
        Assert.Empty(stdout);
        Assert.Equal([message, hint], Lines(stderr));
        Assert.DoesNotContain("Usage:", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TopLevelHelp_ShowsTheHostAsOptional()
    {
        var (exit, stdout, _) = await IppmProcess.RunAsync(Timeout, "--help");

        Assert.Equal(0, exit);
        Assert.Contains("  twping [<host>]  ", stdout, StringComparison.Ordinal);
        Assert.Contains("  owping [<host>]  ", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("twping <host>", stdout, StringComparison.Ordinal);
        // The columns stay aligned: every command's description starts in the same column.
        static int DescriptionColumn(string row)
        {
            int i = row.IndexOf("  ", 2, StringComparison.Ordinal);
            while (row[i] == ' ')
            {
                i++;
            }
            return i;
        }
        int[] columns = Lines(stdout).SkipWhile(l => l.TrimEnd() != "Commands:").Skip(1).Where(l => l.Trim().Length > 0).Select(DescriptionColumn).ToArray();
        Assert.True(columns.Length >= 6);
        Assert.Single(columns.Distinct());
    }

    [Fact]
    public async Task JsonErrors_AreOneJsonObjectOnStdout_AndTextOnStderr()
    {
        var usage = await IppmProcess.RunAsync(Timeout, "twping", "-c", "abc", "--json", "127.0.0.1");
        using (JsonDocument json = JsonDocument.Parse(usage.Stdout))
        {
            Assert.Equal(1, usage.ExitCode);
            Assert.Equal("usage", json.RootElement.GetProperty("error").GetProperty("kind").GetString());
            Assert.Equal("-c expects a whole number, not 'abc'", json.RootElement.GetProperty("error").GetProperty("message").GetString());
            Assert.Equal(1, json.RootElement.GetProperty("exit_code").GetInt32());
            Assert.Contains("-c expects a whole number", usage.Stderr, StringComparison.Ordinal);
        }

        (System.Net.Sockets.Socket closedHolder, int closedPort) = IppmProcess.ClosedTcpPort();
        using var closedScope = closedHolder;
        var unreachable = await IppmProcess.RunAsync(Timeout, "owping", "--json", "-c", "1", $"127.0.0.1:{closedPort}");
        using (JsonDocument json = JsonDocument.Parse(unreachable.Stdout))
        {
            Assert.Equal(3, unreachable.ExitCode);
            Assert.Equal("unreachable", json.RootElement.GetProperty("error").GetProperty("kind").GetString());
            Assert.Equal(3, json.RootElement.GetProperty("exit_code").GetInt32());
            Assert.Contains("cannot reach", unreachable.Stderr, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task ModesNeedingAKey_WithoutAny_AreAUsageError_FoundBeforeConnecting()
    {
        // Nothing listens on this port: exit 1 (not 3) shows the mistake was found before any connection.
        (System.Net.Sockets.Socket closedHolder, int closedPort) = IppmProcess.ClosedTcpPort();
        using var closedScope = closedHolder;

        var (exit, _, stderr) = await IppmProcess.RunAsync(Timeout, "twping", "-A", "AE", "-c", "5", $"127.0.0.1:{closedPort}");
        Assert.Equal(1, exit);
        Assert.Contains("-A AE needs a key", stderr, StringComparison.Ordinal);
        Assert.Contains("-k", stderr, StringComparison.Ordinal);

        var ike = await IppmProcess.RunAsync(Timeout, "twping", "--ike", "-A", "O", "-c", "5", $"127.0.0.1:{closedPort}");
        Assert.Equal(1, ike.ExitCode);
        Assert.Equal(["ippm: -A O asks for open mode only, but --ike keys only the protected modes (A, E, M; RFC 7717 §5): drop --ike to measure in open mode, or use -A with a protected mode."], Lines(ike.Stderr));
    }

    [Fact]
    public async Task OpenAndAuthenticated_WithoutAKey_MeasuresInOpenMode()
    {
        string keys = WriteKeyFile();
        using var server = new ServerProcess("server", "--twamp-listen", "127.0.0.1:0", "--pfs", keys);
        int port = await server.TwampPortAsync(Timeout);

        var (exit, stdout, stderr) = await IppmProcess.RunAsync(Timeout, "twping", "-A", "OA", "-c", "5", "-i", "0.01", "-v", "--json", $"127.0.0.1:{port}");

        Assert.True(exit == 0, stderr);
        using JsonDocument json = JsonDocument.Parse(stdout);
        Assert.Equal("open", json.RootElement.GetProperty("mode").GetString());
        Assert.Equal("none", json.RootElement.GetProperty("key_source").GetString());
        Assert.Equal(5, json.RootElement.GetProperty("sent").GetInt32());
        Assert.Equal(0, json.RootElement.GetProperty("lost").GetInt32());
        // The server offered all four; the client said which it could use.
        Assert.Contains("Server-Greeting: modes encrypted,authenticated,mixed,open", stderr, StringComparison.Ordinal);
        Assert.Contains("-A OA without a key (-k) or --ike: only open mode is possible", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("authenticated")]
    [InlineData("open,encrypted")]
    public async Task Server_ToldToOfferModesItCannot_RefusesToStart_NamingTheFlag(string modes)
    {
        var (exit, _, stderr) = await IppmProcess.RunAsync(Timeout, "server", "--twamp-listen", "127.0.0.1:0", "--modes", modes);

        Assert.Equal(1, exit);
        Assert.Contains($"--modes {modes} cannot be offered", stderr, StringComparison.Ordinal);
        Assert.Contains("--pfs FILE", stderr, StringComparison.Ordinal);
        Assert.Contains("--ike-listen", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Server_StartUpLog_SaysWhatIsOffered_AndUsesWords()
    {
        using (var open = new ServerProcess("server", "--twamp-listen", "127.0.0.1:0"))
        {
            await open.TwampPortAsync(Timeout);
            Assert.Contains("TWAMP offers open", open.Log, StringComparison.Ordinal);
            Assert.DoesNotContain("TWAMP offers open,", open.Log, StringComparison.Ordinal);
        }

        string keys = WriteKeyFile();
        using var keyed = new ServerProcess("server", "--twamp-listen", "127.0.0.1:0", "--owamp-listen", "127.0.0.1:0", "--pfs", keys);
        int port = await keyed.TwampPortAsync(Timeout);
        await keyed.OwampPortAsync(Timeout);
        Assert.Contains("TWAMP offers open, authenticated, encrypted, mixed (keys: passphrases from --pfs)", keyed.Log, StringComparison.Ordinal);
        Assert.Contains("OWAMP offers open, authenticated, encrypted (keys: passphrases from --pfs)", keyed.Log, StringComparison.Ordinal);

        var (exit, _, stderr) = await IppmProcess.RunAsync(Timeout, "twping", "-A", "A", "-k", keys, "-c", "2", "-i", "0.01", $"127.0.0.1:{port}");
        Assert.True(exit == 0, stderr);
        await keyed.WaitForLogAsync("key from passphrase", Timeout);
        Assert.Contains("TWAMP-Control in authenticated mode, identity alice, key from passphrase", keyed.Log, StringComparison.Ordinal);
        // Log categories are Ippm.*, enum values words.
        foreach (string line in Lines(keyed.Log).Where(l => l.Contains(": ", StringComparison.Ordinal) && (l.Contains(" info: ", StringComparison.Ordinal) || l.Contains(" warn: ", StringComparison.Ordinal))))
        {
            Assert.Matches(@" (info|warn): Ippm\.[A-Z]", line);
        }
        Assert.DoesNotContain("Passphrase", keyed.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Server_AddressInUse_NamesTheListener()
    {
        using var first = new ServerProcess("server", "--twamp-listen", "127.0.0.1:0");
        int port = await first.TwampPortAsync(Timeout);

        var (exit, _, stderr) = await IppmProcess.RunAsync(Timeout, "server", "--owamp-listen", "127.0.0.1:0", "--twamp-listen", $"127.0.0.1:{port}");

        Assert.Equal(1, exit);
        Assert.Contains($"cannot listen for TWAMP-Control (--twamp-listen) on 127.0.0.1:{port}", stderr, StringComparison.Ordinal);
        Assert.Contains("in use", stderr, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Server_PeerThatJustCloses_IsLoggedAtInformation_NotAsAProtocolError()
    {
        using var server = new ServerProcess("server", "--twamp-listen", "127.0.0.1:0");
        int port = await server.TwampPortAsync(Timeout);

        using (var probe = new System.Net.Sockets.TcpClient())
        {
            await probe.ConnectAsync(System.Net.IPAddress.Loopback, port);
            byte[] greeting = new byte[64];
            await probe.GetStream().ReadExactlyAsync(greeting);
        }

        await server.WaitForLogAsync("the peer closed the control connection", Timeout);
        string line = Lines(server.Log).Single(l => l.Contains("the peer closed the control connection", StringComparison.Ordinal));
        Assert.Contains(" info: Ippm.Server", line, StringComparison.Ordinal);
        Assert.Contains("before the handshake completed", line, StringComparison.Ordinal);
        Assert.DoesNotContain("protocol error", server.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WrongProtocolsPort_IsNamed()
    {
        using var server = new ServerProcess("server", "--twamp-listen", "127.0.0.1:0", "--owamp-listen", "127.0.0.1:0");
        int twampPort = await server.TwampPortAsync(Timeout), owampPort = await server.OwampPortAsync(Timeout);

        var twping = await IppmProcess.RunAsync(Timeout, "twping", "-c", "3", $"127.0.0.1:{owampPort}");
        Assert.Equal(2, twping.ExitCode);
        Assert.Contains($"the server at 127.0.0.1:{owampPort} does not speak TWAMP", twping.Stderr, StringComparison.Ordinal);
        Assert.Contains("is it an OWAMP server (port 861)?", twping.Stderr, StringComparison.Ordinal);

        var owping = await IppmProcess.RunAsync(Timeout, "owping", "-c", "3", $"127.0.0.1:{twampPort}");
        Assert.Equal(2, owping.ExitCode);
        Assert.Contains($"the server at 127.0.0.1:{twampPort} does not speak OWAMP", owping.Stderr, StringComparison.Ordinal);
        Assert.Contains("is it a TWAMP server (port 862)?", owping.Stderr, StringComparison.Ordinal);

        // A TWAMP server offering mixed mode shows itself at the greeting already.
        string keys = WriteKeyFile();
        using var keyed = new ServerProcess("server", "--twamp-listen", "127.0.0.1:0", "--pfs", keys);
        int keyedPort = await keyed.TwampPortAsync(Timeout);
        var early = await IppmProcess.RunAsync(Timeout, "owping", "-c", "3", $"127.0.0.1:{keyedPort}");
        Assert.Equal(2, early.ExitCode);
        Assert.Contains("offers mixed mode, which only TWAMP has: it does not speak OWAMP; is it a TWAMP server (port 862)?", early.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verbose_TracesTheControlExchange_WithoutKeyMaterial()
    {
        string keys = WriteKeyFile();
        using var server = new ServerProcess("server", "--twamp-listen", "127.0.0.1:0", "--pfs", keys);
        int port = await server.TwampPortAsync(Timeout);

        var (exit, stdout, stderr) = await IppmProcess.RunAsync(Timeout, "twping", "-A", "E", "-u", "alice", "-k", keys, "-c", "3", "-i", "0.01", "-vv", "--json", $"127.0.0.1:{port}");

        Assert.True(exit == 0, stderr);
        using JsonDocument json = JsonDocument.Parse(stdout);
        string sid = json.RootElement.GetProperty("sid").GetString()!;
        int reflectorPort = json.RootElement.GetProperty("peer").GetProperty("test_port").GetInt32();
        int localPort = json.RootElement.GetProperty("local").GetProperty("test_port").GetInt32();
        Assert.Contains("Server-Greeting: modes encrypted,authenticated,mixed,open (0x17f), PBKDF2 count 2048", stderr, StringComparison.Ordinal);
        Assert.Contains("Set-Up-Response: mode encrypted (0x114), identity alice, key from passphrase", stderr, StringComparison.Ordinal);
        Assert.Contains("Server-Start: Accept=0 (ok)", stderr, StringComparison.Ordinal);
        Assert.Contains($"Request-TW-Session: Accept-Session Accept=0 (ok), SID {sid}, port {reflectorPort}", stderr, StringComparison.Ordinal);
        Assert.Contains($"test session {sid}: local port {localPort} -> peer port {reflectorPort}", stderr, StringComparison.Ordinal);
        Assert.Contains("Start-Sessions: Start-Ack Accept=0 (ok)", stderr, StringComparison.Ordinal);
        Assert.Contains("Stop-Sessions sent: Accept=0, 1 session(s)", stderr, StringComparison.Ordinal);
        // Neither the passphrase nor its hex, in any case.
        Assert.DoesNotContain("testpass123", stderr, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("7465737470617373313233", stderr, StringComparison.OrdinalIgnoreCase);

        var quiet = await IppmProcess.RunAsync(Timeout, "twping", "-A", "E", "-u", "alice", "-k", keys, "-c", "2", "-i", "0.01", $"127.0.0.1:{port}");
        Assert.Equal(0, quiet.ExitCode);
        Assert.Empty(quiet.Stderr);
    }

    [Fact]
    public async Task SourceAddress_AndAddressFamily_LikeTwping()
    {
        using var server = new ServerProcess("server", "--twamp-listen", "127.0.0.1:0");
        int port = await server.TwampPortAsync(Timeout);

        // 127.0.0.2 is a loopback address too: the server sees the control connection and the test packets from it.
        var (exit, stdout, stderr) = await IppmProcess.RunAsync(Timeout, "twping", "-S", "127.0.0.2", "-4", "-c", "3", "-i", "0.01", "--json", $"127.0.0.1:{port}");
        Assert.True(exit == 0, stderr);
        using (JsonDocument json = JsonDocument.Parse(stdout))
        {
            Assert.Equal("127.0.0.2", json.RootElement.GetProperty("local").GetProperty("address").GetString());
            Assert.Equal(3, json.RootElement.GetProperty("received").GetInt32());
        }
        await server.WaitForLogAsync("127.0.0.2:", Timeout);
        Assert.Contains("peer 127.0.0.2:", server.Log, StringComparison.Ordinal);

        // -4 resolves a name to IPv4 only.
        var named = await IppmProcess.RunAsync(Timeout, "twping", "-4", "-c", "2", "-i", "0.01", "--json", $"localhost:{port}");
        Assert.True(named.ExitCode == 0, named.Stderr);

        // -6 over IPv6 loopback, from -S ::1.
        using (var v6 = new ServerProcess("server", "--twamp-listen", "[::1]:0"))
        {
            int v6Port = await v6.TwampPortAsync(Timeout);
            var six = await IppmProcess.RunAsync(Timeout, "twping", "-6", "-S", "::1", "-c", "3", "-i", "0.01", "--json", $"[::1]:{v6Port}");
            Assert.True(six.ExitCode == 0, six.Stderr);
            using JsonDocument json = JsonDocument.Parse(six.Stdout);
            Assert.Equal("::1", json.RootElement.GetProperty("local").GetProperty("address").GetString());
            Assert.Equal("::1", json.RootElement.GetProperty("peer").GetProperty("address").GetString());
            Assert.Equal(3, json.RootElement.GetProperty("received").GetInt32());
        }

        var mismatch = await IppmProcess.RunAsync(Timeout, "twping", "-6", "-c", "3", $"127.0.0.1:{port}");
        Assert.Equal(1, mismatch.ExitCode);
        Assert.Contains("127.0.0.1 is not an IPv6 address", mismatch.Stderr, StringComparison.Ordinal);

        var both = await IppmProcess.RunAsync(Timeout, "owping", "-4", "-6", "-c", "3", $"127.0.0.1:{port}");
        Assert.Equal(1, both.ExitCode);
        Assert.Contains("-4 and -6 exclude each other", both.Stderr, StringComparison.Ordinal);

        var source = await IppmProcess.RunAsync(Timeout, "owping", "-S", "::1", "-4", "-c", "3", $"127.0.0.1:{port}");
        Assert.Equal(1, source.ExitCode);
        Assert.Contains("-S ::1 is not an IPv4 address", source.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VeryVerbose_AddsTheIkeExchanges_AndNeverAKey()
    {
        const string psk = "ike pre-shared key for the -vv test";
        string pskFile = Path.Combine(_directory, "ike.psk");
        File.WriteAllText(pskFile, psk + "\n");
        using var server = new ServerProcess("server", "--twamp-listen", "127.0.0.1:0", "--ike-listen", "127.0.0.1:0", "--ike-psk-file", pskFile);
        int ikePort = await server.IkePortAsync(Timeout);
        int port = await server.TwampPortAsync(Timeout);
        string ikePortText = ikePort.ToString(System.Globalization.CultureInfo.InvariantCulture);

        var (exit, stdout, stderr) = await IppmProcess.RunAsync(Timeout, "twping", "--ike", "--ike-port", ikePortText, "--ike-psk-file", pskFile,
            "-A", "E", "-c", "3", "-i", "0.01", "-vv", "--json", $"127.0.0.1:{port}");

        Assert.True(exit == 0, stderr);
        using JsonDocument json = JsonDocument.Parse(stdout);
        string spiI = json.RootElement.GetProperty("spi_i").GetString()!;
        Assert.Contains($"IKE_SA_INIT and IKE_AUTH with 127.0.0.1:{ikePort} (pre-shared key)", stderr, StringComparison.Ordinal);
        Assert.Contains($"IKE SA {spiI}_i", stderr, StringComparison.Ordinal);
        Assert.Contains($"INFORMATIONAL: IKE SA {spiI}_i", stderr, StringComparison.Ordinal);
        Assert.Contains($"identity IKEv2 SA {spiI}/", stderr, StringComparison.Ordinal);
        Assert.Contains("key from ikev2", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(psk, stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToHexString(System.Text.Encoding.UTF8.GetBytes(psk)), stderr, StringComparison.OrdinalIgnoreCase);
        // No key-sized hex anywhere: the longest hex runs are SIDs (32 digits); SK_d, S and session keys would be longer
        // or appear beside them as 40+ digits.
        Assert.DoesNotMatch(@"[0-9a-fA-F]{40,}", stderr);

        // -v alone: the control exchange, not the IKE one.
        var control = await IppmProcess.RunAsync(Timeout, "twping", "--ike", "--ike-port", ikePortText, "--ike-psk-file", pskFile,
            "-A", "E", "-c", "2", "-i", "0.01", "-v", $"127.0.0.1:{port}");
        Assert.True(control.ExitCode == 0, control.Stderr);
        Assert.Contains("Server-Greeting", control.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("IKE_SA_INIT", control.Stderr, StringComparison.Ordinal);
    }
}
