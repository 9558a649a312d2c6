using System.Buffers;
using System.Net;
using System.Text;
using Ippm.Ikev2.Crypto;
using Ippm.Ikev2.Exchanges;
using Ippm.Ikev2.Messages;
using Ippm.Ikev2.SaDatabase;
using Ippm.Security;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;

namespace Ippm.Fuzz;

/// <summary>
/// One method per fuzz target: each feeds arbitrary octets to the parsers that read them from a peer or a user.
/// A parser may refuse (that is its job); an exception escaping here is a bug the fuzzer reports as a crash.
/// </summary>
public static class FuzzTargets
{
    public static IReadOnlyDictionary<string, Action<byte[]>> All { get; } = new Dictionary<string, Action<byte[]>>
    {
        ["control-server"] = ControlServerSide,
        ["control-client"] = ControlClientSide,
        ["test-packet"] = TestPackets,
        ["ike"] = Ike,
        ["pfs"] = Pfs,
    };

    /// <summary>What an O/TWAMP server reads from a client: Set-Up-Response and every command, schedule slots, Stop-Sessions.</summary>
    public static void ControlServerSide(byte[] data)
    {
        ReadOnlySpan<byte> d = data;
        _ = SetUpResponse.TryRead(d, out _);
        _ = SessionRequest.TryRead(d, out _);
        _ = StartSessions.TryRead(d, out _);
        _ = TwampStopSessions.TryRead(d, out _);
        _ = FetchSession.TryRead(d, out _);
        for (int offset = 0; offset + ScheduleSlot.Length <= d.Length; offset += ScheduleSlot.Length)
        {
            _ = ScheduleSlot.TryRead(d[offset..], out _);
        }
        StopSessionsDescriptions(d);
    }

    /// <summary>What an O/TWAMP client reads from a server: greeting, Server-Start, Accept-Session, acks, Stop-Sessions, fetched data.</summary>
    public static void ControlClientSide(byte[] data)
    {
        ReadOnlySpan<byte> d = data;
        _ = ServerGreeting.TryRead(d, out _);
        _ = ServerStart.TryRead(d, out _);
        _ = AcceptSession.TryRead(d, out _);
        _ = StartAck.TryRead(d, out _);
        if (FetchAck.TryRead(d, out FetchAck? ack) == OperationStatus.Done && d.Length > FetchAck.Length)
        {
            _ = SkipRangeList.TryRead(d[FetchAck.Length..], (int)Math.Min(ack!.SkipRangeCount, 4096), out _);
        }
        for (int offset = 0; offset + OwampDataRecord.Length <= d.Length; offset += OwampDataRecord.Length)
        {
            _ = OwampDataRecord.TryRead(d[offset..], out _);
        }
        StopSessionsDescriptions(d);
    }

    private static void StopSessionsDescriptions(ReadOnlySpan<byte> d)
    {
        if (OwampStopSessions.TryReadHeader(d, out _, out uint count) != OperationStatus.Done)
        {
            return;
        }
        int offset = 16;
        for (uint i = 0; i < count && offset < d.Length; i++)
        {
            if (OwampStopSessions.TryReadDescription(d[offset..], 1024, out _, out int consumed) != OperationStatus.Done || consumed <= 0)
            {
                return;
            }
            offset += consumed;
        }
    }

    // Lazy: under afl-fuzz no instrumented code may run before SharpFuzz has attached the coverage map, and a
    // static initializer would run when the target is looked up.
    private static readonly Lazy<ControlKeys> s_keys = new(() => new(new byte[16], new byte[32]));

    /// <summary>O/TWAMP test packets in every mode: sender and reflector layouts, open and protected, HMAC checks in A and E.</summary>
    public static void TestPackets(byte[] data)
    {
        foreach (bool protectedLayout in new[] { false, true })
        {
            _ = SenderPacket.TryRead(data, protectedLayout, out _);
            _ = ReflectorPacket.TryRead(data, protectedLayout, out _);
        }
        _ = OwampDataRecord.TryRead(data, out _);
        foreach (SecurityMode mode in new[] { SecurityMode.Authenticated, SecurityMode.Encrypted })
        {
            using TestPacketCipher cipher = TestPacketCipher.Create(mode, s_keys.Value, new SessionId(0x0102030405060708, 0x090a0b0c0d0e0f10));
            _ = cipher.TryUnprotect((byte[])data.Clone(), TestPacketLayout.SenderHmacOffset);
            _ = cipher.TryUnprotect((byte[])data.Clone(), TestPacketLayout.ReflectorHmacOffset);
        }
    }

    private static readonly Lazy<IkeResponder> s_responder = new(() => new IkeResponder(
        new IkeResponderOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Credentials = new IkeCredentials { PreSharedKey = "fuzz"u8.ToArray() },
            Proposals = IkeProposalSpec.ParseList("aes256-sha256-modp2048,aes128gcm16-prfsha256-x25519-ecp256"),
        },
        new IkeSaDatabase()));

    private static readonly IPEndPoint s_peer = new(IPAddress.Parse("127.0.0.9"), 4500);

    /// <summary>IKEv2 messages: header and payload chain, every typed payload, and the responder's handling of the datagram.</summary>
    public static void Ike(byte[] data)
    {
        if (IkeMessage.TryParse(data, out IkeMessage? message) == OperationStatus.Done)
        {
            foreach (RawPayload p in message!.Payloads)
            {
                ReadOnlySpan<byte> body = p.Body.Span;
                _ = p.Type switch
                {
                    PayloadType.SecurityAssociation => SaPayload.TryRead(body, out _),
                    PayloadType.KeyExchange => KePayload.TryRead(body, out _),
                    PayloadType.Notify => NotifyPayload.TryRead(body, out _),
                    PayloadType.IdInitiator or PayloadType.IdResponder => IdPayload.TryRead(body, out _),
                    PayloadType.Authentication => AuthPayload.TryRead(body, out _),
                    PayloadType.Certificate or PayloadType.CertificateRequest => CertPayload.TryRead(body, out _),
                    PayloadType.Delete => DeletePayload.TryRead(body, out _),
                    _ => OperationStatus.Done,
                };
            }
        }
        _ = s_responder.Value.Handle(data, s_peer);
    }

    /// <summary>perfSONAR .pfs key files (user bytes): a clear FormatException is the expected refusal.</summary>
    public static void Pfs(byte[] data)
    {
        try
        {
            using KeyFile keys = KeyFile.Parse(Encoding.UTF8.GetString(data), "fuzz.pfs");
        }
        catch (FormatException)
        {
        }
    }
}
