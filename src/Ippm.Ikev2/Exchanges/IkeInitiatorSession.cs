using System.Buffers;
using System.Net.Sockets;
using System.Threading.Channels;
using Ippm.Ikev2.Messages;
using Ippm.Ikev2.SaDatabase;
using Microsoft.Extensions.Logging;

namespace Ippm.Ikev2.Exchanges;

/// <summary>
/// An IKE SA this end initiated. <see cref="DeleteAsync"/> and <see cref="CheckLivenessAsync"/> send our
/// INFORMATIONAL requests; <see cref="ServeAsync"/> answers the peer's (liveness, delete, IKE SA rekey).
/// </summary>
public sealed class IkeInitiatorSession : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly IkeInitiatorOptions _options;
    private readonly IkeSaDatabase? _database;
    private readonly ILogger _logger;
    private IkeSa _sa;

    /// <summary>The SA just rekeyed away: kept to answer the peer's Delete for it (and retransmissions).</summary>
    private IkeSa? _previous;
    private IkeSaEntry? _previousEntry;

    /// <summary>While <see cref="ServeAsync"/> owns the socket, responses to our own requests are handed over here.</summary>
    private volatile Channel<byte[]>? _responses;

    /// <summary>Ends <see cref="ServeAsync"/> once we deleted the SA ourselves.</summary>
    private readonly CancellationTokenSource _deleted = new();

    internal IkeInitiatorSession(Socket socket, IkeSa sa, IkeInitiatorOptions options, IkeSaDatabase? database, ILogger logger)
    {
        _socket = socket;
        _sa = sa;
        _options = options;
        _database = database;
        _logger = logger;
        Entry = sa.ToEntry();
    }

    /// <summary>A snapshot of the SA (its own SK_d copy), also what the database holds.</summary>
    public IkeSaEntry Entry { get; private set; }

    public bool IsDeleted => _sa.Deleted;

    /// <summary>Sends an empty INFORMATIONAL request (RFC 7296 §1.4, liveness check) and waits for the answer.</summary>
    public Task CheckLivenessAsync(CancellationToken cancellationToken = default) => InformationalAsync([], cancellationToken);

    /// <summary>Deletes the IKE SA (RFC 7296 §1.4.1). The database entry stays, marked deleted, for key holders.</summary>
    public async Task DeleteAsync(CancellationToken cancellationToken = default)
    {
        if (_sa.Deleted)
        {
            return;
        }
        await InformationalAsync([new OutgoingPayload(PayloadType.Delete, DeletePayload.IkeSa.Encode())], cancellationToken).ConfigureAwait(false);
        _sa.Deleted = true;
        _database?.MarkDeleted(_sa.SpiI, _sa.SpiR);
        await _deleted.CancelAsync().ConfigureAwait(false);
    }

    private async Task InformationalAsync(List<OutgoingPayload> payloads, CancellationToken ct)
    {
        (uint id, byte[] request) = _sa.NextRequest(ExchangeType.Informational, payloads);
        Func<byte[], CancellationToken, ValueTask<int>>? receive = null;
        if (_responses is Channel<byte[]> responses)
        {
            receive = async (buffer, token) =>
            {
                byte[] datagram = await responses.Reader.ReadAsync(token).ConfigureAwait(false);
                datagram.CopyTo(buffer, 0);
                return datagram.Length;
            };
        }
        await Transport.RequestAsync(_socket, request, m =>
        {
            if (m.Header.SpiI != _sa.SpiI || m.Header.SpiR != _sa.SpiR || !_sa.IsFromPeer(m))
            {
                return false;
            }
            if (!m.Header.IsResponse)
            {
                AnswerPeer(m); // the peer's own request crossed ours
                return false;
            }
            return m.Header.MessageId == id && _sa.Open(m) is not null;
        }, _options.Retransmit, _logger, ct, receive).ConfigureAwait(false);
    }

    /// <summary>Answers the peer's requests until the SA is deleted or <paramref name="cancellationToken"/> fires.</summary>
    public async Task ServeAsync(CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[Transport.MaxDatagram];
        Channel<byte[]> responses = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(16) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true, SingleWriter = true });
        _responses = responses;
        using var serving = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _deleted.Token);
        try
        {
            while (!_sa.Deleted)
            {
                int length;
                try
                {
                    length = await _socket.ReceiveAsync(buffer, SocketFlags.None, serving.Token).ConfigureAwait(false);
                }
                catch (SocketException)
                {
                    continue;
                }
                catch (OperationCanceledException) when (_deleted.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                {
                    return; // we deleted the SA
                }
                byte[] datagram = Transport.Unframe(buffer.AsSpan(0, length));
                if (IkeMessage.TryParse(datagram, out IkeMessage? m) != OperationStatus.Done)
                {
                    Log.Dropped(_logger, length, _socket.RemoteEndPoint, "malformed IKE message");
                    continue;
                }
                if (m!.Header.IsResponse)
                {
                    responses.Writer.TryWrite(datagram); // InformationalAsync checks it
                    continue;
                }
                AnswerPeer(m);
            }
        }
        finally
        {
            _responses = null;
        }
    }

    private void AnswerPeer(IkeMessage m)
    {
        if (_previous is IkeSa previous && m.Header.SpiI == previous.SpiI && m.Header.SpiR == previous.SpiR)
        {
            // After a rekey the peer deletes the old SA on the old SA (RFC 7296 §2.18); its keys stay in the database.
            byte[]? answer = previous.HandleRequest(m, _options.Proposals, out IkeSa? unexpected, out string? why);
            unexpected?.Dispose();
            if (answer is null)
            {
                Log.Dropped(_logger, m.Octets.Length, _socket.RemoteEndPoint, why ?? "dropped");
                return;
            }
            _socket.Send(Transport.Frame(answer, _socket.RemoteEndPoint));
            return;
        }
        if (m.Header.SpiI != _sa.SpiI || m.Header.SpiR != _sa.SpiR || !_sa.IsFromPeer(m))
        {
            return;
        }
        byte[]? response = _sa.HandleRequest(m, _options.Proposals, out IkeSa? rekeyed, out string? reason);
        if (response is null)
        {
            Log.Dropped(_logger, m.Octets.Length, _socket.RemoteEndPoint, reason ?? "dropped");
            return;
        }
        _socket.Send(Transport.Frame(response, _socket.RemoteEndPoint));
        if (rekeyed is not null)
        {
            Log.Rekeyed(_logger, _sa.SpiIText, _sa.SpiRText, rekeyed.SpiIText, rekeyed.SpiRText);
            _database?.Add(rekeyed.ToEntry());
            _database?.MarkRekeyed(_sa.SpiI, _sa.SpiR, rekeyed.SpiI, rekeyed.SpiR);
            _previous?.Dispose();
            _previous = _sa;
            _sa = rekeyed;
            // The replaced entry's SK_d copy is wiped a rekey later, with the SA it came from: a caller that read
            // Entry just before the swap may still be deriving from it.
            _previousEntry?.Dispose();
            _previousEntry = Entry;
            Entry = rekeyed.ToEntry();
        }
        else if (_sa.Deleted)
        {
            Log.DeletedByPeer(_logger, _sa.SpiIText, _sa.SpiRText);
            _database?.MarkDeleted(_sa.SpiI, _sa.SpiR);
        }
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        _sa.Dispose();
        _previous?.Dispose();
        _previousEntry?.Dispose();
        Entry.Dispose();
        _deleted.Dispose();
        return ValueTask.CompletedTask;
    }
}
