using System.IO.Compression;
using System.Text.Json.Nodes;
using Ippm.Plots;
using Ippm.Plots.Archive;

namespace Ippm.Tests.Plots;

public sealed class ArchiveReaderTests
{
    [Fact]
    public void RecordedArchive_EveryLineRead_FiguresAsInTheReports()
    {
        string[] lines = File.ReadAllLines(PlotArchives.Recorded);
        ArchiveContents contents = ArchiveReader.Read([PlotArchives.Recorded], skipBad: false);

        Assert.Equal(lines.Length, contents.Records.Count);
        Assert.Empty(contents.Skipped);
        // The oracle is the report JSON itself, read with JsonNode rather than the archive parser.
        foreach ((string text, int index) in lines.Select((l, i) => (l, i)))
        {
            JsonNode json = JsonNode.Parse(text)!;
            ArchiveRecord record = Assert.Single(contents.Records, r => r.Location.Line == index + 1);
            Assert.Equal((string)json["test"]!, record.Test);
            Assert.Equal((string)json["mode"]!, record.Mode);
            Assert.True(record.IsOk);
            if ((string)json["protocol"]! == "twamp")
            {
                DirectionFigures rtt = Assert.Single(record.Directions);
                Assert.Equal(Direction.RoundTrip, rtt.Direction);
                Assert.Equal((long)json["sent"]!, rtt.Sent);
                Assert.Equal((long)json["lost"]!, rtt.Lost);
                Assert.Equal((double)json["round_trip_ms"]!["median"]!, rtt.Delay.Median);
                Assert.Equal((double)json["round_trip_ms"]!["p95"]!, rtt.Delay.P95);
            }
            else
            {
                Assert.Equal(2, record.Directions.Count);
                Assert.Equal((double)json["outbound"]!["delay_ms"]!["min"]!, record.Directions[0].Delay.Min);
                Assert.Equal((double)json["inbound"]!["delay_ms"]!["p95"]!, record.Directions[1].Delay.P95);
                Assert.Equal((long)json["inbound"]!["sent"]!, record.Directions[1].Sent);
            }
        }
    }

    [Fact]
    public void SyntheticArchive_FailedLinesHaveNoFigures_UnknownMembersIgnored()
    {
        using var dir = new TempDirectory();
        string archive = PlotArchives.Write(dir.Path, "a.jsonl", PlotArchives.Synthetic());

        ArchiveContents contents = ArchiveReader.Read([archive], skipBad: false);

        ArchiveRecord failed = Assert.Single(contents.Records, r => r.Test == "synthetic-twamp" && !r.IsOk);
        Assert.Equal("timeout", failed.Outcome);
        Assert.Equal("no answer from 192.0.2.7:862 within 10 s", failed.Error);
        Assert.Empty(failed.Directions);
        Assert.Equal(new DateTimeOffset(2026, 11, 30, 10, 10, 0, TimeSpan.Zero), failed.Start);
        ArchiveRecord lossy = Assert.Single(contents.Records, r => r.Test == "synthetic-twamp" && r.Directions.Count > 0 && r.Directions[0].Lost > 0);
        Assert.Equal(10, lossy.Directions[0].Lost);
        Assert.Equal(2, lossy.Directions[0].Reordered);
    }

    public static TheoryData<string, string> BadLines => new()
    {
        { "{\"archive_version\":1,\"test\":", "not a JSON object" },
        { "[1,2]", "a line must be a JSON object, not an array" },
        { Without("test"), "member test is missing" },
        { Without("start_time"), "member start_time is missing" },
        { With("archive_version", 2), "archive_version 2 is not understood" },
        { With("start_time", "yesterday"), "start_time is not an ISO 8601 time: 'yesterday'" },
        { With("end_time", "2026-11-30T09:00:00Z"), "end_time is before start_time" },
        { With("sent", -1), "sent must be a whole number ≥ 0, not a number" },
        { With("round_trip_ms", "fast"), "round_trip_ms must be an object, not a string" },
        { WithDelay("median", "1"), "round_trip_ms.median must be a number or null, not a string" },
        { Without("round_trip_ms"), "member round_trip_ms is missing" },
    };

    [Theory]
    [MemberData(nameof(BadLines))]
    public void BadLine_RefusedWithFileLineAndReason(string bad, string reason)
    {
        using var dir = new TempDirectory();
        string archive = dir.File("bad.jsonl");
        List<JsonObject> good = PlotArchives.Synthetic();
        File.WriteAllLines(archive, [good[0].ToJsonString(), "", good[1].ToJsonString(), bad, good[3].ToJsonString()]);

        var e = Assert.Throws<ArchiveFormatException>(() => ArchiveReader.Read([archive], skipBad: false));

        Assert.Equal(new ArchiveLocation(archive, 4), e.Location);
        Assert.StartsWith($"{archive}:4: ", e.Message, StringComparison.Ordinal);
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);

