using System.Buffers;
using Ippm.Wire.Control;

namespace Ippm.Sessions.Control;

/// <summary>Reads a variable-length OWAMP Stop-Sessions (RFC 4656 §3.8) block by block, within limits.</summary>
public static class OwampStopSessionsReader
{
    public const int MaxSkipRanges = 65536;

    /// <param name="header">The first block, already read and decrypted.</param>
    /// <param name="maxSessions">More described sessions than this is a protocol error (the stream cannot be skipped safely).</param>
    public static async Task<OwampStopSessions> ReadAsync(ControlChannel channel, byte[] header, int maxSessions, CancellationToken cancellationToken)
    {
        if (OwampStopSessions.TryReadHeader(header, out var accept, out uint count) != OperationStatus.Done)
        {
            throw new ControlProtocolException("malformed Stop-Sessions header");
        }
        if (count > maxSessions)
        {
            throw new ControlProtocolException($"Stop-Sessions describes {count} sessions; at most {maxSessions} can exist here");
        }
        var sessions = new List<SessionDescription>((int)count);
        for (int i = 0; i < count; i++)
        {
            byte[] buffer = new byte[SessionDescription.MinLength];
            await channel.ReadBlocksAsync(buffer, cancellationToken).ConfigureAwait(false);
            OperationStatus status = OwampStopSessions.TryReadDescription(buffer, MaxSkipRanges, out SessionDescription? description, out int needed);
            if (status == OperationStatus.NeedMoreData)
            {
                byte[] whole = new byte[needed];
                buffer.CopyTo(whole, 0);
                await channel.ReadBlocksAsync(whole.AsMemory(buffer.Length), cancellationToken).ConfigureAwait(false);
                status = OwampStopSessions.TryReadDescription(whole, MaxSkipRanges, out description, out _);
            }
            if (status != OperationStatus.Done)
            {
                throw new ControlProtocolException("malformed Stop-Sessions session description (padding, skip-range order or count)");
            }
            sessions.Add(description!);
        }
        await channel.ReadHmacAsync(cancellationToken).ConfigureAwait(false);
        return new OwampStopSessions(accept, sessions);
    }

    public static async Task SendAsync(ControlChannel channel, OwampStopSessions stop, CancellationToken cancellationToken)
    {
        byte[] message = new byte[stop.EncodedLength];
        stop.Write(message);
        await channel.SendMessageAsync(message, cancellationToken).ConfigureAwait(false);
    }
}
