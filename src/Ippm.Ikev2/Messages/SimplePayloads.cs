using System.Buffers;
using System.Buffers.Binary;

namespace Ippm.Ikev2.Messages;

/// <summary>
/// RFC 7296 §3.4 Key Exchange payload body.
/// <code>
/// |   Diffie-Hellman Group Num    |           RESERVED            |
/// ~                       Key Exchange Data                       ~
/// </code>
/// </summary>
public sealed record KePayload(DhGroup Group, byte[] Data)
{
    public static OperationStatus TryRead(ReadOnlySpan<byte> body, out KePayload? payload)
    {
        payload = null;
        if (body.Length < 5)
        {
            return OperationStatus.InvalidData;
        }
        payload = new KePayload((DhGroup)BinaryPrimitives.ReadUInt16BigEndian(body), body[4..].ToArray());
        return OperationStatus.Done;
    }

    public byte[] Encode()
    {
        byte[] body = new byte[4 + Data.Length];
        BinaryPrimitives.WriteUInt16BigEndian(body, (ushort)Group);
        Data.CopyTo(body, 4);
        return body;
    }
}

/// <summary>
/// RFC 7296 §3.10 Notify payload body.
/// <code>
/// |  Protocol ID  |   SPI Size    |      Notify Message Type      |
/// ~                Security Parameter Index (SPI)                 ~
/// ~                       Notification Data                       ~
/// </code>
/// </summary>
public sealed record NotifyPayload(ProtocolId Protocol, byte[] Spi, NotifyType Type, byte[] Data)
{
    public NotifyPayload(NotifyType type, byte[]? data = null)
        : this(ProtocolId.None, [], type, data ?? [])
    {
    }

    /// <summary>Error types are below 16384 (RFC 7296 §3.10.1).</summary>
    public bool IsError => (ushort)Type < 16384;

    public static OperationStatus TryRead(ReadOnlySpan<byte> body, out NotifyPayload? payload)
    {
        payload = null;
        if (body.Length < 4 || body.Length < 4 + body[1])
        {
            return OperationStatus.InvalidData;
        }
        int spiSize = body[1];
        payload = new NotifyPayload(
            (ProtocolId)body[0], body.Slice(4, spiSize).ToArray(), (NotifyType)BinaryPrimitives.ReadUInt16BigEndian(body[2..]), body[(4 + spiSize)..].ToArray());
        return OperationStatus.Done;
    }

    public byte[] Encode()
    {
        byte[] body = new byte[4 + Spi.Length + Data.Length];
        body[0] = (byte)Protocol;
        body[1] = (byte)Spi.Length;
        BinaryPrimitives.WriteUInt16BigEndian(body.AsSpan(2), (ushort)Type);
        Spi.CopyTo(body, 4);
        Data.CopyTo(body, 4 + Spi.Length);
        return body;
    }

    public OutgoingPayload ToOutgoing() => new(PayloadType.Notify, Encode());
}

/// <summary>
/// RFC 7296 §3.5 Identification payload body (IDi and IDr).
/// <code>
/// |   ID Type     |                 RESERVED                      |
/// ~                   Identification Data                         ~
/// </code>
/// The whole body is "RestOfInitIDPayload" / "RestOfRespIDPayload" of §2.15.
/// </summary>
public sealed record IdPayload(IdType Type, byte[] Data)
{
    public static OperationStatus TryRead(ReadOnlySpan<byte> body, out IdPayload? payload)
    {
        payload = null;
        if (body.Length < 5)
        {
            return OperationStatus.InvalidData;
        }
        payload = new IdPayload((IdType)body[0], body[4..].ToArray());
        return OperationStatus.Done;
    }

    public byte[] Encode()
    {
        byte[] body = new byte[4 + Data.Length];
        body[0] = (byte)Type;
        Data.CopyTo(body, 4);
        return body;
    }
}

/// <summary>
/// RFC 7296 §3.8 Authentication payload body.
/// <code>
/// | Auth Method   |                RESERVED                       |
/// ~                      Authentication Data                      ~
/// </code>
/// </summary>
public sealed record AuthPayload(AuthMethod Method, byte[] Data)
{
    public static OperationStatus TryRead(ReadOnlySpan<byte> body, out AuthPayload? payload)
    {
        payload = null;
        if (body.Length < 5)
        {
            return OperationStatus.InvalidData;
        }
        payload = new AuthPayload((AuthMethod)body[0], body[4..].ToArray());
        return OperationStatus.Done;
    }

    public byte[] Encode()
    {
        byte[] body = new byte[4 + Data.Length];
        body[0] = (byte)Method;
        Data.CopyTo(body, 4);
        return body;
    }
}

/// <summary>RFC 7296 §3.6/§3.7 Certificate and Certificate Request payload bodies: encoding octet + data.</summary>
public sealed record CertPayload(CertEncoding Encoding, byte[] Data)
{
    public static OperationStatus TryRead(ReadOnlySpan<byte> body, out CertPayload? payload)
    {
        payload = null;
        if (body.Length < 1)
        {
            return OperationStatus.InvalidData;
        }
        payload = new CertPayload((CertEncoding)body[0], body[1..].ToArray());
        return OperationStatus.Done;
    }

    public byte[] Encode()
    {
        byte[] body = new byte[1 + Data.Length];
        body[0] = (byte)Encoding;
        Data.CopyTo(body, 1);
        return body;
    }
}

/// <summary>
/// RFC 7296 §3.11 Delete payload body.
/// <code>
/// | Protocol ID   |   SPI Size    |          Num of SPIs          |
/// ~               Security Parameter Index(es) (SPI)              ~
/// </code>
/// </summary>
public sealed record DeletePayload(ProtocolId Protocol, byte SpiSize, IReadOnlyList<byte[]> Spis)
{
    public static DeletePayload IkeSa { get; } = new(ProtocolId.Ike, 0, []);

    public static OperationStatus TryRead(ReadOnlySpan<byte> body, out DeletePayload? payload)
    {
        payload = null;
        if (body.Length < 4)
        {
            return OperationStatus.InvalidData;
        }
        int spiSize = body[1];
        int count = BinaryPrimitives.ReadUInt16BigEndian(body[2..]);
        if (body.Length != 4 + (spiSize * count) || (spiSize == 0 && count != 0))
        {
            return OperationStatus.InvalidData;
        }
        var spis = new List<byte[]>(count);
        for (int i = 0; i < count; i++)
        {
            spis.Add(body.Slice(4 + (i * spiSize), spiSize).ToArray());
        }
        payload = new DeletePayload((ProtocolId)body[0], (byte)spiSize, spis);
        return OperationStatus.Done;
    }

    public byte[] Encode()
    {
        byte[] body = new byte[4 + (SpiSize * Spis.Count)];
        body[0] = (byte)Protocol;
        body[1] = SpiSize;
        BinaryPrimitives.WriteUInt16BigEndian(body.AsSpan(2), (ushort)Spis.Count);
        for (int i = 0; i < Spis.Count; i++)
        {
            Spis[i].CopyTo(body, 4 + (i * SpiSize));
        }
        return body;
    }
}