        ArchiveContents skipping = ArchiveReader.Read([archive], skipBad: true);
        Assert.Equal(3, skipping.Records.Count);
        Assert.Equal(4, Assert.Single(skipping.Skipped).Location.Line);
    }

    [Fact]
    public void RotatedArchives_PatternAndGzip_ReadInTimeOrder_PacketFilesNotTakenForArchives()
    {
        using var dir = new TempDirectory();
        List<JsonObject> lines = PlotArchives.Synthetic();
        // Rotation left the newest sessions in the plain file and older ones in .1 and a gzipped .2.
        PlotArchives.Write(dir.Path, "ippm.jsonl", lines.Take(2));
        PlotArchives.Write(dir.Path, "ippm.jsonl.1", lines.Skip(2).Take(2));
        using (var gz = new GZipStream(File.Create(dir.File("ippm.jsonl.2.gz")), CompressionLevel.Fastest))
        using (var writer = new StreamWriter(gz))
        {
            foreach (JsonObject line in lines.Skip(4))
            {
                writer.WriteLine(line.ToJsonString());
            }
        }
        File.WriteAllText(dir.File("ippm.packets.jsonl"), "{\"test\":\"synthetic-twamp\",\"round_trip_ms\":1.0}\n");

        IReadOnlyList<string> files = ArchiveSources.Expand([Path.Combine(dir.Path, "ippm.jsonl*")]);
        ArchiveContents contents = ArchiveReader.Read(files, skipBad: false);

        Assert.Equal(3, files.Count);
        Assert.DoesNotContain(files, f => f.Contains("packets", StringComparison.Ordinal));
        Assert.Equal(lines.Count, contents.Records.Count);
        Assert.Equal(contents.Records.OrderBy(r => r.Start).Select(r => r.Start), contents.Records.Select(r => r.Start));
        Assert.Equal(dir.File("ippm.packets.jsonl"), ArchiveSources.PacketsFileBeside(dir.File("ippm.jsonl")));
    }

    [Fact]
    public void MissingFileOrPatternWithoutMatch_Refused()
    {
        using var dir = new TempDirectory();
        Assert.Throws<FileNotFoundException>(() => ArchiveSources.Expand([dir.File("none.jsonl")]));
        var e = Assert.Throws<FileNotFoundException>(() => ArchiveSources.Expand([dir.File("none*.jsonl")]));
        Assert.Contains("no archive file matches", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Selection_ByTestAndTime_EmptySelectionSaysWhatTheArchiveHolds()
    {
        using var dir = new TempDirectory();
        string archive = PlotArchives.Write(dir.Path, "a.jsonl", PlotArchives.Synthetic());

        PlotSelection twamp = PlotSelection.Load(new PlotRequest([archive], ["synthetic-twamp"], null, null));
        Assert.Equal("synthetic-twamp", Assert.Single(twamp.Tests).Test);
        Assert.Equal(4, twamp.Tests[0].Sessions.Count);

        // 10:04–10:12 holds the twamp sessions at 10:05 and 10:10 and the owamp session at 10:06 and 10:11.
        PlotSelection window = PlotSelection.Load(new PlotRequest([archive], [], PlotArchives.T0.AddMinutes(4), PlotArchives.T0.AddMinutes(12)));
        Assert.Equal([2, 2], window.Tests.Select(t => t.Sessions.Count));

        var e = Assert.Throws<EmptySelectionException>(() => PlotSelection.Load(new PlotRequest([archive], ["nosuch"], null, null)));
        Assert.Equal($"no session in {archive} matches --test nosuch; it holds tests synthetic-owamp, synthetic-twamp from 2026-11-30 10:00:00Z to 2026-11-30 10:15:10Z", e.Message);
        Assert.Throws<EmptySelectionException>(() => PlotSelection.Load(new PlotRequest([archive], [], PlotArchives.T0.AddDays(1), null)));
    }

    [Fact]
    public void Figures_FromSessionSummaries_KnownValues()
    {
        using var dir = new TempDirectory();
        string archive = PlotArchives.Write(dir.Path, "a.jsonl", PlotArchives.Synthetic());
        PlotSelection selection = PlotSelection.Load(new PlotRequest([archive], [], null, null));

        TestFigures rtt = TestFigures.Of(selection.Tests.Single(t => t.Test == "synthetic-twamp"), Direction.RoundTrip);
        Assert.Equal((4, 3, 1, 300L, 10L, 2L), (rtt.Sessions, rtt.SessionsWithFigures, rtt.Failed, rtt.Sent, rtt.Lost, rtt.Reordered));
        Assert.Equal(10 * 100.0 / 300, rtt.LossPercent);
        Assert.Equal((0.9, 2.5, 6.0, 7.0), (rtt.Min!.Value, rtt.Median!.Value, rtt.P95!.Value, rtt.Max!.Value));
        Assert.False(rtt.FromPackets);

        TestData owamp = selection.Tests.Single(t => t.Test == "synthetic-owamp");
        Assert.Equal([Direction.Outbound, Direction.Inbound], owamp.Directions);
        TestFigures outbound = TestFigures.Of(owamp, Direction.Outbound);
        Assert.Equal((200L, 4L, 2.0), (outbound.Sent, outbound.Lost, outbound.LossPercent!.Value));
        // Nearest rank of two values: the median is the lower one, p95 the higher.
        Assert.Equal((10.0, 12.0, 20.0, 25.0), (outbound.Min!.Value, outbound.Median!.Value, outbound.P95!.Value, outbound.Max!.Value));
        TestFigures inbound = TestFigures.Of(owamp, Direction.Inbound);
        Assert.Equal((20.0, 22.0, 26.0, 31.0), (inbound.Min!.Value, inbound.Median!.Value, inbound.P95!.Value, inbound.Max!.Value));
    }

    [Fact]
    public void Figures_FromPerPacketFile_WhenBesideTheArchive()
    {
        using var dir = new TempDirectory();
        string archive = PlotArchives.Write(dir.Path, "lab.jsonl", PlotArchives.Synthetic());
        // 1, 2, …, 100 ms and two lost packets: nearest-rank median 50, p95 95.
        IEnumerable<string> packets = Enumerable.Range(1, 100)
            .Select(i => $"{{\"test\":\"synthetic-twamp\",\"seq\":{i},\"send_time\":\"{PlotArchives.Iso(PlotArchives.T0.AddSeconds(i * 0.01))}\",\"round_trip_ms\":{i}}}")
            .Append("{\"test\":\"synthetic-twamp\",\"seq\":101,\"round_trip_ms\":null,\"lost\":true}")
            .Append("{\"test\":\"synthetic-twamp\",\"seq\":102,\"lost\":true}");
        File.WriteAllLines(dir.File("lab.packets.jsonl"), packets);

        PlotSelection selection = PlotSelection.Load(new PlotRequest([archive], ["synthetic-twamp"], null, null));
        TestFigures rtt = TestFigures.Of(selection.Tests[0], Direction.RoundTrip);

        Assert.True(rtt.FromPackets);
        Assert.Equal((1.0, 50.0, 95.0, 100.0), (rtt.Min!.Value, rtt.Median!.Value, rtt.P95!.Value, rtt.Max!.Value));
        Assert.Equal(300, rtt.Sent);
        Assert.Equal("lab.packets.jsonl", selection.Tests[0].PacketFile);

        PlotSelection without = PlotSelection.Load(new PlotRequest([archive], ["synthetic-twamp"], null, null, UsePacketFiles: false));
        Assert.False(TestFigures.Of(without.Tests[0], Direction.RoundTrip).FromPackets);
    }

    [Fact]
    public void PerPacketFile_BadLine_RefusedWithFileLine()
    {
        using var dir = new TempDirectory();
        string archive = PlotArchives.Write(dir.Path, "lab.jsonl", PlotArchives.Synthetic());
        File.WriteAllLines(dir.File("lab.packets.jsonl"), ["{\"test\":\"synthetic-twamp\",\"round_trip_ms\":1.5}", "{\"test\":\"synthetic-twamp\",\"seq\":2}"]);

        var e = Assert.Throws<ArchiveFormatException>(() => PlotSelection.Load(new PlotRequest([archive], [], null, null)));
        Assert.Equal(new ArchiveLocation(dir.File("lab.packets.jsonl"), 2), e.Location);
    }

    [Theory]
    [InlineData("2026-11-30T10:05:00Z", "2026-11-30T10:05:00Z")]
    [InlineData("2026-11-30T11:05:00+01:00", "2026-11-30T10:05:00Z")]
    [InlineData("2026-11-30 10:05", "2026-11-30T10:05:00Z")]
    [InlineData("90m", "2026-12-01T10:30:00Z")]
    [InlineData("24h", "2026-11-30T12:00:00Z")]
    [InlineData("7d", "2026-11-24T12:00:00Z")]
    [InlineData("30s", "2026-12-01T11:59:30Z")]
    public void TimeArgument_IsoOrDurationBeforeNow(string text, string expected)
    {
        var now = new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
        Assert.True(PlotTimeArgument.TryParse(text, now, out DateTimeOffset time));
        Assert.Equal(DateTimeOffset.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), time);
    }

    [Theory]
    [InlineData("")]
    [InlineData("yesterday")]
    [InlineData("5x")]
    [InlineData("-5h")]
    public void TimeArgument_Nonsense_Refused(string text) =>
        Assert.False(PlotTimeArgument.TryParse(text, DateTimeOffset.UnixEpoch, out _));

    private static string Without(string member)
    {
        JsonObject line = PlotArchives.Synthetic()[1];
        line.Remove(member);
        return line.ToJsonString();
    }

    private static string With(string member, JsonNode value)
    {
        JsonObject line = PlotArchives.Synthetic()[1];
        line[member] = value;
        return line.ToJsonString();
    }

    private static string WithDelay(string member, JsonNode value)
    {
        JsonObject line = PlotArchives.Synthetic()[1];
        line["round_trip_ms"]![member] = value;
        return line.ToJsonString();
    }
}
