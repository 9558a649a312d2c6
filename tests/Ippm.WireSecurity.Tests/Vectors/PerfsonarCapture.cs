using System.Buffers;
using System.Globalization;
using Ippm.Security;
using Ippm.Wire.Control;

namespace Ippm.Tests.Vectors;

/// <summary>One line of a <c>NAME.hex.txt</c> file: <c>frame t_rel proto src:port&gt;dst:port payload_len payload_hex</c>.</summary>
internal sealed record CapturedPacket(int Frame, string Protocol, int SourcePort, int DestinationPort, byte[] Payload);

/// <summary>
/// A perfSONAR reference capture from <c>shared/vectors/perfsonar</c>, with the two TCP control byte streams
/// reassembled (TCP payloads concatenated per direction) and the UDP test packets in capture order.
/// </summary>
internal sealed class PerfsonarCapture
{
    public const int OwampControlPort = 861;
    public const int TwampControlPort = 862;

    private PerfsonarCapture(string name, IReadOnlyList<CapturedPacket> packets, int controlPort)
    {
        Name = name;
        Packets = packets;
        ClientToServer = packets.Where(p => p.Protocol == "TCP" && p.DestinationPort == controlPort).SelectMany(p => p.Payload).ToArray();
        ServerToClient = packets.Where(p => p.Protocol == "TCP" && p.SourcePort == controlPort).SelectMany(p => p.Payload).ToArray();
        Udp = packets.Where(p => p.Protocol == "UDP").ToList();
    }

    public string Name { get; }
    public IReadOnlyList<CapturedPacket> Packets { get; }
    public byte[] ClientToServer { get; }
    public byte[] ServerToClient { get; }
    public IReadOnlyList<CapturedPacket> Udp { get; }

    /// <summary>The vectors directory (<see cref="PerfsonarVectorsDirectory"/>).</summary>
    public static string Directory => PerfsonarVectorsDirectory.Path;

    public static PerfsonarCapture Load(string name, int controlPort)
    {
        string path = Path.Combine(Directory, name + ".hex.txt");
        if (!File.Exists(path))
        {
            Assert.Fail($"perfSONAR capture '{path}' is missing; the vectors directory '{Directory}' is incomplete.");
        }
        var packets = new List<CapturedPacket>();
        foreach (string rawLine in File.ReadAllLines(path))
        {
            string line = rawLine.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(f.Length == 6, $"{name}: malformed line '{line}'");
            string[] ends = f[3].Split('>');
            Assert.True(ends.Length == 2, $"{name}: malformed endpoints '{f[3]}'");
            int length = int.Parse(f[4], CultureInfo.InvariantCulture);
            byte[] payload = f[5] == "-" ? [] : Convert.FromHexString(f[5]);
            Assert.True(payload.Length == length, $"{name} frame {f[0]}: payload_len {length} but {payload.Length} octets of hex");
            packets.Add(new CapturedPacket(
                int.Parse(f[0], CultureInfo.InvariantCulture),
                f[2],
                PortOf(ends[0]),
                PortOf(ends[1]),
                payload));
        }
        Assert.NotEmpty(packets);
        return new PerfsonarCapture(name, packets, controlPort);
    }

    private static int PortOf(string endpoint) =>
        int.Parse(endpoint[(endpoint.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture);
}

/// <summary>
/// The opening every control-stream walk shares: both reassembled streams (optionally with one bit flipped),
/// the clear Server-Greeting and Set-Up-Response, and the control keys recovered from the Token with alice's
/// passphrase (null in open mode).
/// </summary>
internal sealed record CaptureHandshake(StreamCursor FromServer, StreamCursor FromClient, ServerGreeting Greeting, SetUpResponse SetUp, ControlKeys? Keys)
{
    public static CaptureHandshake Open(string name, int controlPort, bool keyed, int tamperClientOffset, int tamperServerOffset)
    {
        PerfsonarCapture capture = PerfsonarCapture.Load(name, controlPort);
        byte[] c2s = (byte[])capture.ClientToServer.Clone();
        byte[] s2c = (byte[])capture.ServerToClient.Clone();
        if (tamperClientOffset >= 0)
        {
            c2s[tamperClientOffset] ^= 0x01;
        }
        if (tamperServerOffset >= 0)
        {
            s2c[tamperServerOffset] ^= 0x01;
        }
        var fromServer = new StreamCursor(s2c, name + " server->client");
        var fromClient = new StreamCursor(c2s, name + " client->server");
        Assert.Equal(OperationStatus.Done, ServerGreeting.TryRead(fromServer.Take(ServerGreeting.Length), out ServerGreeting? greeting));
        Assert.Equal(OperationStatus.Done, SetUpResponse.TryRead(fromClient.Take(SetUpResponse.Length), out SetUpResponse? setUp));
        ControlKeys? keys = null;
        if (keyed)
        {
            keys = Token.TryDecrypt(Token.DeriveKey(TwampCaptureTests.AliceSecret(), greeting!.Salt, greeting.Count), setUp!.Token, greeting.Challenge);
            Assert.NotNull(keys);
        }
        return new CaptureHandshake(fromServer, fromClient, greeting!, setUp!, keys);
    }
}

/// <summary>Reads a reassembled byte stream front to back, failing the test on a short stream.</summary>
internal sealed class StreamCursor(byte[] data, string what)
{
    public int Position { get; private set; }
    public int Remaining => data.Length - Position;

    public byte[] Take(int count)
    {
        Assert.True(count <= Remaining, $"{what}: needed {count} more octets at offset {Position}, only {Remaining} left");
        byte[] result = data.AsSpan(Position, count).ToArray();
        Position += count;
        return result;
    }
}

/// <summary>
/// The receiving side of one direction of the control stream: decrypts blocks through
/// <see cref="ControlStreamCipher"/> and checks every HMAC block, recording the HMAC values seen.
/// </summary>
internal sealed class ControlReceiver(StreamCursor cursor, ControlStreamCipher cipher, string what)
{
    public List<string> Hmacs { get; } = [];

    /// <summary>Takes <paramref name="count"/> octets (whole blocks) and returns their plaintext.</summary>
    public byte[] Blocks(int count)
    {
        byte[] blocks = cursor.Take(count);
        cipher.Decrypt(blocks);
        return blocks;
    }

    /// <summary>Takes one HMAC block, asserts it verifies, and returns the (decrypted) HMAC value.</summary>
    public byte[] Hmac(string message)
    {
        int at = cursor.Position;
        byte[] block = cursor.Take(ControlStreamCipher.HmacLength);
        Assert.True(cipher.VerifyHmac(block), $"{what}: HMAC of {message} at stream offset {at} does not verify");
        if (!cipher.IsProtected)
        {
            Assert.True(block.All(b => b == 0), $"{what}: open-mode HMAC field of {message} is not zero");
        }
        Hmacs.Add(Convert.ToHexStringLower(block));
        return block;
    }

    /// <summary>A message of <paramref name="length"/> octets whose last block is its HMAC; returns the plaintext including the HMAC.</summary>
    public byte[] Message(int length, string message)
    {
        byte[] body = Blocks(length - ControlStreamCipher.HmacLength);
        byte[] hmac = Hmac(message);
        return [.. body, .. hmac];
    }
}
