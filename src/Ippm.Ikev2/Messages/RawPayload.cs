using System.Buffers;
using System.Buffers.Binary;

namespace Ippm.Ikev2.Messages;

/// <summary>
/// One payload as found in a chain: its type, critical bit and body (after the generic header).
/// RFC 7296 §3.2 generic payload header:
/// <code>
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Next Payload  |C|  RESERVED   |         Payload Length        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// </code>
/// </summary>
public readonly record struct RawPayload(PayloadType Type, bool Critical, ReadOnlyMemory<byte> Body, int Offset)
{
    public const int HeaderSize = 4;
    public const byte CriticalBit = 0x80;

    /// <summary>True for the payload types this implementation understands (RFC 7296 §2.5: unknown critical ones are refused).</summary>
    public static bool IsKnown(PayloadType type) => type is >= PayloadType.SecurityAssociation and <= PayloadType.Eap;

    /// <summary>
    /// Walks a payload chain starting with <paramref name="first"/>. The Encrypted payload (SK) ends the chain: its
    /// Next Payload field names the first inner payload, returned in <paramref name="innerFirst"/>.
    /// <paramref name="baseOffset"/> is added to <see cref="Offset"/> (the offset of each generic header).
    /// </summary>
    public static OperationStatus TryReadChain(
        ReadOnlyMemory<byte> src, PayloadType first, List<RawPayload> payloads, out PayloadType innerFirst, int baseOffset = 0)
    {
        innerFirst = PayloadType.None;
        ReadOnlySpan<byte> span = src.Span;
        PayloadType next = first;
        int offset = 0;
        while (next != PayloadType.None)
        {
            if (span.Length - offset < HeaderSize)
            {
                return OperationStatus.InvalidData;
            }
            int length = BinaryPrimitives.ReadUInt16BigEndian(span[(offset + 2)..]);
            if (length < HeaderSize || length > span.Length - offset || payloads.Count >= 64)
            {
                return OperationStatus.InvalidData;
            }
            var payload = new RawPayload(next, (span[offset + 1] & CriticalBit) != 0, src.Slice(offset + HeaderSize, length - HeaderSize), baseOffset + offset);
            payloads.Add(payload);
            PayloadType following = (PayloadType)span[offset];
            offset += length;
            if (next == PayloadType.Encrypted)
            {
                innerFirst = following;
                return offset == span.Length ? OperationStatus.Done : OperationStatus.InvalidData;
            }
            next = following;
        }
        return offset == span.Length ? OperationStatus.Done : OperationStatus.InvalidData;
    }
}

/// <summary>A payload to send: its type and encoded body.</summary>
public readonly record struct OutgoingPayload(PayloadType Type, byte[] Body)
{
    public static int ChainLength(IReadOnlyList<OutgoingPayload> payloads)
    {
        int length = 0;
        foreach (OutgoingPayload p in payloads)
        {
            length += RawPayload.HeaderSize + p.Body.Length;
        }
        return length;
    }

    /// <summary>Writes the chain; the last payload's Next Payload is <paramref name="after"/> (normally None).</summary>
    public static int WriteChain(IReadOnlyList<OutgoingPayload> payloads, Span<byte> dst, PayloadType after = PayloadType.None)
    {
        int offset = 0;
        for (int i = 0; i < payloads.Count; i++)
        {
            OutgoingPayload p = payloads[i];
            dst[offset] = (byte)(i + 1 < payloads.Count ? payloads[i + 1].Type : after);
            dst[offset + 1] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(dst[(offset + 2)..], checked((ushort)(RawPayload.HeaderSize + p.Body.Length)));
            p.Body.CopyTo(dst[(offset + RawPayload.HeaderSize)..]);
            offset += RawPayload.HeaderSize + p.Body.Length;
        }
        return offset;
    }
}
