using System.Buffers;
using System.Net;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;

namespace Ippm.Tests.TwampExtensions;

/// <summary>
/// Golden bytes for every message and field the TWAMP extensions add, written out field by field from the RFC
/// figures (RFC 5938 §3.2–3.5, RFC 6038 §4.1–4.2, RFC 7750 §3), and round trips through the codecs.
/// </summary>
public sealed class ExtensionWireTests
{
    private static readonly SessionId s_sid1 = SessionId.Parse("7f000001eeb54d909c9613d336cd38ef");
    private static readonly SessionId s_sid2 = SessionId.Parse("0a000002eeb54d910000000100000002");

    private static byte[] Filled(int length)
    {
        byte[] b = new byte[length];
        Array.Fill(b, (byte)0xA5); // proves Write sets every octet, MBZ included
        return b;
    }

    public static TheoryData<string, string> SessionListCases => new()
    {
        // RFC 5938 §3.2 Start-N-Sessions: Command 7 | MBZ (11) | Number of Sessions (4) | SIDs | HMAC (16)
        { "start-n", "07" + "0000000000000000000000" + "00000002" + "7f000001eeb54d909c9613d336cd38ef" + "0a000002eeb54d910000000100000002" + new string('0', 32) },
        // RFC 5938 §3.3 Start-N-Ack: Command 8 | Accept (1) | MBZ (10) | Number of Sessions (4) | SIDs | HMAC (16)
        { "start-n-ack", "08" + "01" + "00000000000000000000" + "00000002" + "7f000001eeb54d909c9613d336cd38ef" + "0a000002eeb54d910000000100000002" + new string('0', 32) },
        // RFC 5938 §3.4 Stop-N-Sessions: Command 9 | MBZ (11) | Number of Sessions (4) | SIDs | HMAC (16)
        { "stop-n", "09" + "0000000000000000000000" + "00000002" + "7f000001eeb54d909c9613d336cd38ef" + "0a000002eeb54d910000000100000002" + new string('0', 32) },
        // RFC 5938 §3.5 Stop-N-Ack: Command 10 | Accept (1) | MBZ (10) | Number of Sessions (4) | SIDs | HMAC (16)
        { "stop-n-ack", "0a" + "00" + "00000000000000000000" + "00000002" + "7f000001eeb54d909c9613d336cd38ef" + "0a000002eeb54d910000000100000002" + new string('0', 32) },
    };

    private static SessionListMessage Sample(string kind) => kind switch
    {
        "start-n" => new StartNSessions([s_sid1, s_sid2]),
        "start-n-ack" => new StartNAck(AcceptCode.Failure, [s_sid1, s_sid2]),
        "stop-n" => new StopNSessions([s_sid1, s_sid2]),
        _ => new StopNAck(AcceptCode.Ok, [s_sid1, s_sid2]),
    };

    private static OperationStatus Read(string kind, ReadOnlySpan<byte> bytes, out SessionListMessage? message)
    {
        OperationStatus status;
        switch (kind)
        {
            case "start-n":
                status = StartNSessions.TryRead(bytes, out StartNSessions? a);
                message = a;
                break;
            case "start-n-ack":
                status = StartNAck.TryRead(bytes, out StartNAck? b);
                message = b;
                break;
            case "stop-n":
                status = StopNSessions.TryRead(bytes, out StopNSessions? c);
                message = c;
                break;
            default:
                status = StopNAck.TryRead(bytes, out StopNAck? d);
                message = d;
                break;
        }
        return status;
    }

    [Theory]
    [MemberData(nameof(SessionListCases))]
    public void SessionList_Rfc5938Figure_GoldenBytesAndRoundTrip(string kind, string golden)
    {
        SessionListMessage message = Sample(kind);
        byte[] bytes = Filled(message.EncodedLength);

        message.Write(bytes);

        Assert.Equal(16 + 2 * 16 + 16, bytes.Length);
        Assert.Equal(golden, Convert.ToHexStringLower(bytes));
        Assert.Equal(OperationStatus.Done, Read(kind, bytes, out SessionListMessage? read));
        Assert.Equal(message.Command, read!.Command);
        Assert.Equal(message.Accept, read.Accept);
        Assert.Equal(message.Sids, read.Sids);
        // Every truncated prefix needs more data; never a throw, never a partial message.
        for (int n = 0; n < bytes.Length; n++)
        {
            Assert.Equal(OperationStatus.NeedMoreData, Read(kind, bytes.AsSpan(0, n), out _));
        }
    }

    [Fact]
    public void SessionList_WrongCommandOrAbsurdCount_InvalidData()
    {
        byte[] bytes = new byte[48];
        new StartNSessions([s_sid1]).Write(bytes);
        Assert.Equal(OperationStatus.InvalidData, StopNSessions.TryRead(bytes, out _));
        bytes[12] = 0xFF; // Number of Sessions 0xFF000001: no message can be that long
        Assert.Equal(OperationStatus.InvalidData, StartNSessions.TryRead(bytes, out _));
        Assert.Equal(32, SessionListMessage.LengthFor(0));
        Assert.Equal(0xFF000001u, SessionListMessage.ReadCount(bytes));
    }

