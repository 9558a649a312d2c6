using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Ippm.Security;
using Ippm.Security.TwampLight;
using Ippm.Sessions.Stamp;
using Ippm.Sessions.Twamp;
using Ippm.Wire;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ippm.Tests.Loopback;

/// <summary>
/// Authenticated and encrypted TWAMP-Light (RFC 5357 Appendix I) over real loopback sockets: ippm's sender against the
/// STAMP reflector configured with <c>light-A@PEER</c> / <c>light-E@PEER</c> key lines, and a hand-built packet whose
/// keys, encryption and HMAC the test computes itself from RFC 5869 and RFC 4656 as the oracle.
/// </summary>
public sealed class TwampLightProtectedTests
{
    private static readonly byte[] s_key = Convert.FromHexString("4c696768742d6b65792d666f722d74657374732d3031");
    private static readonly byte[] s_otherKey = Convert.FromHexString("00112233445566778899aabbccddeeff");

    private static StampReflector Start(IPAddress listen, string keyLines, out StampKeyStore keys)
    {
        using KeyFile file = KeyFile.Parse(keyLines);
        keys = new StampKeyStore(file);
        var reflector = new StampReflector(new StampReflectorOptions { Listen = new IPEndPoint(listen, 0), Keys = keys }, NullLogger.Instance);
        reflector.Start();
        return reflector;
    }

    private static Task<TwampSessionResult> RunAsync(IPEndPoint reflector, SecurityMode mode, byte[] key, int count, int padding)
    {
        var keys = new TwampLightKeys(mode, key);
        return RunAndDisposeAsync();

        async Task<TwampSessionResult> RunAndDisposeAsync()
        {
            using (keys)
            {
                return await StampMeasurement.RunTwampLightAsync(reflector, keys, count, new SendSchedule(0.005, false), padding, 0, TimeSpan.FromSeconds(2), CancellationToken.None).DefaultTimeout();
            }
        }
    }

    [Theory]
    [InlineData("127.0.0.1", 'A', 64)]
    [InlineData("127.0.0.1", 'E', 64)]
    [InlineData("::1", 'A', 200)]
    [InlineData("::1", 'E', 200)]
    public async Task ProtectedModes_EndToEnd_NoneLost_SymmetricSizes(string address, char letter, int padding)
    {
        IPAddress ip = IPAddress.Parse(address);
        SecurityMode mode = letter == 'A' ? SecurityMode.Authenticated : SecurityMode.Encrypted;
        using StampReflector reflector = Start(ip, KeyFile.FormatLine($"light-{letter}@{address}", s_key), out StampKeyStore keys);
        using (keys)
        {
            TwampSessionResult result = await RunAsync(reflector.LocalEndPoint, mode, s_key, 40, padding);
            TwampReport report = TwampReport.Create("test", result);

            Assert.Equal(mode, result.Mode);
            Assert.Equal(40, result.Sent);
            Assert.Equal(0, report.Sequence.Lost);
            Assert.Equal(0, result.BadHmac + result.Malformed + result.Late);
            Assert.Equal(48 + padding, result.SenderPacketLength);          // RFC 5357 §4.1.2 protected sender header 48
            Assert.Equal(48 + padding, result.MinReplyLength);              // reply has the request's size
            Assert.Equal(48 + padding, result.MaxReplyLength);
            await TaskTimeouts.UntilAsync(() => reflector.Reflected >= 40); // counted after the send: the reply can arrive first
            Assert.Equal(40, reflector.Reflected);
            Assert.Equal(0, reflector.BadHmac + reflector.Short);
            // Stateful reflector: its own sequence numbers 0..39; T2 <= T3 on the reflector's clock.
            Assert.Equal(Enumerable.Range(0, 40).Select(i => (uint)i), result.Replies.Select(r => r.ReflectorSequence).Order());
            Assert.All(result.Replies, r => Assert.True(NtpTimestamp.DifferenceSeconds(r.T3, r.T2) >= 0));
            Assert.All(result.Replies, r => Assert.True(NtpTimestamp.DifferenceSeconds(r.T4, r.T1) is >= 0 and < 2));
        }
    }

