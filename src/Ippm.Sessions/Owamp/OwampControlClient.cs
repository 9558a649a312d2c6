using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Ippm.Security;
using Ippm.Sessions.Control;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;

namespace Ippm.Sessions.Owamp;

/// <summary>What Fetch-Session returned (RFC 4656 §3.8).</summary>
public sealed record FetchedSession(FetchAck Ack, SessionRequest Request, IReadOnlyList<ScheduleSlot> Slots, IReadOnlyList<SkipRange> SkipRanges, IReadOnlyList<OwampDataRecord> Records);

/// <summary>The Control-Client side of OWAMP-Control (RFC 4656 §3).</summary>
public sealed class OwampControlClient : ControlClient
{
    private int _sessions;
    private Task<byte[]>? _serverMessage;

    private OwampControlClient(TcpClient tcp, ControlChannel channel, ControlHandshakeResult handshake)
        : base(tcp, channel, handshake)
    {
    }

    public static Task<OwampControlClient> ConnectAsync(
        IPEndPoint server, uint acceptableModes, string? identity, byte[]? secret, uint maxCount, CancellationToken cancellationToken, Rfc7717Secret? ike = null,
        IPAddress? localAddress = null, Microsoft.Extensions.Logging.ILogger? trace = null)
        => ConnectAsync(ControlProtocol.Owamp, server, acceptableModes, identity, secret, maxCount, ike, wrapStream: null,
            (tcp, channel, handshake) => new OwampControlClient(tcp, channel, handshake), cancellationToken, wantedFeatures: 0, localAddress, trace);

    /// <summary>Sends Request-Session with its slots and returns Accept-Session.</summary>
    public async Task<AcceptSession> RequestSessionAsync(SessionRequest request, IReadOnlyList<ScheduleSlot> slots, CancellationToken cancellationToken)
    {
        byte[] message = new byte[SessionRequest.Length];
        (request with { Command = CommandNumber.RequestSession, ScheduleSlotCount = (uint)slots.Count }).Write(message);
        byte[] slotSection = new byte[slots.Count * ScheduleSlot.Length + ControlStreamCipher.HmacLength];
        for (int i = 0; i < slots.Count; i++)
        {
            slots[i].Write(slotSection.AsSpan(i * ScheduleSlot.Length));
        }
        AcceptSession accept = await RequestAsync(message, slotSection, cancellationToken).ConfigureAwait(false);
        if (accept.Accept == AcceptCode.Ok)
        {
            _sessions++;
        }
        return accept;
    }

    /// <summary>
    /// Sends this side's Stop-Sessions (descriptions of the sessions the client sent) and reads the server's
    /// (descriptions of the sessions it sent).
    /// </summary>
    public async Task<OwampStopSessions> StopSessionsAsync(AcceptCode accept, IReadOnlyList<SessionDescription> sent, CancellationToken cancellationToken)
    {
        await SendStopSessionsAsync(accept, sent, cancellationToken).ConfigureAwait(false);
        return await ReadServerStopSessionsAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sends this side's Stop-Sessions only (the answer to the server's own, RFC 4656 §3.8).</summary>
    public async Task SendStopSessionsAsync(AcceptCode accept, IReadOnlyList<SessionDescription> sent, CancellationToken cancellationToken)
    {
        await OwampStopSessionsReader.SendAsync(Channel, new OwampStopSessions(accept, sent), cancellationToken).ConfigureAwait(false);
        ControlTrace.StopSent(Trace, (byte)accept, (uint)sent.Count);
    }

    /// <summary>
    /// Completes when the server's next message begins (its first block has arrived); faults when the server closes
    /// the connection instead. During a test the only message the server may send unasked is its own Stop-Sessions
    /// (RFC 4656 §3.8: either side may end the sessions), so this is how a client notices a server that shuts down.
    /// The first call starts the read; it has no deadline and ends with the connection.
    /// </summary>
    public Task WaitForServerMessageAsync() => ServerMessageHeader();