    [Fact]
    public void RequestTwSession_Rfc6038Fields_AtOctets88To95()
    {
        var request = new SessionRequest
        {
            Command = CommandNumber.RequestTwSession,
            SenderPort = 0x9c40,
            ReceiverPort = 0x4a38,
            SenderAddress = IPAddress.Parse("192.0.2.1"),
            ReceiverAddress = IPAddress.Parse("198.51.100.7"),
            PaddingLength = 100,
            TypePDescriptor = SessionRequest.TypePFromDscp(46),
            OctetsToBeReflected = 0x0010,
            PaddingToReflect = 0x0200,
        };
        byte[] bytes = Filled(SessionRequest.Length);

        request.Write(bytes);

        // RFC 5357 §3.5 Type-P at 84, then RFC 6038 §4.1: Octets to be reflected (2) | Length of padding to reflect (2) | MBZ (4)
        Assert.Equal("2e000000" + "0010" + "0200" + "00000000", Convert.ToHexStringLower(bytes.AsSpan(84, 12)));
        Assert.Equal(OperationStatus.Done, SessionRequest.TryRead(bytes, out SessionRequest? read));
        Assert.Equal((ushort)16, read!.OctetsToBeReflected);
        Assert.Equal((ushort)512, read.PaddingToReflect);
    }

    [Fact]
    public void AcceptSession_Rfc6038Fields_AtOctets20To23()
    {
        var accept = new AcceptSession(AcceptCode.Ok, 18760, s_sid1, ReflectedOctets: 16, ServerOctets: 0x1234);
        byte[] bytes = Filled(AcceptSession.Length);

        accept.Write(bytes);

        // Accept | MBZ | Port | SID | Reflected octets (2) | Server octets (2) | MBZ (8) | HMAC (16)
        Assert.Equal(
            "00" + "00" + "4948" + "7f000001eeb54d909c9613d336cd38ef" + "0010" + "1234" + "0000000000000000" + new string('0', 32),
            Convert.ToHexStringLower(bytes));
        Assert.Equal(OperationStatus.Done, AcceptSession.TryRead(bytes, out AcceptSession? read));
        Assert.Equal(accept, read);
    }

    [Theory]
    // protected, symmetrical, DSCP/ECN -> sender header, sender HMAC at, reflector header, DSCP/ECN octet
    [InlineData(false, false, false, 14, 32, 41, -1)] // RFC 5357 open (the HMAC offset is unused)
    [InlineData(false, false, true, 14, 32, 42, 41)] // RFC 7750: Sender DSCP and ECN after Sender TTL
    [InlineData(false, true, false, 41, 96, 41, -1)] // RFC 6038: Seq | Timestamp | Error Estimate | MBZ (27)
    [InlineData(false, true, true, 42, 96, 42, 41)] // RFC 7750 with Symmetrical Size: MBZ (28)
    [InlineData(true, false, false, 48, 32, 112, -1)] // RFC 5357 protected (erratum 5045)
    [InlineData(true, false, true, 48, 32, 112, 81)] // RFC 7750 protected: octet 81, inside the old MBZ
    [InlineData(true, true, false, 112, 96, 112, -1)] // RFC 6038 protected: MBZ (70) then HMAC at 96
    [InlineData(true, true, true, 112, 96, 112, 81)]
    public void TestFormat_Layouts_MatchRfcFigures(bool protectedLayout, bool symmetrical, bool dscpEcn, int senderHeader, int senderHmac, int reflectorHeader, int dscpEcnOffset)
    {
        var format = new TwampTestFormat(protectedLayout, symmetrical, dscpEcn);

        Assert.Equal(senderHeader, format.SenderHeader);
        Assert.Equal(senderHmac, format.SenderHmacOffset);
        Assert.Equal(reflectorHeader, format.ReflectorHeader);
        Assert.Equal(dscpEcnOffset, format.DscpEcnOffset);
        // Either way both directions end up the same size for twping's default padding.
        Assert.Equal(format.ReflectorHeader, format.SenderHeader + format.SymmetricSenderPadding);
    }

    [Fact]
    public void TestFormat_For_ReadsTheNegotiatedBits()
    {
        uint bits = (uint)SecurityMode.Mixed | (uint)TwampModes.SymmetricalSize | (uint)TwampModes.DscpEcnMonitoring;
        Assert.Equal(new TwampTestFormat(false, true, true), TwampTestFormat.For(SecurityMode.Mixed, bits));
        Assert.Equal(new TwampTestFormat(true, false, false), TwampTestFormat.For(SecurityMode.Encrypted, (uint)SecurityMode.Encrypted));
        // IANA TWAMP-Modes: bit 4 = 16, 5 = 32, 6 = 64, 8 = 256.
        Assert.Equal(16u + 32u + 64u + 256u, SecurityModes.TwampFeatureBits);
    }
}
