using System.Buffers;
using System.Buffers.Binary;

namespace Ippm.Ikev2.Messages;

/// <summary>
/// RFC 7296 §3.1 IKE header.
/// <code>
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                       IKE SA Initiator's SPI                  |
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                       IKE SA Responder's SPI                  |
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                          Message ID                           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                            Length                             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// </code>
/// SPIs are kept as big-endian <see cref="ulong"/>s: formatting them as 16 hex digits gives wire order.
/// </summary>
public readonly record struct IkeHeader(
    ulong SpiI, ulong SpiR, PayloadType NextPayload, ExchangeType Exchange, IkeFlags Flags, uint MessageId, uint Length)
{
    public const int Size = 28;
    public const byte Version2 = 0x20;
    public const int SpiIOffset = 0;
    public const int SpiROffset = SpiIOffset + 8;
    public const int NextPayloadOffset = SpiROffset + 8;
    public const int VersionOffset = NextPayloadOffset + 1;
    public const int ExchangeOffset = VersionOffset + 1;
    public const int FlagsOffset = ExchangeOffset + 1;
    public const int MessageIdOffset = FlagsOffset + 1;
    public const int LengthOffset = MessageIdOffset + 4;

    /// <summary>Largest IKE message accepted (RFC 7296 §2 says at least 1280 must be; strongSwan's default cap is 10000).</summary>
    public const int MaxMessageLength = 64 * 1024;

    public bool IsResponse => (Flags & IkeFlags.Response) != 0;
    public bool IsFromOriginalInitiator => (Flags & IkeFlags.Initiator) != 0;

    /// <summary>
    /// Reads the header. <see cref="OperationStatus.InvalidData"/> for a major version other than 2 or a
    /// Length field that is smaller than the header or larger than <see cref="MaxMessageLength"/>.
    /// </summary>
    public static OperationStatus TryRead(ReadOnlySpan<byte> src, out IkeHeader header)
    {
        header = default;
        if (src.Length < Size)
        {
            return OperationStatus.NeedMoreData;
        }
        if ((src[VersionOffset] >> 4) != 2)
        {
            return OperationStatus.InvalidData;
        }
        uint length = BinaryPrimitives.ReadUInt32BigEndian(src[LengthOffset..]);
        if (length < Size || length > MaxMessageLength)
        {
            return OperationStatus.InvalidData;
        }
        header = new IkeHeader(
            BinaryPrimitives.ReadUInt64BigEndian(src[SpiIOffset..]),
            BinaryPrimitives.ReadUInt64BigEndian(src[SpiROffset..]),
            (PayloadType)src[NextPayloadOffset],
            (ExchangeType)src[ExchangeOffset],
            (IkeFlags)src[FlagsOffset],
            BinaryPrimitives.ReadUInt32BigEndian(src[MessageIdOffset..]),
            length);
        return OperationStatus.Done;
    }

    public void Write(Span<byte> dst)
    {
        if (dst.Length < Size)
        {
            throw new ArgumentException("Destination shorter than the IKE header.", nameof(dst));
        }
        BinaryPrimitives.WriteUInt64BigEndian(dst[SpiIOffset..], SpiI);
        BinaryPrimitives.WriteUInt64BigEndian(dst[SpiROffset..], SpiR);
        dst[NextPayloadOffset] = (byte)NextPayload;
        dst[VersionOffset] = Version2;
        dst[ExchangeOffset] = (byte)Exchange;
        dst[FlagsOffset] = (byte)Flags;
        BinaryPrimitives.WriteUInt32BigEndian(dst[MessageIdOffset..], MessageId);
        BinaryPrimitives.WriteUInt32BigEndian(dst[LengthOffset..], Length);
    }

    /// <summary>An SPI as 16 lower-case hex digits in wire order.</summary>
    public static string FormatSpi(ulong spi) => spi.ToString("x16", System.Globalization.CultureInfo.InvariantCulture);
}
