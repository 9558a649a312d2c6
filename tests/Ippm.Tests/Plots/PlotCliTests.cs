using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Ippm.Tests.Cli;

namespace Ippm.Tests.Plots;

/// <summary><c>ippm plot</c> as a separate process: outputs, exit codes and messages as README "ippm plot" says.</summary>
public sealed class PlotCliTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    [Theory]
    [InlineData("report.html")]
    [InlineData("report.png")]
    [InlineData("report.svg")]
    public async Task RecordedArchive_EachFormat_WrittenExitZeroNothingOnStandardError(string name)
    {
        using var dir = new TempDirectory();
        string output = dir.File(name);

        var (exit, stdout, stderr) = await IppmProcess.RunAsync(Timeout, "plot", PlotArchives.Recorded, "-o", output);

        Assert.True(exit == 0, stderr);
        // Nothing else on standard error: SkiaSharp's SVG canvas complains there about dashed lines, which ippm avoids.
        Assert.Equal("", stderr);
        Assert.Equal($"wrote {output}: 2 tests (loopback-owamp, loopback-twamp), 10 sessions, 0 failed\n", stdout);
        Assert.True(new FileInfo(output).Length > 10_000);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));
    }

    [Fact]
    public async Task BadLine_Exit2WithFileLine_SkipBadDrawsTheRest()
    {
        using var dir = new TempDirectory();
        List<JsonObject> lines = PlotArchives.Synthetic();
        string archive = dir.File("bad.jsonl");
        File.WriteAllLines(archive, [lines[0].ToJsonString(), lines[1].ToJsonString(), "{\"archive_version\":1,\"test\":\"x\"", lines[3].ToJsonString()]);

        var (exit, stdout, stderr) = await IppmProcess.RunAsync(Timeout, "plot", archive, "-o", dir.File("r.png"));

        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        Assert.StartsWith($"ippm: {archive}:3: not a JSON object", stderr, StringComparison.Ordinal);
        Assert.Contains("--skip-bad", stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(dir.File("r.png")));

        (exit, stdout, stderr) = await IppmProcess.RunAsync(Timeout, "plot", archive, "--skip-bad", "-o", dir.File("r.png"));

        Assert.True(exit == 0, stderr);
        Assert.StartsWith($"ippm: skipped {archive}:3: not a JSON object", stderr, StringComparison.Ordinal);
        Assert.Contains("1 tests (synthetic-twamp), 3 sessions", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NothingSelected_Exit3_SaysWhatTheArchiveHolds()
    {
        using var dir = new TempDirectory();
        string archive = PlotArchives.Write(dir.Path, "a.jsonl", PlotArchives.Synthetic());

        var (exit, _, stderr) = await IppmProcess.RunAsync(Timeout, "plot", archive, "--test", "nosuch", "-o", dir.File("r.html"));
        Assert.Equal(3, exit);
        Assert.Equal($"ippm: no session in {archive} matches --test nosuch; it holds tests synthetic-owamp, synthetic-twamp from 2026-11-30 10:00:00Z to 2026-11-30 10:15:10Z\n", stderr);

        (exit, _, stderr) = await IppmProcess.RunAsync(Timeout, "plot", archive, "--since", "2026-12-01T00:00Z", "-o", dir.File("r.html"));
        Assert.Equal(3, exit);
        Assert.Contains("matches --since 2026-12-01 00:00:00Z", stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(dir.File("r.html")));
    }

    [Theory]
    [InlineData("--since", "yesterday", "--since expects an ISO 8601 time or a duration such as 24h, not 'yesterday'")]
    [InlineData("-o", "report.pdf", "-o report.pdf: the file name must end in .png, .svg or .html")]
    public async Task UsageMistakes_Exit1(string option, string value, string message)
    {
        using var dir = new TempDirectory();
        string archive = PlotArchives.Write(dir.Path, "a.jsonl", PlotArchives.Synthetic());
        string[] args = option == "-o" ? ["plot", archive, "-o", value] : ["plot", archive, option, value, "-o", dir.File("r.png")];

        var (exit, _, stderr) = await IppmProcess.RunAsync(Timeout, args);

        Assert.Equal(1, exit);
        Assert.Equal($"ippm: {message}\n", stderr);
    }

    [Fact]
    public async Task MissingArchive_Exit1()
    {
        using var dir = new TempDirectory();
        var (exit, _, stderr) = await IppmProcess.RunAsync(Timeout, "plot", dir.File("none.jsonl"), "-o", dir.File("r.png"));
        Assert.Equal(1, exit);
        Assert.Equal($"ippm: {dir.File("none.jsonl")}: no such archive file\n", stderr);
    }

    /// <summary>
    /// A host without fonts (a fresh server): the same command in a mount namespace whose /usr/share/fonts is an
    /// empty tmpfs draws the same PNG, octet for octet, because ippm draws with the font it embeds. (Without it,
    /// SkiaSharp finds no typeface there and draws charts without a single letter.)
    /// </summary>
    [Fact]
    public async Task HostWithoutFonts_SamePng()
    {
        Assert.True(Environment.UserName == "root", "this test runs ippm in a mount namespace (unshare -m) and needs root, as the README's test command says");
        using var dir = new TempDirectory();
        string archive = PlotArchives.Write(dir.Path, "a.jsonl", PlotArchives.Synthetic());
        string withFonts = dir.File("fonts.png");
        string withoutFonts = dir.File("nofonts.png");

        var (exit, _, stderr) = await IppmProcess.RunAsync(Timeout, "plot", archive, "--test", "synthetic-twamp", "-o", withFonts);
        Assert.True(exit == 0, stderr);

        var info = new ProcessStartInfo("unshare") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string arg in new[] { "-m", "sh", "-c", "{ [ ! -d /usr/share/fonts ] || mount -t tmpfs none /usr/share/fonts; } && test -z \"$(ls -A /usr/share/fonts 2>/dev/null)\" && exec dotnet \"$0\" plot \"$1\" --test synthetic-twamp -o \"$2\"", IppmProcess.DllPath, archive, withoutFonts })
        {
            info.ArgumentList.Add(arg);
        }
        using Process process = Process.Start(info) ?? throw new InvalidOperationException("unshare (util-linux) is needed: apt-get install util-linux");
        Task<string> errors = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(Timeout);
        await process.WaitForExitAsync(cts.Token);
        Assert.True(process.ExitCode == 0, await errors);

        Assert.Equal(await File.ReadAllBytesAsync(withFonts), await File.ReadAllBytesAsync(withoutFonts));
        using var bitmap = SkiaSharp.SKBitmap.Decode(withoutFonts);
        Assert.True(PlotOutputTests.DarkPixels(bitmap, 0, 1100, 2, 45) > 500, "the title band has no text");
    }

    /// <summary>
    /// End to end: a real twping measurement (embedded loopback server) and a failed attempt, wrapped into archive
    /// lines as the agent writes them, drawn by ippm plot; the HTML figures are twping's own numbers.
    /// </summary>
    [Fact]
    public async Task RealTwping_WrappedIntoTheArchive_ReportCarriesItsFigures()
    {
        using var dir = new TempDirectory();
        DateTimeOffset start = DateTimeOffset.UtcNow;
        var (exit, stdout, stderr) = await IppmProcess.RunAsync(Timeout, "twping", "-c", "40", "-i", "0.005f", "--json");
        Assert.True(exit == 0, stderr);
        DateTimeOffset end = DateTimeOffset.UtcNow;
        JsonObject report = JsonNode.Parse(stdout)!.AsObject();
        JsonObject line = PlotArchives.Header("live", "127.0.0.1:862", "twamp", (string)report["mode"]!, start, (end - start).TotalSeconds);
        foreach ((string key, JsonNode? value) in report.ToList())
        {
            report.Remove(key);
            line[key] = value;
        }
        JsonObject failed = PlotArchives.Header("live", "127.0.0.1:862", "twamp", "open", end.AddSeconds(5), 1, "unreachable", "connection refused");
        string archive = PlotArchives.Write(dir.Path, "live.jsonl", [line, failed]);
        string html = dir.File("live.html");

        (exit, stdout, stderr) = await IppmProcess.RunAsync(Timeout, "plot", archive, "-o", html);

        Assert.True(exit == 0, stderr);
        Assert.Contains("1 tests (live), 2 sessions, 1 failed", stdout, StringComparison.Ordinal);
        string page = await File.ReadAllTextAsync(html);
        Match row = Regex.Match(page, "<tr data-direction=\"RTT\">(.*?)</tr>");
        string[] cells = Regex.Matches(row.Groups[1].Value, "<td[^>]*>(.*?)</td>").Select(m => m.Groups[1].Value).ToArray();
        JsonNode rtt = line["round_trip_ms"]!;
        string Ms(string member) => ((double)rtt[member]!).ToString("0.000", CultureInfo.InvariantCulture);
        Assert.Equal(
            ["round trip", "2", "1", "1", ((long)line["sent"]!).ToString(CultureInfo.InvariantCulture), ((long)line["lost"]!).ToString(CultureInfo.InvariantCulture)],
            cells[..6]);
        Assert.Equal([Ms("min"), Ms("median"), Ms("p95"), Ms("max")], cells[9..]);
        Assert.Contains("<td class=\"text\">unreachable</td><td class=\"text\">connection refused</td>", page, StringComparison.Ordinal);
    }
}
