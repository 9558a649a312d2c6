using System.Diagnostics;
using System.Globalization;
using System.Net;
using Ippm.Security;
using Ippm.Sessions.Bench;
using Ippm.Sessions.Transport;
using Ippm.Sessions.Twamp;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;

namespace Ippm.Cli;

/// <summary>
/// The C echo of <c>../shared/tools/udp-floor</c> in its own process, pinned to core 0, kept running so that short
/// floor rounds can alternate with reflector rounds.
/// </summary>
internal sealed class FloorEcho : IAsyncDisposable
{
    private readonly Process _echo;
    private readonly UdpTestSocket _socket;
    private readonly int _packetLength;
    private readonly int _window;

    private FloorEcho(Process echo, UdpTestSocket socket, int packetLength, int window)
    {
        _echo = echo;
        _socket = socket;
        _packetLength = packetLength;
        _window = window;
    }

    /// <summary>Compiles and starts the echo and warms the path up (0.5 s of load).</summary>
    public static async Task<FloorEcho> StartAsync(string source, int packetLength, int window, CancellationToken cancellationToken)
    {
        (Process echo, int port) = await BenchCommand.StartFloorEchoAsync(source, cancellationToken).ConfigureAwait(false);
        UdpTestSocket? socket = null;
        try
        {
            BenchCommand.PinToCore(echo, 0);
            socket = new UdpTestSocket(new IPEndPoint(IPAddress.Loopback, 0), TimeSpan.FromMilliseconds(100));
            socket.Connect(new IPEndPoint(IPAddress.Loopback, port));
            var floor = new FloorEcho(echo, socket, packetLength, window);
            await floor.MeasureAsync(TimeSpan.FromSeconds(0.5), cancellationToken).ConfigureAwait(false);
            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
            return floor;
        }
        catch
        {
            socket?.Dispose();
            echo.Kill();
            echo.Dispose();
            throw;
        }
    }

    /// <summary>One closed-loop round on the echo, with the echo process's CPU time per echoed packet.</summary>
    public async Task<LoadRound> MeasureAsync(TimeSpan duration, CancellationToken cancellationToken)
    {
        ProcessSample? before = ProcFs.ReadProcess(_echo.Id);
        LoadResult load = await Task.Run(() => ClosedLoopLoad.Run(_socket, _packetLength, _window, duration, ClosedLoopLoad.SequenceOnly, null, cancellationToken), cancellationToken).ConfigureAwait(false);
        ProcessSample? after = ProcFs.ReadProcess(_echo.Id);
        double? cpuPerPacket = before is { } b && after is { } a && load.Received > 0 ? ProcFs.TicksToMicroseconds(a.CpuTicks - b.CpuTicks) / load.Received : null;
        return new LoadRound(load, cpuPerPacket);
    }

    public async ValueTask DisposeAsync()
    {
        _socket.Dispose();
        if (!_echo.HasExited)
        {
            _echo.Kill();
        }
        await _echo.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        _echo.Dispose();
    }
}

/// <summary>One round of closed-loop load: its result and the CPU time per reflected packet of the process that answered (a local server, the floor's echo).</summary>
internal sealed record LoadRound(LoadResult Load, double? CpuMicrosecondsPerPacket);

/// <summary>
/// A running TWAMP test session with a reflector (control connection, Request-TW-Session, Start-Sessions) that
/// closed-loop rounds are run against, one after another, until it is disposed (Stop-Sessions).
/// </summary>
internal sealed class ReflectorSession : IAsyncDisposable
{
    private readonly TwampControlClient _client;
    private readonly UdpTestSocket _socket;
    private readonly TestPacketCipher? _sendCipher;
    private readonly TestPacketCipher? _receiveCipher;
    private readonly SecurityMode _mode;
    private readonly int _packetLength;
    private readonly int _window;
    private readonly BenchServerChild? _child;

    private ReflectorSession(TwampControlClient client, UdpTestSocket socket, TestPacketCipher? sendCipher, TestPacketCipher? receiveCipher, SecurityMode mode, int packetLength, int window, BenchServerChild? child)
    {
        _client = client;
        _socket = socket;
        _sendCipher = sendCipher;
        _receiveCipher = receiveCipher;
        _mode = mode;
        _packetLength = packetLength;
        _window = window;
        _child = child;
    }

