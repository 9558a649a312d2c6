using System.Buffers;
using System.Buffers.Binary;

namespace Ippm.Wire.Control;

/// <summary>
/// The four RFC 5938 Individual Session Control messages share one shape: a header block, the SIDs they name and an
/// HMAC block, 16 + 16·N + 16 octets. The HMAC (last block) covers everything before it.
/// <code>
///  0 Command (1) | 1 Accept (1; MBZ in the commands) | 2 MBZ (10) | 12 Number of Sessions N (4)
/// 16 SID 1 (16) … SID N (16) | 16 + 16·N HMAC (16)
/// </code>
/// Start-N-Sessions (7, §3.2), Start-N-Ack (8, §3.3), Stop-N-Sessions (9, §3.4), Stop-N-Ack (10, §3.5).
/// </summary>
public abstract record SessionListMessage
{
    public const int HeaderLength = 16;
    public const int SidLength = 16;
    public const int CountOffset = 12;

    private protected SessionListMessage(AcceptCode accept, IReadOnlyList<SessionId> sids)
    {
        Accept = accept;
        Sids = sids;
    }

    public abstract CommandNumber Command { get; }

    /// <summary>Acks only; always zero in Start-N-Sessions and Stop-N-Sessions.</summary>
    public AcceptCode Accept { get; }

    public IReadOnlyList<SessionId> Sids { get; }

    public int EncodedLength => LengthFor(Sids.Count);

    /// <summary>Message length for <paramref name="sessions"/> SIDs, HMAC block included.</summary>
    public static int LengthFor(int sessions) => HeaderLength + sessions * SidLength + 16;

    /// <summary>Number of Sessions from the header block (the length of the rest depends on it).</summary>
    public static uint ReadCount(ReadOnlySpan<byte> header) => BinaryPrimitives.ReadUInt32BigEndian(header[CountOffset..]);

    public void Write(Span<byte> destination)
    {
        int length = EncodedLength;
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, length, nameof(destination));
        Span<byte> d = destination[..length];
        d.Clear();
        d[0] = (byte)Command;
        d[1] = (byte)Accept;
        BinaryPrimitives.WriteUInt32BigEndian(d[CountOffset..], (uint)Sids.Count);
        for (int i = 0; i < Sids.Count; i++)
        {
            Sids[i].Write(d[(HeaderLength + i * SidLength)..]);
        }
    }

    /// <summary>
    /// Parses a whole message of the expected command. <see cref="OperationStatus.InvalidData"/> for another command
    /// number; <see cref="OperationStatus.NeedMoreData"/> until header, SIDs and HMAC block are all there.
    /// </summary>
    protected static OperationStatus TryReadParts(ReadOnlySpan<byte> source, CommandNumber expected, out AcceptCode accept, out SessionId[]? sids)
    {
        accept = AcceptCode.Ok;
        sids = null;
        if (source.Length < HeaderLength)
        {
            return OperationStatus.NeedMoreData;
        }
        if (source[0] != (byte)expected)
        {
            return OperationStatus.InvalidData;
        }
        uint count = ReadCount(source);
        if (count > (int.MaxValue - 32) / SidLength)
        {
            return OperationStatus.InvalidData;
        }
        if (source.Length < LengthFor((int)count))
        {
            return OperationStatus.NeedMoreData;
        }
        accept = (AcceptCode)source[1];
        sids = new SessionId[count];
        for (int i = 0; i < count; i++)
        {
            sids[i] = SessionId.Read(source[(HeaderLength + i * SidLength)..]);
        }
        return OperationStatus.Done;
    }
}

/// <summary>Start-N-Sessions (RFC 5938 §3.2): start the listed sessions of this connection.</summary>
public sealed record StartNSessions(IReadOnlyList<SessionId> SessionIds) : SessionListMessage(AcceptCode.Ok, SessionIds)
{
    public override CommandNumber Command => CommandNumber.StartNSessions;

    public static OperationStatus TryRead(ReadOnlySpan<byte> source, out StartNSessions? message)
    {
        OperationStatus status = TryReadParts(source, CommandNumber.StartNSessions, out _, out SessionId[]? sids);
        message = status == OperationStatus.Done ? new StartNSessions(sids!) : null;
        return status;
    }
}

/// <summary>Start-N-Ack (RFC 5938 §3.3): the server's answer, repeating the SIDs of the command.</summary>
public sealed record StartNAck(AcceptCode Outcome, IReadOnlyList<SessionId> SessionIds) : SessionListMessage(Outcome, SessionIds)
{
    public override CommandNumber Command => CommandNumber.StartNAck;

    public static OperationStatus TryRead(ReadOnlySpan<byte> source, out StartNAck? message)
    {
        OperationStatus status = TryReadParts(source, CommandNumber.StartNAck, out AcceptCode accept, out SessionId[]? sids);
        message = status == OperationStatus.Done ? new StartNAck(accept, sids!) : null;
        return status;
    }
}

/// <summary>Stop-N-Sessions (RFC 5938 §3.4): stop the listed sessions of this connection.</summary>
public sealed record StopNSessions(IReadOnlyList<SessionId> SessionIds) : SessionListMessage(AcceptCode.Ok, SessionIds)
{
    public override CommandNumber Command => CommandNumber.StopNSessions;

    public static OperationStatus TryRead(ReadOnlySpan<byte> source, out StopNSessions? message)
    {
        OperationStatus status = TryReadParts(source, CommandNumber.StopNSessions, out _, out SessionId[]? sids);
        message = status == OperationStatus.Done ? new StopNSessions(sids!) : null;
        return status;
    }
}

/// <summary>Stop-N-Ack (RFC 5938 §3.5): the server's answer, repeating the SIDs of the command.</summary>
public sealed record StopNAck(AcceptCode Outcome, IReadOnlyList<SessionId> SessionIds) : SessionListMessage(Outcome, SessionIds)
{
    public override CommandNumber Command => CommandNumber.StopNAck;

    public static OperationStatus TryRead(ReadOnlySpan<byte> source, out StopNAck? message)
    {
        OperationStatus status = TryReadParts(source, CommandNumber.StopNAck, out AcceptCode accept, out SessionId[]? sids);
        message = status == OperationStatus.Done ? new StopNAck(accept, sids!) : null;
        return status;
    }
}
