using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Ippm.Security;
using Ippm.Sessions.Control;
using Ippm.Sessions.Twamp;
using Ippm.Tests.Loopback;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;

namespace Ippm.Tests.TwampExtensions;

/// <summary>
/// RFC 6038 on the wire: the test is the Session-Sender itself, with a plain UDP socket, so the sizes asserted are the
/// datagram sizes the kernel delivered, not what ippm's sender code believes it sent.
/// </summary>
public sealed class ReflectOctetsSymmetricalSizeTests
{
    private sealed class RawSender : IAsyncDisposable
    {
        private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);

        public required TwampControlClient Client { get; init; }
        public AcceptSession Accept { get; private set; } = null!;
        public TestPacketCipher? Cipher { get; private set; }

        public static async Task<RawSender> OpenAsync(TestServer server, SecurityMode mode, uint features, uint padding, ushort reflect, ushort replyPadding)
        {
            TwampControlClient client = await TwampControlClient.ConnectAsync(
                server.TwampEndPoint, (uint)mode, TestServer.Identity, TestServer.Passphrase, ControlHandshake.DefaultMaxCount, features, CancellationToken.None).DefaultTimeout();
            var sender = new RawSender { Client = client };
            sender._socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            sender._socket.ReceiveTimeout = 5000;
            sender.Accept = await client.RequestSessionAsync(
                (IPEndPoint)sender._socket.LocalEndPoint!, 0, padding, TimeSpan.FromSeconds(1), 0, CancellationToken.None, reflect, replyPadding).DefaultTimeout();
            Assert.Equal(AcceptCode.Ok, sender.Accept.Accept);
            sender._socket.Connect(new IPEndPoint(IPAddress.Loopback, sender.Accept.Port));
            if (mode.ProtectsTestPackets())
            {
                sender.Cipher = TestPacketCipher.Create(mode, client.Handshake.Keys!, sender.Accept.Sid);
            }
            await client.StartSessionsAsync(CancellationToken.None).DefaultTimeout();
            return sender;
        }

        /// <summary>Sends one packet of <paramref name="header"/> + padding; returns the reply as received (decrypted when protected).</summary>
        public byte[] Exchange(uint seq, int header, int hmacOffset, byte[] padding)
        {
            byte[] packet = new byte[header + padding.Length];
            BinaryPrimitives.WriteUInt32BigEndian(packet, seq);
            new NtpTimestamp(0xeeb54d93_80000000).Write(packet.AsSpan(Cipher is null ? 4 : 16));
            new ErrorEstimate(0x8001).Write(packet.AsSpan(Cipher is null ? 12 : 24));
            padding.CopyTo(packet, header);
            Cipher?.Protect(packet, hmacOffset);
            Assert.Equal(packet.Length, _socket.Send(packet));
            byte[] buffer = new byte[70000];
            int length = _socket.Receive(buffer);
            byte[] reply = buffer[..length];
            if (Cipher is not null)
            {
                Assert.True(Cipher.TryUnprotect(reply, TestPacketLayout.ReflectorHmacOffset), "the reply's HMAC verifies");
            }
            return reply;
        }

