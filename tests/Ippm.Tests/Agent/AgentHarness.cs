using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Ippm.Agent;
using Ippm.Tests.Loopback;

namespace Ippm.Tests.Agent;

/// <summary>Helpers of the agent tests: a config file in a temporary directory, the archive read back, closed ports, waiting on attempts.</summary>
internal sealed class AgentHarness : IDisposable
{
    public AgentHarness()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("ippm-agent-").FullName;
        KeyFile = Path.Combine(Directory, "alice.pfs");
        File.WriteAllText(KeyFile, global::Ippm.Security.KeyFile.FormatLine(TestServer.Identity, TestServer.Passphrase) + "\n");
    }

    public string Directory { get; }
    public string KeyFile { get; }
    public string ConfigPath => Path.Combine(Directory, "agent.conf");
    public string ArchivePath => Path.Combine(Directory, "agent.jsonl");
    public string PacketsPath => Path.Combine(Directory, "agent.packets.jsonl");

    public AgentConfig Write(string text)
    {
        File.WriteAllText(ConfigPath, text);
        return AgentConfigFile.Load(ConfigPath);
    }

    private readonly List<Socket> _closedPorts = [];

    /// <summary>
    /// A TCP port on 127.0.0.1 where nothing listens until the harness is disposed: bound by a socket that never listens
    /// (connections are refused), so no other program can take it meanwhile.
    /// </summary>
    public int ClosedPort()
    {
        var holder = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        holder.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _closedPorts.Add(holder);
        return ((IPEndPoint)holder.LocalEndPoint!).Port;
    }

    /// <summary>Every line of the archive (rotated files first, oldest first), parsed.</summary>
    public List<JsonElement> Lines(string? path = null)
    {
        path ??= ArchivePath;
        var files = System.IO.Directory.GetFiles(Path.GetDirectoryName(path)!)
            .Where(f => f.StartsWith(path + ".", StringComparison.Ordinal) && int.TryParse(f[(path.Length + 1)..], out _))
            .OrderByDescending(f => int.Parse(f[(path.Length + 1)..], CultureInfo.InvariantCulture))
            .Append(path)
            .Where(File.Exists);
        var lines = new List<JsonElement>();
        foreach (string file in files)
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            // Only lines the agent has finished (newline-terminated): a running agent may be writing the next one.
            string[] complete = reader.ReadToEnd().Split('\n');
            foreach (string line in complete.SkipLast(1))
            {
                lines.Add(JsonDocument.Parse(line).RootElement.Clone());
            }
        }
        return lines;
    }

    public static DateTimeOffset Time(JsonElement line, string member)
    {
        string text = line.GetProperty(member).GetString()!;
        Assert.EndsWith("Z", text);
        return DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
    }

    /// <summary>Waits (bounded) until every named test has made at least its number of attempts.</summary>
    public static async Task UntilAttemptsAsync(MeasurementAgent agent, TimeSpan bound, params (string Test, int Attempts)[] wanted)
    {
        using var timeout = new CancellationTokenSource(bound);
        while (!wanted.All(w => agent.Attempts(w.Test) >= w.Attempts))
        {
            if (timeout.IsCancellationRequested)
            {
                Assert.Fail("attempts so far: " + string.Join(", ", wanted.Select(w => $"{w.Test} {agent.Attempts(w.Test)}/{w.Attempts}")));
            }
            await Task.Delay(20, CancellationToken.None);
        }
    }

    /// <summary>Waits (bounded) until the archive holds a line <paramref name="wanted"/> accepts.</summary>
    public async Task UntilArchivedAsync(TimeSpan bound, string what, Func<JsonElement, bool> wanted)
    {
        using var timeout = new CancellationTokenSource(bound);
        while (!Lines().Any(wanted))
        {
            if (timeout.IsCancellationRequested)
            {
                Assert.Fail($"the archive never held {what}; it holds:\n" + string.Join("\n", Lines()));
            }
            await Task.Delay(20, CancellationToken.None);
        }
    }

    public void Dispose()
    {
        foreach (Socket holder in _closedPorts)
        {
            holder.Dispose();
        }
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}
