using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Ippm.Security;
using Ippm.Sessions.Control;
using Ippm.Sessions.Twamp;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;

namespace Ippm.Sessions.Bench;

/// <summary>
/// <c>ippm bench sessions</c>: sets up many real TWAMP sessions (TWAMP-Control over TCP: Request-TW-Session,
/// Accept-Session, Start-Sessions; test packets over UDP) from many source addresses, as a mesh server's peers
/// would, drives them at a fixed rate each and reads the server's CPU time, memory and threads from /proc
/// (<see cref="ProcFs"/>). The packets go through <see cref="SessionsLoadDriver"/>: two threads however many sessions.
/// </summary>
public static class SessionsLoad
{
    /// <summary>Timeout asked for in Request-TW-Session: how long a reflector lingers after Stop-Sessions.</summary>
    private static readonly TimeSpan s_sessionTimeout = TimeSpan.FromSeconds(2);

    private static readonly TimeSpan s_connectionBound = TimeSpan.FromSeconds(60);

    private sealed class Connection(TwampControlClient client) : IAsyncDisposable
    {
        public TwampControlClient Client { get; } = client;
        public List<(Socket Socket, TestPacketCipher? Cipher)> Sessions { get; } = [];

        public async ValueTask DisposeAsync()
        {
            foreach ((Socket socket, TestPacketCipher? cipher) in Sessions)
            {
                socket.Dispose();
                cipher?.Dispose();
            }
            await Client.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Runs every round; <paramref name="progress"/> hears one line per phase.</summary>
    public static async Task<IReadOnlyList<SessionsRound>> RunAsync(SessionsLoadOptions options, Action<string>? progress, CancellationToken cancellationToken)
    {
        if (!OperatingSystem.IsLinux() || !Transport.NativeAbi.Usable)
        {
            throw new PlatformNotSupportedException("bench sessions needs Linux on x86-64 or arm64 (epoll, /proc)");
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Sessions, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Sources.Count, 1);
        var rounds = new List<SessionsRound>();
        int perConnection = Math.Max(1, options.MaxSessionsPerConnection);
        for (int round = 1; round <= Math.Max(1, options.Rounds); round++)
        {
            (SessionsRound result, perConnection) = await RunRoundAsync(options, round, perConnection, progress, cancellationToken).ConfigureAwait(false);
            rounds.Add(result);
        }
        return rounds;
    }

    private static async Task<(SessionsRound, int)> RunRoundAsync(
        SessionsLoadOptions options, int round, int perConnection, Action<string>? progress, CancellationToken cancellationToken)
    {
        ProcessSample? before = Sample(options.ServerPid);
        var refusals = new ConcurrentDictionary<string, int>();
        var connections = new List<Connection>();
        bool protectedLayout = options.Mode.ProtectsTestPackets();
        int packetLength = TestPacketLayout.ReflectorHeader(protectedLayout);
        using var driver = new SessionsLoadDriver(packetLength) { BatchScheduling = options.BatchScheduling };
        try
        {
            progress?.Invoke($"round {round}: setting up {options.Sessions} sessions from {options.Sources.Count} source address(es)");
            var setup = Stopwatch.StartNew();

            // The first connection alone: it learns how many sessions the server allows on one connection.
            int remaining = options.Sessions;
            (Connection? first, AcceptCode? firstRefusal) = await OpenAsync(options, options.Sources[0], Math.Min(perConnection, remaining), packetLength, refusals, cancellationToken).ConfigureAwait(false);
            if (first is not null)
            {
                connections.Add(first);
                remaining -= first.Sessions.Count;
                if (firstRefusal == AcceptCode.PermanentResourceLimitation && first.Sessions.Count < perConnection)
                {
                    perConnection = first.Sessions.Count;
                }
                else if (firstRefusal is not null)
                {
                    // Refused for another reason (a per-source share, ports): what was asked is not retried.
                    remaining -= Math.Min(perConnection, options.Sessions) - first.Sessions.Count;
                }
            }
            else
            {
                remaining -= Math.Min(perConnection, remaining);
            }

            var plan = new List<(IPAddress Source, int Count)>();
            for (int i = 1; remaining > 0; i++)
            {
                int count = Math.Min(perConnection, remaining);
                plan.Add((options.Sources[i % options.Sources.Count], count));
                remaining -= count;
            }
            using var slots = new SemaphoreSlim(Math.Max(1, options.ParallelConnections));
            var opened = new ConcurrentBag<Connection>();
            await Task.WhenAll(plan.Select(async p =>
            {
                await slots.WaitAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    (Connection? connection, _) = await OpenAsync(options, p.Source, p.Count, packetLength, refusals, cancellationToken).ConfigureAwait(false);
                    if (connection is not null)
                    {
                        opened.Add(connection);
                    }
                }
                finally
                {
                    slots.Release();
                }
            })).ConfigureAwait(false);
            connections.AddRange(opened);
            foreach (Connection connection in connections)
            {
                foreach ((Socket socket, TestPacketCipher? cipher) in connection.Sessions)
                {
                    driver.Add(socket, ClosedLoopLoad.TwampSender(options.Mode, cipher));
                }
            }
            double setupSeconds = setup.Elapsed.TotalSeconds;
            progress?.Invoke($"round {round}: {driver.Count} sessions on {connections.Count} connections in {setupSeconds:0.0} s; idle for {options.IdleDuration.TotalSeconds:0.#} s");

            // Idle: every session started, no packets.
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
            ProcessSample? idleStart = Sample(options.ServerPid);
            var idleClock = Stopwatch.StartNew();
            await Task.Delay(options.IdleDuration, cancellationToken).ConfigureAwait(false);
            ProcessSample? idle = Sample(options.ServerPid);
            double? idlePercent = idleStart is { } i0 && idle is { } i1
                ? ProcFs.TicksToMicroseconds(i1.CpuTicks - i0.CpuTicks) / idleClock.Elapsed.TotalMicroseconds * 100
                : null;

            progress?.Invoke($"round {round}: driving {driver.Count} sessions at {options.Rate} packets/s each for {options.Duration.TotalSeconds:0.#} s");
            driver.StartReceiving();
            DriveResult drive = await DriveAsync(driver, options, options.ServerPid, cancellationToken).ConfigureAwait(false);
            driver.StopReceiving();
            (long sent, long received) = (drive.Sent, drive.Received);

            progress?.Invoke($"round {round}: {sent} sent, {received} received; tearing down");
            int sessionsSetUp = driver.Count, connectionCount = connections.Count;
            await TearDownAsync(connections, options.ParallelConnections).ConfigureAwait(false);
            connections.Clear();
            driver.Dispose();
            ProcessSample? after = await WaitForServerToSettleAsync(options.ServerPid, before, cancellationToken).ConfigureAwait(false);
            FloorDrive? floor = null;
            if (options.FloorEcho is FloorEchoTarget echo && sessionsSetUp > 0)
            {
                progress?.Invoke($"round {round}: the same load ({sessionsSetUp} flows) on the kernel's floor, a plain UDP echo");
                floor = await DriveFloorAsync(options, echo, sessionsSetUp, perConnection, packetLength, cancellationToken).ConfigureAwait(false);
            }

            return (new SessionsRound
            {
                Round = round,
                SessionsSetUp = sessionsSetUp,
                Connections = connectionCount,
                SessionsPerConnection = perConnection,
                Refusals = new SortedDictionary<string, int>(refusals, StringComparer.Ordinal),
                SetupSeconds = setupSeconds,
                Sent = sent,
                SendFailed = drive.Failed,
                Received = received,
                DriveSeconds = drive.Seconds,
                ServerCpuMicrosecondsPerPacket = drive.ServerCpu,
                MachineCpuMicrosecondsPerPacket = drive.MachineCpu,
                ClientCpuMicrosecondsPerPacket = drive.ClientCpu,
                IdleCpuPercentOfCore = idlePercent,
                Before = before,
                Idle = idle,
                Driven = drive.ServerAfter,
                After = after,
                Floor = floor,
            }, perConnection);
        }
        finally
        {
            await TearDownAsync(connections, options.ParallelConnections).ConfigureAwait(false);
        }
    }

