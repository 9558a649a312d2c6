using Ippm.Security;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;
using Microsoft.Extensions.Logging;

namespace Ippm.Sessions.Owamp;

/// <summary>
/// Fetch-Session on the server (RFC 4656 §3.8): a completed session of this connection from memory, or one stored
/// in the data directory by this or an earlier connection, served as Fetch-Ack, the original Request-Session, the
/// skip ranges and the records of Begin ≤ seq ≤ End; owampd.limits(5) delete_on_fetch afterwards.
/// </summary>
public sealed partial class OwampServerConnection
{
    /// <summary>A completed in-memory session as Fetch-Session serves it, records filtered to Begin ≤ seq ≤ End.</summary>
    private OwampStoredSession Snapshot(OwampReceiver receiver, uint begin, uint end)
    {
        (byte[] request, byte[] slots) = _requests[receiver.Sid];
        request = (byte[])request.Clone();
        request.AsSpan(SessionRequest.HmacOffset).Clear();
        // The copy Fetch-Session returns names the session as accepted, as perfSONAR's owampd sends it (the
        // captures): the SID and the receiver's port, which the client's Request-Session left zero. owping -T
        // stores this copy, and owstats derives the schedule (START_TIME, END_TIME) from that SID.
        receiver.Sid.Write(request.AsSpan(48));
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(14), (ushort)receiver.Port);
        SessionDescription completion = receiver.Completion!;
        return new OwampStoredSession(
            receiver.Sid,
            receiver.EndedAbnormally ? (byte)2 : (byte)1,
            completion.NextSeqno,
            completion.SkipRanges,
            request,
            slots[..^ControlStreamCipher.HmacLength],
            _identity,
            receiver.Records(begin, end));
    }

    private async Task HandleFetchAsync(byte[] first, CancellationToken cancellationToken)
    {
        // The request whole first, under the set-up deadline: a client that sends one block and stalls must not hold
        // a fetch slot (all of them, on as many connections) for the fetch's ten minutes.
        byte[] message;
        using (CancellationTokenSource whole = MessageDeadline(cancellationToken))
        {
            message = await ReadRestAsync(first, FetchSession.Length, whole.Token).ConfigureAwait(false);
        }
        // Each fetch holds a whole session in memory a few times over while it is encrypted and sent; a
        // server-wide limit on simultaneous fetches bounds that (the others wait their turn).
        SemaphoreSlim slots = Options.FetchSlots;
        await slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await FetchAsync(message, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            slots.Release();
        }
    }

    private async Task FetchAsync(byte[] message, CancellationToken cancellationToken)
    {
        FetchSession.TryRead(message, out FetchSession? fetch);
        SessionId sid = fetch!.Sid;
        OwampReceiver? receiver = _receivers.FirstOrDefault(r => r.Sid == sid);
        bool stored;
        lock (_stored)
        {
            stored = _stored.Contains(sid);
        }
        OwampStoredSession? session = null;
        (AcceptCode Code, string Reason) refusal = (AcceptCode.Failure, $"no received session {sid}");
        if (fetch.BeginSeq > fetch.EndSeq)
        {
            refusal = (AcceptCode.Failure, "empty range");
        }
        else if (receiver is not null && !stored)
        {
            if (receiver.Completion is null)
            {
                refusal = (AcceptCode.Failure, "session not finished");
            }
            else
            {
                session = Snapshot(receiver, fetch.BeginSeq, fetch.EndSeq);
            }
        }
        else if (_store is { } store)
        {
            // Same connection or a later one (the access rule is the store's: same KeyID, or anyone for open mode).
            (OwampStoreLookup lookup, OwampStoredSession? loaded, string reason) = await Task.Run(
                () => (store.TryLoad(sid, _identity, out OwampStoredSession? s, out string r), s, r), cancellationToken).ConfigureAwait(false);
            if (loaded is not null)
            {
                session = loaded with { Records = loaded.RecordsBetween(fetch.BeginSeq, fetch.EndSeq) };
            }
            else
            {
                refusal = (lookup == OwampStoreLookup.Unreadable ? AcceptCode.InternalError : AcceptCode.Failure, reason);
            }
        }
        if (session is null)
        {
            Log.FetchRefused(Logger, Peer, (byte)refusal.Code, refusal.Reason);
            await SendAsync(new FetchAck(refusal.Code, 0, 0, 0, 0).Write, FetchAck.Length, cancellationToken).ConfigureAwait(false);
            return;
        }
        IReadOnlyList<OwampDataRecord> records = session.Records;
        var ack = new FetchAck(AcceptCode.Ok, session.Finished, session.NextSeqno, (uint)session.SkipRanges.Count, (uint)records.Count);
        await SendAsync(ack.Write, FetchAck.Length, cancellationToken).ConfigureAwait(false);

        // RFC 4656 §3.8: the original Request-Session (HMACs recomputed), the skip ranges, then the records,
        // each section closed by an HMAC block.
        byte[] slots = new byte[session.SlotBlocks.Length + ControlStreamCipher.HmacLength];
        session.SlotBlocks.CopyTo(slots, 0);
        await Channel.SendMessageAsync((byte[])session.Request.Clone(), cancellationToken).ConfigureAwait(false);
        await Channel.SendMessageAsync(slots, cancellationToken).ConfigureAwait(false);

        byte[] skipSection = new byte[SkipRangeList.EncodedLength(session.SkipRanges.Count) + ControlStreamCipher.HmacLength];
        SkipRangeList.Write(session.SkipRanges, skipSection);
        await Channel.SendMessageAsync(skipSection, cancellationToken).ConfigureAwait(false);

        byte[] recordSection = new byte[OwampDataRecord.EncodedLength(records.Count) + ControlStreamCipher.HmacLength];
        for (int i = 0; i < records.Count; i++)
        {
            records[i].Write(recordSection.AsSpan(i * OwampDataRecord.Length));
        }
        await Channel.SendMessageAsync(recordSection, cancellationToken).ConfigureAwait(false);
        Log.Fetched(Logger, Peer, records.Count, sid);
        if (PolicyClass.DeleteOnFetch)
        {
            // owampd.limits(5) delete_on_fetch: the data is gone once fetched, from disk and from memory.
            bool deleted = _store?.Delete(sid) ?? false;
            receiver?.ReleaseRecords();
            lock (_stored)
            {
                _stored.Remove(sid);
            }
            _receivers.RemoveAll(r => r.Sid == sid);
            receiver?.Dispose();
            DeleteLog.DeletedOnFetch(Logger, Peer, sid, PolicyClass.Name, deleted ? "disk and memory" : "memory");
        }
    }

    private static partial class DeleteLog
    {
        [LoggerMessage(EventId = 233, Level = LogLevel.Information, Message = "{Peer}: session {Sid} deleted after fetch ({Where}): class '{Class}' limit delete_on_fetch=on")]
        public static partial void DeletedOnFetch(ILogger logger, string peer, SessionId sid, string @class, string where);
    }
}
