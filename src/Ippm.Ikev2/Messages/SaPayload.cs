using System.Buffers;
using System.Buffers.Binary;

namespace Ippm.Ikev2.Messages;

/// <summary>One transform of a proposal; <see cref="KeyLength"/> is the Key Length attribute in bits, or 0 if absent.</summary>
public readonly record struct Transform(TransformType Type, ushort Id, ushort KeyLength = 0);

/// <summary>
/// RFC 7296 §3.3.1 Proposal substructure.
/// <code>
/// | Last Substruc |   RESERVED    |         Proposal Length       |
/// | Proposal Num  |  Protocol ID  |    SPI Size   |Num  Transforms|
/// ~                        SPI (variable)                         ~
/// ~                        &lt;Transforms&gt;                           ~
/// </code>
/// </summary>
public sealed record Proposal(byte Number, ProtocolId Protocol, byte[] Spi, IReadOnlyList<Transform> Transforms)
{
    public IEnumerable<Transform> OfType(TransformType type) => Transforms.Where(t => t.Type == type);
}

/// <summary>RFC 7296 §3.3 Security Association payload body: a list of proposals.</summary>
public sealed record SaPayload(IReadOnlyList<Proposal> Proposals)
{
    private const byte MoreProposals = 2;
    private const byte MoreTransforms = 3;
    private const ushort KeyLengthAttribute = 0x800E;

    public static OperationStatus TryRead(ReadOnlySpan<byte> body, out SaPayload? payload)
    {
        payload = null;
        var proposals = new List<Proposal>();
        int offset = 0;
        bool more = true;
        while (more)
        {
            if (body.Length - offset < 8 || proposals.Count >= 32)
            {
                return OperationStatus.InvalidData;
            }
            ReadOnlySpan<byte> p = body[offset..];
            byte last = p[0];
            int length = BinaryPrimitives.ReadUInt16BigEndian(p[2..]);
            if ((last != 0 && last != MoreProposals) || length < 8 || length > p.Length)
            {
                return OperationStatus.InvalidData;
            }
            p = p[..length];
            byte number = p[4];
            var protocol = (ProtocolId)p[5];
            int spiSize = p[6];
            int count = p[7];
            if (8 + spiSize > length)
            {
                return OperationStatus.InvalidData;
            }
            byte[] spi = p.Slice(8, spiSize).ToArray();
            var transforms = new List<Transform>(count);
            int t = 8 + spiSize;
            for (int i = 0; i < count; i++)
            {
                if (length - t < 8)
                {
                    return OperationStatus.InvalidData;
                }
                ReadOnlySpan<byte> tr = p[t..];
                int tLength = BinaryPrimitives.ReadUInt16BigEndian(tr[2..]);
                bool lastTransform = i == count - 1;
                if (tLength < 8 || tLength > tr.Length || tr[0] != (lastTransform ? 0 : MoreTransforms))
                {
                    return OperationStatus.InvalidData;
                }
                ushort keyLength = 0;
                // RFC 7296 §3.3.5 attributes: TV (AF bit set) = type|value, TLV = type|length|value.
                int a = 8;
                while (a < tLength)
                {
                    if (tLength - a < 4)
                    {
                        return OperationStatus.InvalidData;
                    }
                    ushort type = BinaryPrimitives.ReadUInt16BigEndian(tr[a..]);
                    ushort value = BinaryPrimitives.ReadUInt16BigEndian(tr[(a + 2)..]);
                    if ((type & 0x8000) != 0)
                    {
                        if (type == KeyLengthAttribute)
                        {
                            keyLength = value;
                        }
                        a += 4;
                    }
                    else
                    {
                        if (tLength - a - 4 < value)
                        {
                            return OperationStatus.InvalidData;
                        }
                        a += 4 + value;
                    }
                }
                transforms.Add(new Transform((TransformType)tr[4], BinaryPrimitives.ReadUInt16BigEndian(tr[6..]), keyLength));
                t += tLength;
            }
            if (t != length)
            {
                return OperationStatus.InvalidData;
            }
            proposals.Add(new Proposal(number, protocol, spi, transforms));
            more = last == MoreProposals;
            offset += length;
        }
        if (offset != body.Length)
        {
            return OperationStatus.InvalidData;
        }
        payload = new SaPayload(proposals);
        return OperationStatus.Done;
    }

    public byte[] Encode()
    {
        var buffer = new List<byte>();
        for (int i = 0; i < Proposals.Count; i++)
        {
            Proposal proposal = Proposals[i];
            var body = new List<byte>();
            for (int j = 0; j < proposal.Transforms.Count; j++)
            {
                Transform t = proposal.Transforms[j];
                int tLength = t.KeyLength != 0 ? 12 : 8;
                body.Add(j + 1 < proposal.Transforms.Count ? MoreTransforms : (byte)0);
                body.Add(0);
                body.Add((byte)(tLength >> 8));
                body.Add((byte)tLength);
                body.Add((byte)t.Type);
                body.Add(0);
                body.Add((byte)(t.Id >> 8));
                body.Add((byte)t.Id);
                if (t.KeyLength != 0)
                {
                    body.AddRange([0x80, 0x0E, (byte)(t.KeyLength >> 8), (byte)t.KeyLength]);
                }
            }
            int length = 8 + proposal.Spi.Length + body.Count;
            buffer.Add(i + 1 < Proposals.Count ? MoreProposals : (byte)0);
            buffer.Add(0);
            buffer.Add((byte)(length >> 8));
            buffer.Add((byte)length);
            buffer.Add(proposal.Number);
            buffer.Add((byte)proposal.Protocol);
            buffer.Add((byte)proposal.Spi.Length);
            buffer.Add((byte)proposal.Transforms.Count);
            buffer.AddRange(proposal.Spi);
            buffer.AddRange(body);
        }
        return [.. buffer];
    }
}