        public async ValueTask DisposeAsync()
        {
            Cipher?.Dispose();
            _socket.Dispose();
            await Client.DisposeAsync();
        }
    }

    private static byte[] Pattern(int length) => Enumerable.Range(0, length).Select(i => (byte)(0x30 + i)).ToArray();

    [Theory]
    [InlineData(SecurityMode.Open, 41)]
    [InlineData(SecurityMode.Mixed, 41)]
    [InlineData(SecurityMode.Authenticated, 112)]
    [InlineData(SecurityMode.Encrypted, 112)]
    public async Task SymmetricalSize_RepliesExactlyTheSenderSize(SecurityMode mode, int header)
    {
        await using var server = new TestServer();
        await using RawSender s = await RawSender.OpenAsync(server, mode, (uint)TwampModes.SymmetricalSize, 100, 0, 0);
        Assert.Equal(TwampModes.SymmetricalSize, s.Client.Features);

        foreach (int padding in new[] { 100, 0, 7 })
        {
            byte[] reply = s.Exchange(3, header, TestPacketLayout.ReflectorHmacOffset, Pattern(padding));
            Assert.Equal(header + padding, reply.Length); // RFC 6038: 41 + P open, 112 + P protected, both ways
        }
    }

    [Theory]
    [InlineData(SecurityMode.Open)]
    [InlineData(SecurityMode.Encrypted)]
    public async Task ReflectOctets_WithSymmetricalSize_FirstOctetsOfPaddingComeBack(SecurityMode mode)
    {
        await using var server = new TestServer();
        uint features = (uint)(TwampModes.SymmetricalSize | TwampModes.ReflectOctets);
        await using RawSender s = await RawSender.OpenAsync(server, mode, features, 64, reflect: 16, replyPadding: 0);
        Assert.Equal((ushort)16, s.Accept.ReflectedOctets); // RFC 6038 §4.2: the server confirms the count
        int header = mode.ProtectsTestPackets() ? 112 : 41;

        byte[] padding = Pattern(64);
        byte[] reply = s.Exchange(9, header, TestPacketLayout.ReflectorHmacOffset, padding);

        Assert.Equal(header + 64, reply.Length);
        Assert.Equal(padding[..16], reply[header..(header + 16)]);
        Assert.Equal(9u, BinaryPrimitives.ReadUInt32BigEndian(reply.AsSpan(mode.ProtectsTestPackets() ? 48 : 24))); // Sender Sequence Number
    }

    [Fact]
    public async Task ReflectOctets_ReplyPaddingLength_AsRequested()
    {
        await using var server = new TestServer();
        await using RawSender s = await RawSender.OpenAsync(server, SecurityMode.Open, (uint)TwampModes.ReflectOctets, 10, reflect: 4, replyPadding: 300);

        byte[] reply = s.Exchange(0, 14, 0, Pattern(10));

        Assert.Equal(41 + 300, reply.Length); // RFC 5357 sender of 24 octets, reply padded to the requested 300
        Assert.Equal(Pattern(4), reply[41..45]);
    }

    [Fact]
    public async Task ReflectOctets_MoreThanThePadding_RefusedWithAccept3()
    {
        await using var server = new TestServer();
        await using TwampControlClient client = await TwampControlClient.ConnectAsync(
            server.TwampEndPoint, (uint)SecurityMode.Open, null, null, ControlHandshake.DefaultMaxCount, (uint)TwampModes.ReflectOctets, CancellationToken.None).DefaultTimeout();

        AcceptSession accept = await client.RequestSessionAsync(new IPEndPoint(IPAddress.Loopback, 40000), 0, 8, TimeSpan.FromSeconds(1), 0, CancellationToken.None, 20, 0).DefaultTimeout();

        Assert.Equal(AcceptCode.NotSupported, accept.Accept);
        Assert.Contains(server.LoggerFactory.Entries, e => e.EventId == 205 && e.Message.Contains("RFC 6038", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WithoutFeatures_RepliesSizedAsPerfsonar()
    {
        // A client that sets no feature bit (perfSONAR's twping) sees RFC 5357 behaviour: max(received, 41).
        await using var server = new TestServer();
        await using RawSender s = await RawSender.OpenAsync(server, SecurityMode.Open, 0, 0, 0, 0);
        Assert.Equal((uint)SecurityMode.Open, s.Client.Handshake.ModeBits);

        Assert.Equal(41, s.Exchange(0, 14, 0, Pattern(0)).Length);
        Assert.Equal(54, s.Exchange(1, 14, 0, Pattern(40)).Length);
    }

    [Fact]
    public async Task Twping_SymmetricalSizeAndReflectOctets_EndToEnd()
    {
        await using var server = new TestServer();
        var options = new TwpingOptions
        {
            Server = server.TwampEndPoint,
            AcceptableModes = (uint)SecurityMode.Authenticated,
            Identity = TestServer.Identity,
            Secret = TestServer.Passphrase,
            Count = 20,
            Schedule = new SendSchedule(0.002, false),
            PaddingLength = 30,
            WantedFeatures = (uint)TwampModes.SymmetricalSize,
            ReflectOctets = 12,
        };

        TwampSessionResult result = await TwampMeasurement.RunAsync(options, CancellationToken.None).DefaultTimeout();

        Assert.True(result.SymmetricalSize);
        Assert.Equal(112 + 30, result.SenderPacketLength);
        Assert.Equal((112 + 30, 112 + 30), (result.MinReplyLength, result.MaxReplyLength));
        Assert.Equal(20, result.ReflectedOctetsIntact);
        Assert.Equal(0, result.BadHmac);
    }
}