    private static ProcessSample? Sample(int? pid) => pid is int p ? ProcFs.ReadProcess(p) : null;

    /// <summary>What one drive measured; CPU figures per received packet.</summary>
    private sealed record DriveResult(long Sent, long Failed, long Received, double Seconds, double? ServerCpu, double? ClientCpu, double? MachineCpu, ProcessSample? ServerAfter);

    /// <summary>
    /// Sends the load on every socket of <paramref name="driver"/> (already receiving), waits for the last replies (at
    /// most 2 s) and reads the CPU time <paramref name="serverPid"/>, this process and the machine spent meanwhile.
    /// </summary>
    private static async Task<DriveResult> DriveAsync(SessionsLoadDriver driver, SessionsLoadOptions options, int? serverPid, CancellationToken cancellationToken)
    {
        ProcessSample? server0 = Sample(serverPid);
        ProcessSample? own0 = ProcFs.ReadProcess(Environment.ProcessId);
        MachineSample? machine0 = ProcFs.ReadMachine();
        var clock = Stopwatch.StartNew();
        (long sent, long failed) = await driver.SendAsync(options.Rate, options.Duration, cancellationToken).ConfigureAwait(false);
        var drain = Stopwatch.StartNew();
        while (driver.Received < sent && drain.Elapsed < TimeSpan.FromSeconds(2))
        {
            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }
        double seconds = clock.Elapsed.TotalSeconds;
        ProcessSample? server1 = Sample(serverPid);
        ProcessSample? own1 = ProcFs.ReadProcess(Environment.ProcessId);
        MachineSample? machine1 = ProcFs.ReadMachine();
        long received = driver.Received;

        double? PerPacket(long ticks) => received > 0 ? ProcFs.TicksToMicroseconds(ticks) / received : null;
        double? serverCpu = server0 is { } s0 && server1 is { } s1 ? PerPacket(s1.CpuTicks - s0.CpuTicks) : null;
        double? clientCpu = own0 is { } o0 && own1 is { } o1 ? PerPacket(o1.CpuTicks - o0.CpuTicks) : null;
        double? machineCpu = machine0 is { } m0 && machine1 is { } m1 && own0 is { } c0 && own1 is { } c1
            ? PerPacket(m1.BusyTicks - m0.BusyTicks - (c1.CpuTicks - c0.CpuTicks))
            : null;
        return new DriveResult(sent, failed, received, seconds, serverCpu, clientCpu, machineCpu, server1);
    }

