using System.Net;
using Microsoft.Extensions.Logging;

namespace Ippm.Ikev2;

/// <summary>IKEv2 log events (IDs 1200–1299). Never key material: SPIs, identities, lengths and reasons only.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1200, Level = LogLevel.Debug, Message = "IKE: dropped a {Length}-octet datagram from {Peer}: {Reason}")]
    public static partial void Dropped(ILogger logger, int length, EndPoint? peer, string reason);

    [LoggerMessage(EventId = 1201, Level = LogLevel.Information, Message = "IKE SA {SpiI}_i {SpiR}_r established with {Peer} ({PeerId}), {Suite}, as {Role}")]
    public static partial void Established(ILogger logger, string spiI, string spiR, EndPoint peer, string peerId, string suite, string role);

    [LoggerMessage(EventId = 1202, Level = LogLevel.Warning, Message = "IKE SA {SpiI}_i {SpiR}_r with {Peer}: refused ({Notify}): {Reason}")]
    public static partial void Refused(ILogger logger, string spiI, string spiR, EndPoint peer, string notify, string reason);

    [LoggerMessage(EventId = 1203, Level = LogLevel.Information, Message = "IKE SA_INIT from {Peer}: answered with {Notify}")]
    public static partial void InitNotify(ILogger logger, EndPoint peer, string notify);

    [LoggerMessage(EventId = 1204, Level = LogLevel.Information, Message = "IKE SA {SpiI}_i {SpiR}_r deleted by the peer")]
    public static partial void DeletedByPeer(ILogger logger, string spiI, string spiR);

    [LoggerMessage(EventId = 1205, Level = LogLevel.Information, Message = "IKE SA {SpiI}_i {SpiR}_r rekeyed by the peer into {NewSpiI}_i {NewSpiR}_r")]
    public static partial void Rekeyed(ILogger logger, string spiI, string spiR, string newSpiI, string newSpiR);

    [LoggerMessage(EventId = 1206, Level = LogLevel.Debug, Message = "IKE: retransmitting request {MessageId} to {Peer} (try {Try})")]
    public static partial void Retransmit(ILogger logger, uint messageId, EndPoint peer, int @try);

    [LoggerMessage(EventId = 1207, Level = LogLevel.Error, Message = "IKE responder: unexpected error handling a datagram from {Peer}")]
    public static partial void HandlerFailed(ILogger logger, Exception exception, EndPoint? peer);

    [LoggerMessage(EventId = 1208, Level = LogLevel.Information, Message = "IKE SA {SpiI}_i {SpiR}_r of {PeerId} forgotten: that identity holds {Count} newer SAs (its keys are kept as deleted)")]
    public static partial void ForgottenOverCap(ILogger logger, string spiI, string spiR, string peerId, int count);

    [LoggerMessage(EventId = 1240, Level = LogLevel.Debug, Message = "IKE: MODP Diffie-Hellman by {Engine}")]
    public static partial void ModpEngineInUse(ILogger logger, string engine);
}