    /// <summary>Reads the server's Stop-Sessions: its own (the server ended the test) or its answer to ours.</summary>
    public async Task<OwampStopSessions> ReadServerStopSessionsAsync(CancellationToken cancellationToken)
    {
        byte[] header;
        using (var reply = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            // The background read has no deadline; the answer to our Stop-Sessions has the usual one.
            reply.CancelAfter(ReplyTimeout);
            header = await ServerMessageHeader().WaitAsync(reply.Token).ConfigureAwait(false);
        }
        _serverMessage = null;
        if (header[0] != (byte)CommandNumber.StopSessions)
        {
            throw new ControlProtocolException($"the server sent command {header[0]} during the test; only Stop-Sessions may come");
        }
        OwampStopSessions stop = await OwampStopSessionsReader.ReadAsync(Channel, header, Math.Max(_sessions, 1), cancellationToken).ConfigureAwait(false);
        ControlTrace.StopReceived(Trace, (byte)stop.Accept, stop.Sessions.Count);
        return stop;
    }

    private Task<byte[]> ServerMessageHeader()
    {
        if (_serverMessage is null)
        {
            _serverMessage = ReadHeaderAsync();
            // Observed here so a read that fails after the measurement is over (the connection closed) goes unnoticed.
            _ = _serverMessage.ContinueWith(t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        return _serverMessage;

        async Task<byte[]> ReadHeaderAsync()
        {
            byte[] header = new byte[OwampStopSessions.HeaderLength];
            await Channel.ReadBlocksUntimedAsync(header, CancellationToken.None).ConfigureAwait(false);
            return header;
        }
    }

    /// <summary>Fetches the records the server received for <paramref name="sid"/>. Returns null when refused.</summary>
    public async Task<FetchedSession?> FetchAsync(SessionId sid, uint begin, uint end, int maxRecords, CancellationToken cancellationToken)
    {
        byte[] message = new byte[FetchSession.Length];
        new FetchSession(begin, end, sid).Write(message);
        await Channel.SendMessageAsync(message, cancellationToken).ConfigureAwait(false);
        byte[] ackBytes = new byte[FetchAck.Length];
        await Channel.ReadMessageAsync(ackBytes, 0, cancellationToken).ConfigureAwait(false);
        FetchAck.TryRead(ackBytes, out FetchAck? ack);
        if (ack!.Accept != AcceptCode.Ok)
        {
            return null;
        }
        if (ack.RecordCount > maxRecords || ack.SkipRangeCount > OwampStopSessionsReader.MaxSkipRanges)
        {
            throw new ControlProtocolException($"Fetch-Ack announces {ack.RecordCount} records and {ack.SkipRangeCount} skip ranges; more than this client accepts");
        }

        byte[] requestBytes = new byte[SessionRequest.Length];
        await Channel.ReadMessageAsync(requestBytes, 0, cancellationToken).ConfigureAwait(false);
        if (SessionRequest.TryRead(requestBytes, out SessionRequest? request) != OperationStatus.Done)
        {
            throw new ControlProtocolException("the fetched Request-Session copy is malformed");
        }
        if (request!.ScheduleSlotCount > 65536)
        {
            throw new ControlProtocolException($"the fetched Request-Session claims {request.ScheduleSlotCount} slots");
        }
        byte[] slotBytes = new byte[request.ScheduleSlotCount * ScheduleSlot.Length + ControlStreamCipher.HmacLength];
        await Channel.ReadMessageAsync(slotBytes, 0, cancellationToken).ConfigureAwait(false);
        var slots = new ScheduleSlot[request.ScheduleSlotCount];
        for (int i = 0; i < slots.Length; i++)
        {
            ScheduleSlot.TryRead(slotBytes.AsSpan(i * ScheduleSlot.Length), out slots[i]);
        }

        byte[] skipBytes = new byte[SkipRangeList.EncodedLength((int)ack.SkipRangeCount) + ControlStreamCipher.HmacLength];
        await Channel.ReadMessageAsync(skipBytes, 0, cancellationToken).ConfigureAwait(false);
        SkipRangeList.TryRead(skipBytes, (int)ack.SkipRangeCount, out SkipRange[] skips);

        byte[] recordBytes = new byte[OwampDataRecord.EncodedLength((int)ack.RecordCount) + ControlStreamCipher.HmacLength];
        await Channel.ReadMessageAsync(recordBytes, 0, cancellationToken).ConfigureAwait(false);
        var records = new OwampDataRecord[ack.RecordCount];
        for (int i = 0; i < records.Length; i++)
        {
            OwampDataRecord.TryRead(recordBytes.AsSpan(i * OwampDataRecord.Length), out records[i]);
        }
        return new FetchedSession(ack, request, slots, skips, records);
    }
}
