using System.Net;
using System.Net.Sockets;
using Ippm.Sessions.Control;
using Ippm.Sessions.Twamp;
using Ippm.Wire;
using Ippm.Wire.Control;

namespace Ippm.Tests.Loopback;

/// <summary>
/// twping against a server that greets like any O/TWAMP server but answers Request-TW-Session (command 5) the way
/// perfSONAR's owampd answers an unknown command: one block read, then Accept-Session with Accept=3.
/// </summary>
public sealed class WrongProtocolTests
{
    private static async Task ScriptedOwampServerAsync(TcpListener listener, uint greetingModes)
    {
        using TcpClient client = await listener.AcceptTcpClientAsync();
        NetworkStream stream = client.GetStream();
        byte[] greeting = new byte[ServerGreeting.Length];
        new ServerGreeting(greetingModes, new byte[16], new byte[16], 1024).Write(greeting);
        await stream.WriteAsync(greeting);
        await stream.ReadExactlyAsync(new byte[SetUpResponse.Length]);
        byte[] start = new byte[ServerStart.Length];
        new ServerStart(AcceptCode.Ok, new byte[16], default).Write(start);
        await stream.WriteAsync(start);
        await stream.ReadExactlyAsync(new byte[16]);
        byte[] accept = new byte[AcceptSession.Length];
        new AcceptSession(AcceptCode.NotSupported, 0, default).Write(accept);
        await stream.WriteAsync(accept);
        // Keep the connection until the client goes.
        _ = await stream.ReadAsync(new byte[64]);
    }

    [Fact]
    public async Task AcceptThreeFromAServerWithoutMixedMode_SuggestsItIsOwamp()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var server = (IPEndPoint)listener.LocalEndpoint;
        Task script = ScriptedOwampServerAsync(listener, (uint)SecurityMode.Open);

        var refused = await Assert.ThrowsAsync<ControlProtocolException>(
            () => TwampMeasurement.RunAsync(new TwpingOptions { Server = server, Count = 3 }, CancellationToken.None).DefaultTimeout());

        Assert.Equal(AcceptCode.NotSupported, refused.Accept);
        Assert.Contains("Accept=3", refused.Message, StringComparison.Ordinal);
        Assert.Contains($"If the server at {server} is an OWAMP server (port 861), it does not speak TWAMP.", refused.Message, StringComparison.Ordinal);
        await script.DefaultTimeout();
    }

    [Fact]
    public async Task AcceptThreeFromAServerOfferingMixedMode_IsAPlainRefusal()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var server = (IPEndPoint)listener.LocalEndpoint;
        Task script = ScriptedOwampServerAsync(listener, (uint)(SecurityMode.Open | SecurityMode.Mixed));

        var refused = await Assert.ThrowsAsync<ControlProtocolException>(
            () => TwampMeasurement.RunAsync(new TwpingOptions { Server = server, Count = 3 }, CancellationToken.None).DefaultTimeout());

        Assert.Contains("Accept=3", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("OWAMP", refused.Message, StringComparison.Ordinal);
        await script.DefaultTimeout();
    }
}
