using System.Buffers;
using Ippm.Ikev2.Crypto;

namespace Ippm.Ikev2.Messages;

/// <summary>A received IKE message: header and the outer payload chain (an SK payload, if any, comes last).</summary>
public sealed class IkeMessage
{
    private IkeMessage(byte[] octets, IkeHeader header, List<RawPayload> payloads, PayloadType innerFirst)
    {
        Octets = octets;
        Header = header;
        Payloads = payloads;
        InnerFirst = innerFirst;
    }

    /// <summary>The datagram as received (RealMessage1/2 for IKE_SA_INIT).</summary>
    public byte[] Octets { get; }
    public IkeHeader Header { get; }
    public List<RawPayload> Payloads { get; }

    /// <summary>The type of the first payload inside SK, when the message has an SK payload.</summary>
    public PayloadType InnerFirst { get; }

    public RawPayload? Encrypted => Payloads.Count > 0 && Payloads[^1].Type == PayloadType.Encrypted ? Payloads[^1] : null;

    /// <summary>Parses one datagram; never throws on peer bytes.</summary>
    public static OperationStatus TryParse(byte[] datagram, out IkeMessage? message)
    {
        message = null;
        OperationStatus status = IkeHeader.TryRead(datagram, out IkeHeader header);
        if (status != OperationStatus.Done)
        {
            return status == OperationStatus.NeedMoreData ? OperationStatus.InvalidData : status;
        }
        if (header.Length != datagram.Length)
        {
            return OperationStatus.InvalidData;
        }
        var payloads = new List<RawPayload>();
        status = RawPayload.TryReadChain(datagram.AsMemory(IkeHeader.Size), header.NextPayload, payloads, out PayloadType innerFirst, IkeHeader.Size);
        if (status != OperationStatus.Done)
        {
            return OperationStatus.InvalidData;
        }
        message = new IkeMessage(datagram, header, payloads, innerFirst);
        return OperationStatus.Done;
    }

    /// <summary>Decrypts the SK payload and parses the inner chain; null if absent, unauthentic or malformed.</summary>
    public List<RawPayload>? OpenEncrypted(SkProtection protection)
    {
        if (Encrypted is not RawPayload sk || Payloads.Count != 1)
        {
            return null;
        }
        byte[]? plain = protection.Open(Octets, sk);
        if (plain is null)
        {
            return null;
        }
        var inner = new List<RawPayload>();
        return RawPayload.TryReadChain(plain, InnerFirst, inner, out _) == OperationStatus.Done && inner.All(p => p.Type != PayloadType.Encrypted) ? inner : null;
    }

    /// <summary>Builds an unencrypted message (IKE_SA_INIT).</summary>
    public static byte[] Build(IkeHeader header, IReadOnlyList<OutgoingPayload> payloads)
    {
        int total = IkeHeader.Size + OutgoingPayload.ChainLength(payloads);
        byte[] message = new byte[total];
        (header with { NextPayload = payloads.Count > 0 ? payloads[0].Type : PayloadType.None, Length = (uint)total }).Write(message);
        OutgoingPayload.WriteChain(payloads, message.AsSpan(IkeHeader.Size));
        return message;
    }
}

/// <summary>Typed access to a decoded payload list.</summary>
public static class PayloadListExtensions
{
    public static RawPayload? First(this List<RawPayload> payloads, PayloadType type)
    {
        foreach (RawPayload p in payloads)
        {
            if (p.Type == type)
            {
                return p;
            }
        }
        return null;
    }

    public static List<NotifyPayload> Notifies(this List<RawPayload> payloads)
    {
        var list = new List<NotifyPayload>();
        foreach (RawPayload p in payloads)
        {
            if (p.Type == PayloadType.Notify && NotifyPayload.TryRead(p.Body.Span, out NotifyPayload? n) == OperationStatus.Done)
            {
                list.Add(n!);
            }
        }
        return list;
    }

    /// <summary>The first unknown payload with the critical bit set (RFC 7296 §2.5), if any.</summary>
    public static RawPayload? UnknownCritical(this List<RawPayload> payloads) =>
        payloads.Where(p => p.Critical && !RawPayload.IsKnown(p.Type)).Cast<RawPayload?>().FirstOrDefault();
}