    [Theory]
    [InlineData('A')]
    [InlineData('E')]
    public async Task RepliesOfAnEarlierSession_ReplayedIntoALaterOne_AreNotCountedAsReceived(char letter)
    {
        SecurityMode mode = letter == 'A' ? SecurityMode.Authenticated : SecurityMode.Encrypted;
        using StampReflector reflector = Start(IPAddress.Loopback, KeyFile.FormatLine($"light-{letter}@127.0.0.1", s_key), out StampKeyStore keys);
        using (keys)
        using (var relay = new ReplayRelay(reflector.LocalEndPoint))
        {
            TwampSessionResult first = await RunAsync(relay.Front, mode, s_key, 20, 64);
            Assert.Equal(20, first.Replies.Count);
            Assert.Equal(20, relay.Recorded);

            // Same key, so the same SID and test keys: the recorded replies verify. They echo the first session's T1.
            relay.Replay = true;
            TwampSessionResult second = await RunAsync(relay.Front, mode, s_key, 20, 64);
            Assert.Equal(20, relay.Replayed);
            Assert.Empty(second.Replies);
            Assert.Equal(0, second.BadHmac);
            Assert.Equal(20, second.Malformed);
        }
    }

    /// <summary>
    /// A man in the middle on loopback: forwards to the reflector and records its replies, then (<see cref="Replay"/>)
    /// answers each new request with the next recorded reply instead. Bounded: at most 100 datagrams.
    /// </summary>
    private sealed class ReplayRelay : IDisposable
    {
        private readonly Socket _front = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        private readonly Socket _back = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        private readonly List<byte[]> _recorded = [];
        private readonly Thread _thread;
        private volatile bool _stopping;
        private int _replayed;

        public ReplayRelay(IPEndPoint reflector)
        {
            _front.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _front.ReceiveTimeout = 200;
            _back.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _back.Connect(reflector);
            _back.ReceiveTimeout = (int)TaskTimeouts.Default.TotalMilliseconds;
            _thread = new Thread(Run) { IsBackground = true };
            _thread.Start();
        }

        public IPEndPoint Front => (IPEndPoint)_front.LocalEndPoint!;
        public volatile bool Replay;

        public int Recorded
        {
            get
            {
                lock (_recorded)
                {
                    return _recorded.Count;
                }
            }
        }

        public int Replayed => Volatile.Read(ref _replayed);

        private void Run()
        {
            byte[] buffer = new byte[2048];
            for (int datagrams = 0; datagrams < 100 && !_stopping;)
            {
                EndPoint client = new IPEndPoint(IPAddress.Any, 0);
                int length;
                try
                {
                    length = _front.ReceiveFrom(buffer, ref client);
                }
                catch (SocketException)
                {
                    continue; // the 200 ms poll
                }
                datagrams++;
                if (!Replay)
                {
                    _back.Send(buffer.AsSpan(0, length));
                    int replyLength = _back.Receive(buffer);
                    lock (_recorded)
                    {
                        _recorded.Add(buffer[..replyLength]);
                    }
                    _front.SendTo(buffer.AsSpan(0, replyLength), client);
                }
                else
                {
                    byte[] old;
                    lock (_recorded)
                    {
                        old = _recorded[_replayed % _recorded.Count];
                    }
                    Interlocked.Increment(ref _replayed);
                    _front.SendTo(old, client);
                }
            }
        }

        public void Dispose()
        {
            _stopping = true;
            _thread.Join();
            _front.Dispose();
            _back.Dispose();
        }
    }

