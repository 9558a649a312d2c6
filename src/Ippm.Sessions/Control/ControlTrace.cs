using Ippm.Wire;
using Microsoft.Extensions.Logging;

namespace Ippm.Sessions.Control;

/// <summary>
/// The client's trace of the control exchange (<c>twping -v</c>, category <c>Ippm.Control</c>): what each message
/// said that a user debugging a refusal needs. Modes, identities, Accept values, SIDs and ports only: never a
/// passphrase, Token, key, IV or HMAC.
/// </summary>
public static partial class ControlTrace
{
    public const string Category = "Ippm.Control";

    [LoggerMessage(EventId = 300, Level = LogLevel.Information, Message = "connected to {Server} from {Local}")]
    public static partial void Connected(ILogger logger, string server, string local);

    [LoggerMessage(EventId = 301, Level = LogLevel.Information, Message = "Server-Greeting: modes {Modes} (0x{Bits:x}), PBKDF2 count {Count}")]
    public static partial void Greeting(ILogger logger, string modes, uint bits, uint count);

    [LoggerMessage(EventId = 302, Level = LogLevel.Information, Message = "Set-Up-Response: mode {Mode} (0x{Bits:x}), identity {Identity}, key from {KeySource}")]
    public static partial void SetUp(ILogger logger, string mode, uint bits, string identity, string keySource);

    [LoggerMessage(EventId = 303, Level = LogLevel.Information, Message = "Server-Start: Accept={Accept} ({Meaning})")]
    public static partial void ServerStart(ILogger logger, byte accept, string meaning);

    [LoggerMessage(EventId = 304, Level = LogLevel.Information, Message = "{Request}: Accept-Session Accept={Accept} ({Meaning}), SID {Sid}, port {Port}")]
    public static partial void AcceptSession(ILogger logger, string request, byte accept, string meaning, SessionId sid, int port);

    [LoggerMessage(EventId = 305, Level = LogLevel.Information, Message = "Start-Sessions: Start-Ack Accept={Accept} ({Meaning})")]
    public static partial void StartAck(ILogger logger, byte accept, string meaning);

    [LoggerMessage(EventId = 306, Level = LogLevel.Information, Message = "Stop-Sessions sent: Accept={Accept}, {Count} session(s)")]
    public static partial void StopSent(ILogger logger, byte accept, uint count);

    [LoggerMessage(EventId = 307, Level = LogLevel.Information, Message = "Stop-Sessions received: Accept={Accept}, {Count} session(s)")]
    public static partial void StopReceived(ILogger logger, byte accept, int count);

    [LoggerMessage(EventId = 308, Level = LogLevel.Information, Message = "Fetch-Session {Sid}: Fetch-Ack Accept={Accept} ({Meaning}), Next Seqno {NextSeqno}, {Records} record(s)")]
    public static partial void FetchAck(ILogger logger, SessionId sid, byte accept, string meaning, uint nextSeqno, uint records);

    [LoggerMessage(EventId = 309, Level = LogLevel.Information, Message = "test session {Sid}: local port {LocalPort} -> peer port {PeerPort}")]
    public static partial void TestSession(ILogger logger, SessionId sid, int localPort, int peerPort);

    /// <summary>An Accept value in words, for the trace (RFC 4656 §3.3, RFC 7717 §5.2).</summary>
    public static string Meaning(AcceptCode accept) => accept switch
    {
        AcceptCode.Ok => "ok",
        AcceptCode.Failure => "failure",
        AcceptCode.InternalError => "internal error",
        AcceptCode.NotSupported => "not supported",
        AcceptCode.PermanentResourceLimitation => "permanent resource limitation",
        AcceptCode.TemporaryResourceLimitation => "temporary resource limitation",
        AcceptCode.NoMatchingIkeSa => "no matching IKEv2 SA",
        _ => "unknown",
    };
}
