using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using Ippm.Security;
using Ippm.Sessions.Bench;
using Ippm.Sessions.Time;
using Ippm.Sessions.Transport;
using Ippm.Statistics;
using Ippm.Wire;
using Ippm.Wire.Stamp;

namespace Ippm.Cli;

/// <summary>
/// <c>ippm bench reflector --stamp</c>: the same closed-loop load as the TWAMP reflector benchmark, on a stateless
/// STAMP reflector in a separate process (core 0, as the floor's echo), with 44- or 112-octet base packets, and the
/// kernel floor measured in the same run at the same size.
/// </summary>
internal static class StampBench
{
    public static async Task<int> RunAsync(string modeLetter, string? remote, double seconds, int inFlight, string? floorSource, bool noFloor, bool json, CancellationToken cancellationToken)
    {
        string letter = modeLetter.ToUpperInvariant();
        if (letter is not ("O" or "A"))
        {
            return TwpingCommand.Fail("--stamp takes -A O or -A A.", ExitCodes.Usage);
        }
        bool authenticated = letter == "A";
        if (remote is not null && authenticated)
        {
            return TwpingCommand.Fail("--stamp -A A runs against the local reflector only (it makes the key).", ExitCodes.Usage);
        }
        TimeSpan duration = TimeSpan.FromSeconds(Math.Clamp(seconds, 0.5, 600));
        int window = Math.Clamp(inFlight, 1, 4096);
        int packetLength = StampLayout.BaseLength(authenticated);
        var results = new Dictionary<string, object?>();
        BenchCommand.PinToCore(Process.GetCurrentProcess(), 1);
        double? floorPps = null;
        if (!noFloor)
        {
            if (floorSource is null)
            {
                return TwpingCommand.Fail("udpecho.c not found: pass --floor-source or --no-floor.", ExitCodes.Usage);
            }
            LoadResult floor = await BenchCommand.MeasureFloorAsync(floorSource, packetLength, window, duration, cancellationToken).ConfigureAwait(false);
            floorPps = floor.RepliesPerSecond;
            results["floor_pps"] = Math.Round(floor.RepliesPerSecond);
            results["floor_lost"] = floor.Lost;
        }
        byte[] key = RandomNumberGenerator.GetBytes(32);
        string? keyFile = null;
        Process? child = null;
        try
        {
            IPEndPoint target;
            if (remote is not null)
            {
                target = await EndpointParser.ResolveAsync(remote, StampLayout.DefaultPort, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                int port = BenchCommand.FreeUdpPort();
                ProcessStartInfo info = BenchServerChild.SelfStartInfo();
                foreach (string arg in new[] { "server", "--stamp-listen", $"127.0.0.1:{port}", "--stamp-stateless", "--log-level", "Warning" })
                {
                    info.ArgumentList.Add(arg);
                }
                if (authenticated)
                {
                    keyFile = await BenchServerChild.WritePrivateKeyFileAsync("ippm-bench-stamp", ".keys", KeyFile.FormatLine("*", key), cancellationToken).ConfigureAwait(false);
                    info.ArgumentList.Add("--stamp-keys");
                    info.ArgumentList.Add(keyFile);
                }
                info.RedirectStandardError = true;
                child = Process.Start(info) ?? throw new IOException("cannot start the ippm server");
                child.ErrorDataReceived += (_, _) => { };
                child.BeginErrorReadLine();
                BenchCommand.PinToCore(child, 0);
                target = new IPEndPoint(IPAddress.Loopback, port);
            }
            using var socket = new UdpTestSocket(new IPEndPoint(target.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? IPAddress.IPv6Loopback : IPAddress.Loopback, 0), TimeSpan.FromMilliseconds(100));
            socket.Connect(target);
            using var sendKey = authenticated ? new StampAuthenticator(key) : null;
            SystemClock clock = SystemClock.Instance;
            ClosedLoopLoad.SpanAction fill = (packet, seq) =>
            {
                new StampSenderPacket(seq, clock.Now(), clock.ErrorEstimate, 1).Write(packet, authenticated);
                sendKey?.Sign(packet);
            };
            Func<Span<byte>, double?> processing = reply =>
                StampReflectorPacket.TryRead(reply, authenticated, out StampReflectorPacket p) == OperationStatus.Done
                    ? NtpTimestamp.DifferenceSeconds(p.Timestamp, p.ReceiveTimestamp) : null;
            // Wait until the reflector answers (UDP: no connection to wait for), then warm up and measure.
            for (int attempt = 0; ; attempt++)
            {
                LoadResult probe = await Task.Run(() => ClosedLoopLoad.Run(socket, packetLength, 1, TimeSpan.FromMilliseconds(100), fill, null, cancellationToken), cancellationToken).ConfigureAwait(false);
                if (probe.Received > 0)
                {
                    break;
                }
                if (attempt > 100)
                {
                    throw new IOException("the STAMP reflector does not answer");
                }
            }
            await Task.Run(() => ClosedLoopLoad.Run(socket, packetLength, window, TimeSpan.FromSeconds(0.5), fill, null, cancellationToken), cancellationToken).ConfigureAwait(false);
            await Task.Delay(600, cancellationToken).ConfigureAwait(false);
            child?.Refresh();
            TimeSpan? cpuBefore = child?.TotalProcessorTime;
            LoadResult load = await Task.Run(() => ClosedLoopLoad.Run(socket, packetLength, window, duration, fill, processing, cancellationToken), cancellationToken).ConfigureAwait(false);
            child?.Refresh();
            TimeSpan? cpuAfter = child?.TotalProcessorTime;
            LoadResult unloaded = await Task.Run(() => ClosedLoopLoad.Run(socket, packetLength, 1, TimeSpan.FromSeconds(1), fill, processing, cancellationToken), cancellationToken).ConfigureAwait(false);
            results["protocol"] = "stamp";
            results["mode"] = authenticated ? "authenticated" : "unauthenticated";
            results["reflector"] = remote ?? "local ippm server --stamp-listen --stamp-stateless (separate process)";
            results["packet_size"] = packetLength;
            results["in_flight"] = window;
            results["seconds"] = duration.TotalSeconds;
            results["reflector_pps"] = Math.Round(load.RepliesPerSecond);
            results["reflector_sent"] = load.Sent;
            results["reflector_lost"] = load.Lost;
            results["ratio"] = floorPps is double f && f > 0 ? Math.Round(load.RepliesPerSecond / f, 3) : null;
            results["reflector_cpu_us_per_packet"] = cpuBefore is { } b && cpuAfter is { } a && load.Received > 0 ? Math.Round((a - b).TotalMicroseconds / load.Received, 3) : null;
            results["t3_t2_us"] = BenchCommand.Distribution(DelayStatistics.From(load.ProcessingSeconds));
            results["t3_t2_us_one_in_flight"] = BenchCommand.Distribution(DelayStatistics.From(unloaded.ProcessingSeconds));
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException)
        {
            return TwpingCommand.Fail($"STAMP reflector benchmark failed: {e.Message}", ExitCodes.Refused);
        }
        finally
        {
            if (child is not null)
            {
                if (!child.HasExited)
                {
                    child.Kill();
                    await child.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
                }
                child.Dispose();
            }
            if (keyFile is not null)
            {
                File.Delete(keyFile);
            }
            CryptographicOperations.ZeroMemory(key);
        }
        BenchCommand.Print(results, json);
        return ExitCodes.Success;
    }
}