    /// <summary>
    /// The round's load on the echo: <paramref name="flows"/> connected sockets, spread over the sources as the
    /// sessions' control connections were (<paramref name="perConnection"/> a source in turn), packets of the
    /// sessions' length at the same rate for as long.
    /// </summary>
    private static async Task<FloorDrive> DriveFloorAsync(
        SessionsLoadOptions options, FloorEchoTarget echo, int flows, int perConnection, int packetLength, CancellationToken cancellationToken)
    {
        using var driver = new SessionsLoadDriver(packetLength) { BatchScheduling = options.BatchScheduling };
        for (int i = 0; i < flows; i++)
        {
            IPAddress source = options.Sources[i / Math.Max(1, perConnection) % options.Sources.Count];
            var socket = new Socket(source.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            try
            {
                socket.Bind(new IPEndPoint(source, 0));
                socket.Connect(echo.EndPoint);
                driver.Add(socket, ClosedLoopLoad.SequenceOnly);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
        driver.StartReceiving();
        DriveResult drive = await DriveAsync(driver, options, echo.Pid, cancellationToken).ConfigureAwait(false);
        driver.StopReceiving();
        return new FloorDrive { Sent = drive.Sent, Received = drive.Received, CpuMicrosecondsPerPacket = drive.ServerCpu };
    }

    /// <summary>
    /// One control connection from <paramref name="source"/> with up to <paramref name="wanted"/> sessions, started;
    /// null when the server refused the connection or every session. Returns the Accept code that ended the requests early.
    /// </summary>
    private static async Task<(Connection?, AcceptCode?)> OpenAsync(
        SessionsLoadOptions options, IPAddress source, int wanted, int packetLength, ConcurrentDictionary<string, int> refusals, CancellationToken cancellationToken)
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bound.CancelAfter(s_connectionBound);
        TwampControlClient client;
        try
        {
            client = await TwampControlClient.ConnectAsync(
                options.Server, (uint)options.Mode, options.Identity, options.Secret, ControlHandshake.DefaultMaxCount, bound.Token, localAddress: source).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ControlProtocolException or SocketException or IOException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            refusals.AddOrUpdate("connection: " + e.Message, 1, (_, n) => n + 1);
            return (null, null);
        }
        var connection = new Connection(client);
        AcceptCode? refusal = null;
        try
        {
            if (client.Mode != options.Mode)
            {
                throw new ControlProtocolException($"the server did not accept mode {options.Mode.Name()}");
            }
            client.ReplyTimeout = TimeSpan.FromSeconds(20);
            int padding = packetLength - TestPacketLayout.SenderHeader(options.Mode.ProtectsTestPackets());
            for (int i = 0; i < wanted; i++)
            {
                var socket = new Socket(source.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
                try
                {
                    socket.Bind(new IPEndPoint(source, 0));
                    AcceptSession accept = await client.RequestSessionAsync((IPEndPoint)socket.LocalEndPoint!, 0, (uint)padding, s_sessionTimeout, 0, bound.Token).ConfigureAwait(false);
                    if (accept.Accept != AcceptCode.Ok)
                    {
                        refusals.AddOrUpdate($"Accept={(byte)accept.Accept}", 1, (_, n) => n + 1);
                        refusal = accept.Accept;
                        socket.Dispose();
                        break;
                    }
                    socket.Connect(new IPEndPoint(client.RemoteEndPoint.Address, accept.Port));
                    TestPacketCipher? cipher = options.Mode.ProtectsTestPackets() ? TestPacketCipher.Create(options.Mode, client.Handshake.Keys!, accept.Sid) : null;
                    connection.Sessions.Add((socket, cipher));
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            }
            if (connection.Sessions.Count == 0)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                return (null, refusal);
            }
            await client.StartSessionsAsync(bound.Token).ConfigureAwait(false);
            return (connection, refusal);
        }
        catch (Exception e) when (e is ControlProtocolException or SocketException or IOException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            refusals.AddOrUpdate("connection: " + e.Message, 1, (_, n) => n + 1);
            await connection.DisposeAsync().ConfigureAwait(false);
            return (null, refusal);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Stop-Sessions on every connection, then closes them (bounded: 10 s per connection).</summary>
    private static async Task TearDownAsync(List<Connection> connections, int parallel)
    {
        using var slots = new SemaphoreSlim(Math.Max(1, parallel));
        await Task.WhenAll(connections.Select(async connection =>
        {
            await slots.WaitAsync().ConfigureAwait(false);
            try
            {
                using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await connection.Client.StopSessionsAsync(AcceptCode.Ok, bound.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ControlProtocolException or SocketException or IOException or OperationCanceledException or ObjectDisposedException)
            {
                // The connection is closed below either way; the server ends its sessions with it.
            }
            finally
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                slots.Release();
            }
        })).ConfigureAwait(false);
        connections.Clear();
    }

    /// <summary>
    /// After teardown: waits (at most 20 s) for the server's threads to come back near their number before set-up,
    /// then one second more, and samples what is left.
    /// </summary>
    private static async Task<ProcessSample?> WaitForServerToSettleAsync(int? pid, ProcessSample? before, CancellationToken cancellationToken)
    {
        if (pid is not int p)
        {
            return null;
        }
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(20)
            && ProcFs.ReadProcess(p) is { } now && before is { } b && now.Threads > b.Threads + 2)
        {
            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        }
        await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
        return ProcFs.ReadProcess(p);
    }
}
