using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Ippm.Sessions.Twamp;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;

// Usage: SessionLoad PORT PID SESSIONS RATE SECONDS ROUNDS
// Opens SESSIONS open-mode TWAMP sessions (16 per control connection, connections spread over 127.0.0.2-33) on the
// ippm server listening at 127.0.0.1:PORT with process id PID, measures it idle, drives every session at RATE packets/s
// for SECONDS, stops the sessions, and measures it again once they ended; ROUNDS times. Figures come from /proc/PID.
int port = int.Parse(args[0], CultureInfo.InvariantCulture);
int pid = int.Parse(args[1], CultureInfo.InvariantCulture);
int sessions = int.Parse(args[2], CultureInfo.InvariantCulture);
double rate = double.Parse(args[3], CultureInfo.InvariantCulture);
double seconds = double.Parse(args[4], CultureInfo.InvariantCulture);
int rounds = args.Length > 5 ? int.Parse(args[5], CultureInfo.InvariantCulture) : 1;
const int PerConnection = 16;
const int Sources = 32;
long clockTicks = 100; // sysconf(_SC_CLK_TCK) on Linux

(long Cpu, long RssKiB, int Threads) Sample()
{
    string stat = File.ReadAllText($"/proc/{pid}/stat");
    string[] f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
    long cpu = long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture);
    long rss = 0;
    int threads = 0;
    foreach (string line in File.ReadLines($"/proc/{pid}/status"))
    {
        if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
        {
            rss = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        }
        else if (line.StartsWith("Threads:", StringComparison.Ordinal))
        {
            threads = int.Parse(line.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        }
    }
    return (cpu, rss, threads);
}

var server = new IPEndPoint(IPAddress.Loopback, port);
await Task.Delay(2000);
var baseline = Sample();
Console.WriteLine($"baseline: rss {baseline.RssKiB / 1024.0:0.0} MiB, threads {baseline.Threads}");
for (int round = 1; round <= rounds; round++)
{
    // One UDP socket per source address: the sender port of all that source's sessions.
    var sockets = new Socket[Sources];
    for (int s = 0; s < Sources; s++)
    {
        sockets[s] = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveBufferSize = 8 << 20, SendBufferSize = 8 << 20 };
        sockets[s].Bind(new IPEndPoint(IPAddress.Parse($"127.0.0.{2 + s}"), 0));
        sockets[s].ReceiveTimeout = 200;
    }
    int connections = (sessions + PerConnection - 1) / PerConnection;
    var clients = new TwampControlClient[connections];
    var targets = new List<(int Source, IPEndPoint Reflector)>();
    var setup = Stopwatch.StartNew();
    await Parallel.ForEachAsync(Enumerable.Range(0, connections), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (c, ct) =>
    {
        int source = c % Sources;
        var client = await TwampControlClient.ConnectAsync(server, (uint)SecurityMode.Open, null, null, 32768, ct, localAddress: IPAddress.Parse($"127.0.0.{2 + source}"));
        clients[c] = client;
        int count = Math.Min(PerConnection, sessions - c * PerConnection);
        var mine = new List<(int, IPEndPoint)>();
        for (int k = 0; k < count; k++)
        {
            AcceptSession accept = await client.RequestSessionAsync((IPEndPoint)sockets[source].LocalEndPoint!, 0, 27, TimeSpan.FromSeconds(1), 0, ct);
            if (accept.Accept != AcceptCode.Ok)
            {
                throw new InvalidOperationException($"session refused: Accept={accept.Accept}");
            }
            mine.Add((source, new IPEndPoint(IPAddress.Loopback, accept.Port)));
        }
        await client.StartSessionsAsync(ct);
        lock (targets)
        {
            targets.AddRange(mine);
        }
    });
    Console.WriteLine($"round {round}: {targets.Count} sessions on {connections} connections set up in {setup.Elapsed.TotalSeconds:0.0} s");

    // Idle: sessions open, no packets.
    await Task.Delay(2000);
    var idle0 = Sample();
    var idleWatch = Stopwatch.StartNew();
    await Task.Delay(TimeSpan.FromSeconds(double.Parse(Environment.GetEnvironmentVariable("IDLE_SECONDS") ?? "10", CultureInfo.InvariantCulture)));
    var idle1 = Sample();
    double idleCore = (idle1.Cpu - idle0.Cpu) / (double)clockTicks / idleWatch.Elapsed.TotalSeconds;
    Console.WriteLine($"  idle: {idleCore * 100:0.00} % of a core, rss {idle1.RssKiB / 1024.0:0.0} MiB ({(idle1.RssKiB - baseline.RssKiB) * 1024.0 / targets.Count / 1024:0.0} KiB per session over baseline), threads {idle1.Threads}");

    // Load: every session at RATE packets/s, spread evenly over 10 ms slices.
    long received = 0;
    using var stop = new CancellationTokenSource();
    var readers = sockets.Select(socket => new Thread(() =>
    {
        byte[] buffer = new byte[2048];
        while (!stop.IsCancellationRequested)
        {
            try
            {
                socket.Receive(buffer);
                Interlocked.Increment(ref received);
            }
            catch (SocketException)
            {
            }
        }
    }) { IsBackground = true }).ToList();
    readers.ForEach(t => t.Start());
    long total = (long)(targets.Count * rate * seconds);
    byte[] packet = new byte[41];
    var load0 = Sample();
    var loadWatch = Stopwatch.StartNew();
    long sent = 0;
    int next = 0;
    while (sent < total)
    {
        long due = (long)(loadWatch.Elapsed.TotalSeconds * targets.Count * rate);
        while (sent < Math.Min(due, total))
        {
            var (source, reflector) = targets[next];
            next = (next + 1) % targets.Count;
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(packet, (uint)sent);
            sockets[source].SendTo(packet, reflector);
            sent++;
        }
        Thread.Sleep(2);
    }
    double loadSeconds = loadWatch.Elapsed.TotalSeconds;
    await Task.Delay(1000);
    var load1 = Sample();
    stop.Cancel();
    readers.ForEach(t => t.Join());
    double cpuSeconds = (load1.Cpu - load0.Cpu) / (double)clockTicks;
    long got = Interlocked.Read(ref received);
    Console.WriteLine($"  load: {sent} sent in {loadSeconds:0.0} s ({sent / loadSeconds:0} /s), {got} replies, loss {(sent - got) * 100.0 / sent:0.000} %, " +
        $"server CPU {cpuSeconds:0.00} s = {cpuSeconds * 1e6 / Math.Max(1, got):0.0} µs per reflected packet, rss {load1.RssKiB / 1024.0:0.0} MiB, threads {load1.Threads}");

    // End: Stop-Sessions, close; the reflectors end after their 1 s Timeout.
    foreach (TwampControlClient client in clients)
    {
        await client.StopSessionsAsync(AcceptCode.Ok, CancellationToken.None);
        await client.DisposeAsync();
    }
    foreach (Socket socket in sockets)
    {
        socket.Dispose();
    }
    await Task.Delay(5000);
    var after = Sample();
    Console.WriteLine($"  after end: rss {after.RssKiB / 1024.0:0.0} MiB ({(after.RssKiB - baseline.RssKiB) / 1024.0:+0.0;-0.0} MiB over baseline), threads {after.Threads}");
}
