using System.Net;
using System.Net.Sockets;
using Ippm.Security;
using Ippm.Sessions.Control;
using Ippm.Wire;
using Ippm.Wire.Control;

namespace Ippm.Tests.Fairness;

/// <summary>A control connection from a chosen 127.0.0.x source address, driven message by message.</summary>
internal sealed class HostileClient : IAsyncDisposable
{
    private HostileClient(TcpClient tcp, ControlChannel channel)
    {
        Tcp = tcp;
        Channel = channel;
    }

    public TcpClient Tcp { get; }
    public ControlChannel Channel { get; }
    public ControlHandshakeResult? Handshake { get; private set; }

    /// <summary>Only the TCP connection: nothing is read or sent.</summary>
    public static async Task<HostileClient> ConnectAsync(string source, IPEndPoint server)
    {
        var tcp = new TcpClient(new IPEndPoint(IPAddress.Parse(source), 0));
        await tcp.ConnectAsync(server);
        return new HostileClient(tcp, new ControlChannel(tcp.GetStream()));
    }

    /// <summary>Connects and completes the handshake in open mode.</summary>
    public static async Task<HostileClient> OpenAsync(string source, IPEndPoint server, ControlProtocol protocol)
    {
        HostileClient client = await ConnectAsync(source, server);
        client.Handshake = await ControlHandshake.ConnectAsync(client.Channel, protocol, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None);
        return client;
    }

    /// <summary>Reads the 64-octet Server-Greeting in clear; null when the server closed first.</summary>
    public async Task<ServerGreeting?> ReadGreetingAsync()
    {
        byte[] buffer = new byte[ServerGreeting.Length];
        int n = await Tcp.GetStream().ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false);
        return n < buffer.Length || ServerGreeting.TryRead(buffer, out ServerGreeting? greeting) != System.Buffers.OperationStatus.Done ? null : greeting;
    }

    /// <summary>Completes when the server closes the connection (reads until end of stream, discarding).</summary>
    public async Task ClosedByServerAsync()
    {
        byte[] sink = new byte[256];
        try
        {
            while (await Tcp.GetStream().ReadAsync(sink) > 0)
            {
            }
        }
        catch (IOException)
        {
        }
    }

    public async Task<AcceptSession> RequestOwampAsync(SessionRequest request, ScheduleSlot[] slots)
    {
        byte[] message = new byte[SessionRequest.Length];
        (request with { Command = CommandNumber.RequestSession, ScheduleSlotCount = (uint)slots.Length }).Write(message);
        byte[] slotSection = new byte[slots.Length * ScheduleSlot.Length + ControlStreamCipher.HmacLength];
        for (int i = 0; i < slots.Length; i++)
        {
            slots[i].Write(slotSection.AsSpan(i * ScheduleSlot.Length));
        }
        await Channel.SendMessageAsync(message, CancellationToken.None);
        await Channel.SendMessageAsync(slotSection, CancellationToken.None);
        return await ReadAcceptAsync();
    }

    public async Task<AcceptSession> RequestTwampAsync(SessionRequest request)
    {
        byte[] message = new byte[SessionRequest.Length];
        (request with { Command = CommandNumber.RequestTwSession }).Write(message);
        await Channel.SendMessageAsync(message, CancellationToken.None);
        return await ReadAcceptAsync();
    }

    public async Task StartSessionsAsync()
    {
        byte[] message = new byte[StartSessions.Length];
        new StartSessions().Write(message);
        await Channel.SendMessageAsync(message, CancellationToken.None);
        byte[] ack = new byte[StartAck.Length];
        await Channel.ReadMessageAsync(ack, 0, CancellationToken.None);
    }

    private async Task<AcceptSession> ReadAcceptAsync()
    {
        byte[] answer = new byte[AcceptSession.Length];
        await Channel.ReadMessageAsync(answer, 0, CancellationToken.None);
        AcceptSession.TryRead(answer, out AcceptSession? accept);
        return accept!;
    }

    public async ValueTask DisposeAsync()
    {
        Handshake?.Dispose();
        await Channel.DisposeAsync();
        Tcp.Dispose();
    }
}