    [Fact]
    public async Task WrongKey_CountedAsBadHmac_NoReply_OtherSendersUnaffected()
    {
        // One dual-stack socket: 127.0.0.1 is a TWAMP-Light mode E peer, everyone else (::1) an authenticated STAMP peer.
        string lines = KeyFile.FormatLine("light-E@127.0.0.1", s_key) + "\n" + KeyFile.FormatLine("*", s_otherKey);
        using StampReflector reflector = Start(IPAddress.IPv6Any, lines, out StampKeyStore keys);
        using (keys)
        {
            int port = reflector.LocalEndPoint.Port;
            var v4 = new IPEndPoint(IPAddress.Loopback, port);
            Task<TwampSessionResult> right = RunAsync(v4, SecurityMode.Encrypted, s_key, 40, 64);
            Task<TwampSessionResult> wrong = RunAsync(v4, SecurityMode.Encrypted, s_otherKey, 40, 64);
            Task<StampSessionResult> stamp = StampMeasurement.RunAsync(new IPEndPoint(IPAddress.IPv6Loopback, port), new StampSenderOptions
            {
                Count = 40,
                Schedule = new SendSchedule(0.005, false),
                Key = s_otherKey,
                Ssid = 7,
            }, CancellationToken.None).DefaultTimeout();
            await Task.WhenAll(right, wrong, stamp);

            Assert.Equal(40, (await right).Replies.Count);
            Assert.Equal(0, (await right).BadHmac);
            Assert.Equal(40, (await wrong).Sent);
            Assert.Empty((await wrong).Replies);
            Assert.Equal(40, (await stamp).Session.Replies.Count);
            Assert.Equal(SecurityMode.Authenticated, (await stamp).Session.Mode);
            await TaskTimeouts.UntilAsync(() => reflector.BadHmac >= 40 && reflector.Reflected >= 80);
            Assert.Equal(40, reflector.BadHmac);
            Assert.Equal(80, reflector.Reflected);
        }
    }

    [Fact]
    public async Task TwampLightPeer_StampPacket_IsBadHmac_AndShortProtectedPacketIsShort()
    {
        using StampReflector reflector = Start(IPAddress.Loopback, KeyFile.FormatLine("light-A@127.0.0.0/8", s_key), out StampKeyStore keys);
        using (keys)
        {
            // A STAMP authenticated sender with the same key is not a TWAMP-Light sender: its packets fail the check.
            StampSessionResult stamp = await StampMeasurement.RunAsync(reflector.LocalEndPoint, new StampSenderOptions
            {
                Count = 10,
                Schedule = new SendSchedule(0.005, false),
                Timeout = TimeSpan.FromSeconds(0.5),
                Key = s_key,
            }, CancellationToken.None).DefaultTimeout();
            Assert.Empty(stamp.Session.Replies);
            await TaskTimeouts.UntilAsync(() => reflector.BadHmac >= 10); // the sender stops waiting after its Timeout, not when the reflector has looked
            Assert.Equal(10, reflector.BadHmac);
            // Padding below 64 would need a larger reply: counted as short, as for STAMP (RFC 8762 §4.6 default off).
            using var lightKeys = new TwampLightKeys(SecurityMode.Authenticated, s_key);
            TwampSessionResult small = await StampMeasurement.RunTwampLightAsync(reflector.LocalEndPoint, lightKeys, 5,
                new SendSchedule(0.005, false), 0, 0, TimeSpan.FromSeconds(0.5), CancellationToken.None).DefaultTimeout();
            Assert.Empty(small.Replies);
            await TaskTimeouts.UntilAsync(() => reflector.Short >= 5);
            Assert.Equal(5, reflector.Short);
            Assert.Equal(0, reflector.Reflected);
        }
    }

    /// <summary>RFC 5869 HKDF written out with HMAC-SHA256, independent of the code under test.</summary>
    private static byte[] Hkdf(byte[] ikm, string salt, string info, int length)
    {
        byte[] prk = HMACSHA256.HashData(Encoding.ASCII.GetBytes(salt), ikm);
        var output = new List<byte>();
        byte[] previous = [];
        for (byte i = 1; output.Count < length; i++)
        {
            previous = HMACSHA256.HashData(prk, (byte[])[.. previous, .. Encoding.ASCII.GetBytes(info), i]);
            output.AddRange(previous);
        }
        return output.Take(length).ToArray();
    }

