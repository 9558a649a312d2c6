using Ippm.Security;

namespace Ippm.Sessions.Control;

/// <summary>
/// Moves O/TWAMP-Control messages over a byte stream. After the handshake every message goes through
/// the two <see cref="ControlStreamCipher"/> directions; the HMAC field is the last block of each
/// section (RFC 4656 §3.4). Any HMAC or framing failure poisons the channel: CBC cannot resynchronise.
/// </summary>
public sealed class ControlChannel : IAsyncDisposable
{
    private readonly Stream _stream;
    private ControlStreamCipher _send = ControlStreamCipher.CreateOpen();
    private ControlStreamCipher _receive = ControlStreamCipher.CreateOpen();

    public ControlChannel(Stream stream) => _stream = stream;

    public bool IsProtected => _send.IsProtected;

    /// <summary>
    /// When set, every read must complete within this time or fails with <see cref="OperationCanceledException"/>:
    /// clients set it after the handshake so a server that goes silent cannot make them wait for ever.
    /// </summary>
    public TimeSpan? ReadTimeout { get; set; }

    /// <summary>Switches to protected mode once the Token has been exchanged.</summary>
    public void Protect(ControlStreamCipher send, ControlStreamCipher receive)
    {
        _send.Dispose();
        _receive.Dispose();
        _send = send;
        _receive = receive;
    }

    public ControlStreamCipher SendCipher => _send;

    /// <summary>Reads exactly <paramref name="buffer"/>.Length octets in clear (greeting, set-up, server-start).</summary>
    public Task ReadRawAsync(Memory<byte> buffer, CancellationToken cancellationToken) => ReadRawAsync(buffer, ReadTimeout, cancellationToken);

    private async Task ReadRawAsync(Memory<byte> buffer, TimeSpan? readTimeout, CancellationToken cancellationToken)
    {
        using CancellationTokenSource? deadline = readTimeout is not null ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken) : null;
        deadline?.CancelAfter(readTimeout!.Value);
        try
        {
            await _stream.ReadExactlyAsync(buffer, deadline?.Token ?? cancellationToken).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            // End of stream or a reset: either way the peer is gone, one exception for callers to expect.
            throw new ControlProtocolException("The peer closed the control connection.", e);
        }
    }

    public async Task WriteRawAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        try
        {
            await _stream.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
            await _stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            throw new ControlProtocolException("The peer closed the control connection.", e);
        }
    }

    /// <summary>Reads and decrypts whole blocks; their plaintext joins the running receive HMAC.</summary>
    public async Task ReadBlocksAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        await ReadRawAsync(buffer, cancellationToken).ConfigureAwait(false);
        _receive.Decrypt(buffer.Span);
    }

    /// <summary>
    /// <see cref="ReadBlocksAsync"/> without <see cref="ReadTimeout"/>: for a message the peer may send at any time or
    /// never (OWAMP: the server's own Stop-Sessions during a test, RFC 4656 §3.8).
    /// </summary>
    public async Task ReadBlocksUntimedAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        await ReadRawAsync(buffer, readTimeout: null, cancellationToken).ConfigureAwait(false);
        _receive.Decrypt(buffer.Span);
    }

    /// <summary>Reads the HMAC block that closes a section and checks it.</summary>
    public async Task ReadHmacAsync(CancellationToken cancellationToken)
    {
        byte[] block = new byte[ControlStreamCipher.HmacLength];
        await ReadRawAsync(block, cancellationToken).ConfigureAwait(false);
        if (!_receive.VerifyHmac(block))
        {
            throw new ControlProtocolException("Control message HMAC does not verify (wrong key or tampered stream).");
        }
    }

    /// <summary>
    /// Reads a message whose last block is its HMAC. <paramref name="alreadyRead"/> octets at the start of
    /// <paramref name="message"/> have been read and decrypted already (the dispatch block).
    /// </summary>
    public async Task ReadMessageAsync(Memory<byte> message, int alreadyRead, CancellationToken cancellationToken)
    {
        int bodyEnd = message.Length - ControlStreamCipher.HmacLength;
        if (bodyEnd > alreadyRead)
        {
            await ReadBlocksAsync(message[alreadyRead..bodyEnd], cancellationToken).ConfigureAwait(false);
        }
        await ReadHmacAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Seals (HMAC + encryption) a message whose last block is the HMAC field, and sends it.</summary>
    public async Task SendMessageAsync(byte[] message, CancellationToken cancellationToken)
    {
        _send.Seal(message);
        await WriteRawAsync(message, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        _send.Dispose();
        _receive.Dispose();
        await _stream.DisposeAsync().ConfigureAwait(false);
    }
}