    /// <summary>Sets up and starts the session, then warms it up (0.5 s of load: JIT, caches).</summary>
    public static async Task<ReflectorSession> OpenAsync(
        IPEndPoint target, SecurityMode mode, string? identity, byte[]? secret, int packetLength, int window, BenchServerChild? child, CancellationToken cancellationToken)
    {
        TwampControlClient client = await TwampControlClient.ConnectAsync(
            target, (uint)mode, identity, secret, Ippm.Sessions.Control.ControlHandshake.DefaultMaxCount, cancellationToken).ConfigureAwait(false);
        UdpTestSocket? socket = null;
        try
        {
            if (client.Mode != mode)
            {
                throw new Ippm.Sessions.Control.ControlProtocolException($"the server did not accept mode {mode.Name()}");
            }
            socket = new UdpTestSocket(new IPEndPoint(client.LocalEndPoint.Address, 0), TimeSpan.FromMilliseconds(100));
            int padding = packetLength - TestPacketLayout.SenderHeader(mode.ProtectsTestPackets());
            AcceptSession accept = await client.RequestSessionAsync(socket.LocalEndPoint, 0, (uint)padding, TimeSpan.FromSeconds(1), 0, cancellationToken).ConfigureAwait(false);
            if (accept.Accept != AcceptCode.Ok)
            {
                throw new Ippm.Sessions.Control.ControlProtocolException($"Request-TW-Session refused with Accept={(byte)accept.Accept}");
            }
            socket.Connect(new IPEndPoint(client.RemoteEndPoint.Address, accept.Port));
            await client.StartSessionsAsync(cancellationToken).ConfigureAwait(false);
            TestPacketCipher? sendCipher = mode.ProtectsTestPackets() ? TestPacketCipher.Create(mode, client.Handshake.Keys!, accept.Sid) : null;
            TestPacketCipher? receiveCipher = mode.ProtectsTestPackets() ? TestPacketCipher.Create(mode, client.Handshake.Keys!, accept.Sid) : null;
            var session = new ReflectorSession(client, socket, sendCipher, receiveCipher, mode, packetLength, window, child);
            await Task.Run(
                () => ClosedLoopLoad.Run(socket, packetLength, window, TimeSpan.FromSeconds(0.5), ClosedLoopLoad.TwampSender(mode, sendCipher), null, cancellationToken),
                cancellationToken).ConfigureAwait(false);
            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
            return session;
        }
        catch
        {
            socket?.Dispose();
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>One round of the closed-loop load with the reflector's CPU time read around it.</summary>
    public async Task<LoadRound> MeasureAsync(TimeSpan duration, CancellationToken cancellationToken)
    {
        TimeSpan? cpuBefore = _child?.CpuTime();
        LoadResult load = await Task.Run(
            () => ClosedLoopLoad.Run(_socket, _packetLength, _window, duration, ClosedLoopLoad.TwampSender(_mode, _sendCipher), ClosedLoopLoad.TwampProcessingTime(_mode, _receiveCipher), cancellationToken),
            cancellationToken).ConfigureAwait(false);
        TimeSpan? cpuAfter = _child?.CpuTime();
        double? cpuPerPacket = cpuBefore is { } b && cpuAfter is { } a && load.Received > 0 ? (a - b).TotalMicroseconds / load.Received : null;
        return new LoadRound(load, cpuPerPacket);
    }

    /// <summary>One packet in flight for a second: T3 − T2 without queueing in the socket buffer.</summary>
    public Task<LoadResult> MeasureUnloadedAsync(CancellationToken cancellationToken) => Task.Run(
        () => ClosedLoopLoad.Run(_socket, _packetLength, 1, TimeSpan.FromSeconds(1), ClosedLoopLoad.TwampSender(_mode, _sendCipher), ClosedLoopLoad.TwampProcessingTime(_mode, _receiveCipher), cancellationToken),
        cancellationToken);

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _client.StopSessionsAsync(AcceptCode.Ok, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or Ippm.Sessions.Control.ControlProtocolException)
        {
            // The figures are taken; a server that went away at the end changes none of them.
        }
        _sendCipher?.Dispose();
        _receiveCipher?.Dispose();
        _socket.Dispose();
        await _client.DisposeAsync().ConfigureAwait(false);
    }
}
