using System.Text;
using Ippm.Security;

namespace Ippm.Tests.Security;

public sealed class KeyFileTests
{
    private static string Secret(KeyFile file, string identity)
    {
        Assert.True(file.TryGetSecret(identity, out ReadOnlySpan<byte> secret), $"no secret for '{identity}'");
        return Encoding.UTF8.GetString(secret);
    }

    [Fact]
    public void KeyFile_PfstoreLine_GivesRawPassphrase()
    {
        // the vectors README: "alice<TAB>7465737470617373313233"
        using KeyFile file = KeyFile.Parse("alice\t7465737470617373313233\n");

        Assert.Equal(["alice"], file.Identities);
        Assert.Equal("testpass123", Secret(file, "alice"));
    }

    [Fact]
    public void KeyFile_CommentsBlankLinesTabsAndSpaces_AreTolerated()
    {
        const string text =
            "# perfSONAR pfs file\n" +
            "\n" +
            "   \t  \n" +
            "alice\t7465737470617373313233\n" +
            "  bob    77726f6e6770617373   # trailing comment\r\n" +
            "\tcarol \t 4142 \t\r\n" +
            "# dave 0000\n" +
            "EVE\t00FF\n";

        using KeyFile file = KeyFile.Parse(text);

        Assert.Equal(4, file.Identities.Count);
        Assert.Equal("testpass123", Secret(file, "alice"));
        Assert.Equal("wrongpass", Secret(file, "bob"));
        Assert.Equal("AB", Secret(file, "carol"));
        Assert.True(file.TryGetSecret("EVE", out ReadOnlySpan<byte> eve));
        Assert.Equal("00ff", Convert.ToHexStringLower(eve)); // upper-case hex accepted
        Assert.False(file.TryGetSecret("dave", out _));
        Assert.False(file.TryGetSecret("eve", out _)); // identities are case-sensitive
    }

    [Fact]
    public void KeyFile_DuplicateIdentity_LastLineWins()
    {
        using KeyFile file = KeyFile.Parse("alice 41\nalice 42\n");

        Assert.Equal("B", Secret(file, "alice"));
        Assert.Single(file.Identities);
    }

    [Theory]
    [InlineData("alice\ttestpass123\n", "testpass123")]             // the passphrase itself, not its hex
    [InlineData("alice\t74657374706173733132z3\n", "74657374706173733132z3")] // one non-hex digit
    [InlineData("alice\t746573747061737331323\n", "746573747061737331323")]   // odd number of digits
    [InlineData("alice 7465737470617373 313233\n", "7465737470617373")]       // three fields
    [InlineData("# ok\nalice\n", "alice\n")]                              // no secret at all
    public void KeyFile_BadLine_ThrowsFormatExceptionWithoutTheSecret(string text, string secret)
    {
        var ex = Assert.Throws<FormatException>(() => KeyFile.Parse(text, "alice.pfs"));

        Assert.Contains("alice.pfs:", ex.Message, StringComparison.Ordinal);
        if (secret != "alice\n")
        {
            Assert.DoesNotContain(secret, ex.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("testpass", ex.Message, StringComparison.Ordinal);
        }
        Assert.Null(ex.InnerException); // an inner exception could carry the input
    }

    [Fact]
    public void KeyFile_BadLine_NamesTheLineNumber()
    {
        var ex = Assert.Throws<FormatException>(() => KeyFile.Parse("# header\n\nalice 4142\nbob zz\n", "keys.pfs"));

        Assert.Contains("keys.pfs:4", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void KeyFile_FormatLine_RoundTripsThroughParse()
    {
        string line = KeyFile.FormatLine("alice", "testpass123"u8);

        Assert.Equal("alice\t7465737470617373313233", line);
        using KeyFile file = KeyFile.Parse(line);
        Assert.Equal("testpass123", Secret(file, "alice"));
    }

    [Fact]
    public void KeyFile_Load_ReadsFileAndUsesPathInErrors()
    {
        string path = Path.Combine(Path.GetTempPath(), $"ippm-keyfile-{Guid.NewGuid():N}.pfs");
        try
        {
            File.WriteAllText(path, "alice\t7465737470617373313233\n");
            using (KeyFile file = KeyFile.Load(path))
            {
                Assert.Equal("testpass123", Secret(file, "alice"));
            }

            File.WriteAllText(path, "alice\tnothex!\n");
            var ex = Assert.Throws<FormatException>(() => KeyFile.Load(path));
            Assert.Contains(path, ex.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("nothex!", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void KeyFile_Dispose_ForgetsSecrets()
    {
        var file = KeyFile.Parse("alice 4142\n");

        file.Dispose();

        Assert.False(file.TryGetSecret("alice", out _));
        Assert.Empty(file.Identities);
    }
}