    [Fact]
    public async Task EncryptedMode_HandBuiltPacket_Rfc4656KeysFromDocumentedHkdf_ReplyDecryptsAndVerifies()
    {
        // The README's convention, computed here by hand: K_aes, K_hmac and SID from HKDF-SHA256 of the key line.
        byte[] kAes = Hkdf(s_key, "ippm twamp-light v1", "ippm twamp-light K_aes", 16);
        byte[] kHmac = Hkdf(s_key, "ippm twamp-light v1", "ippm twamp-light K_hmac", 32);
        byte[] sid = Hkdf(s_key, "ippm twamp-light v1", "ippm twamp-light SID", 16);
        using (var derived = new TwampLightKeys(SecurityMode.Encrypted, s_key))
        {
            Assert.Equal(Convert.ToHexString(sid), Convert.ToHexString(derived.Sid.ToArray()));
        }
        // RFC 4656 §4.1.2 test keys: K_aes encrypted in ECB, K_hmac in CBC (IV 0), both with the SID as the AES key.
        using var sidAes = Aes.Create();
        sidAes.Key = sid;
        byte[] testAes = sidAes.EncryptEcb(kAes, PaddingMode.None);
        byte[] testHmac = sidAes.EncryptCbc(kHmac, new byte[16], PaddingMode.None);
        using var packetAes = Aes.Create();
        packetAes.Key = testAes;

        // RFC 5357 §4.1.2 protected sender packet, 128 octets: Seq | MBZ | Timestamp @16 | Error Estimate @24 | MBZ | HMAC @32 | padding.
        byte[] packet = new byte[128];
        BinaryPrimitives.WriteUInt32BigEndian(packet, 31337);
        byte[] timestamp = [0xEA, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66];
        timestamp.CopyTo(packet, 16);
        packet[24] = 0x80;
        packet[25] = 0x01;
        RandomNumberGenerator.Fill(packet.AsSpan(48));
        byte[] padding = packet[48..];
        HMACSHA1.HashData(testHmac, packet[..32]).AsSpan(0, 16).CopyTo(packet.AsSpan(32));
        packetAes.EncryptCbc(packet[..32], new byte[16], PaddingMode.None).CopyTo(packet, 0);

        using StampReflector reflector = Start(IPAddress.Loopback, KeyFile.FormatLine("light-E@127.0.0.1", s_key), out StampKeyStore keys);
        using (keys)
        using (var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            await socket.SendToAsync(packet, reflector.LocalEndPoint);
            byte[] reply = new byte[2048];
            SocketReceiveFromResult received = await socket.ReceiveFromAsync(reply, new IPEndPoint(IPAddress.Any, 0)).DefaultTimeout();

            Assert.Equal(128, received.ReceivedBytes);                                    // symmetric
            // RFC 5357 §4.2.1: octets 0–95 CBC-encrypted, HMAC-SHA1/128 of their plaintext at 96.
            byte[] plain = packetAes.DecryptCbc(reply[..96], new byte[16], PaddingMode.None);
            Assert.Equal(Convert.ToHexString(HMACSHA1.HashData(testHmac, plain)[..16]), Convert.ToHexString(reply[96..112]));
            Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(plain));             // the reflector's own first sequence number
            Assert.Equal(31337u, BinaryPrimitives.ReadUInt32BigEndian(plain.AsSpan(48))); // Sender Sequence Number
            Assert.Equal(timestamp, plain[64..72]);                                       // Sender Timestamp, copied
            Assert.Equal(new byte[] { 0x80, 0x01 }, plain[72..74]);                       // Sender Error Estimate, copied
            Assert.InRange(plain[80], (byte)1, (byte)255);                                // Sender TTL
            Assert.NotEqual(0ul, BinaryPrimitives.ReadUInt64BigEndian(plain.AsSpan(32))); // Receive Timestamp
            Assert.Equal(0, plain.AsSpan(4, 12).IndexOfAnyExcept((byte)0) + 1);         // MBZ
            Assert.Equal(padding[..16], reply[112..128]);                                  // the sender's padding, as far as it fits
        }
        await TaskTimeouts.UntilAsync(() => reflector.Reflected >= 1);
        Assert.Equal(1, reflector.Reflected);
    }
}
