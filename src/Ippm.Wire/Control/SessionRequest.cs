using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Ippm.Wire.Control;

/// <summary>
/// Request-Session (OWAMP, command 1, RFC 4656 §3.5) and Request-TW-Session (TWAMP, command 5,
/// RFC 5357 §3.5, RFC 6038 §4.2) share this 112-octet skeleton. OWAMP's schedule slots follow it
/// as separate blocks (<see cref="ScheduleSlot"/>).
/// <code>
///   0 Command (1) | 1 MBZ(4 bits) IPVN(4 bits) | 2 Conf-Sender (1) | 3 Conf-Receiver (1)
///   4 Number of Schedule Slots (4) | 8 Number of Packets (4)
///  12 Sender Port (2) | 14 Receiver Port (2)
///  16 Sender Address (16) | 32 Receiver Address (16) | 48 SID (16)
///  64 Padding Length (4) | 68 Start Time (8) | 76 Timeout (8) | 84 Type-P Descriptor (4)
///  88 Octets to be reflected (2) | 90 Length of padding to reflect (2) | 92 MBZ (4)   [TWAMP, RFC 6038]
///  96 HMAC (16)
/// </code>
/// </summary>
public sealed record SessionRequest
{
    public const int Length = 112;
    public const int HmacOffset = 96;

    public CommandNumber Command { get; init; } = CommandNumber.RequestTwSession;
    public byte IpVersion { get; init; } = 4;
    public byte ConfSender { get; init; }
    public byte ConfReceiver { get; init; }
    public uint ScheduleSlotCount { get; init; }
    public uint PacketCount { get; init; }
    public ushort SenderPort { get; init; }
    public ushort ReceiverPort { get; init; }
    public IPAddress SenderAddress { get; init; } = IPAddress.Any;
    public IPAddress ReceiverAddress { get; init; } = IPAddress.Any;
    public SessionId Sid { get; init; }
    public uint PaddingLength { get; init; }
    public NtpTimestamp StartTime { get; init; }
    public NtpTimestamp Timeout { get; init; }
    public uint TypePDescriptor { get; init; }
    public ushort OctetsToBeReflected { get; init; }
    public ushort PaddingToReflect { get; init; }

    /// <summary>The DSCP requested through the Type-P Descriptor, when it uses the DSCP form.</summary>
    public byte? Dscp => (TypePDescriptor & ~0x3F00_0000u) == 0 ? (byte)(TypePDescriptor >> 24) : null;

    public static uint TypePFromDscp(byte dscp) => (uint)(dscp & 0x3F) << 24;

    public void Write(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Length, nameof(destination));
        Span<byte> d = destination[..Length];
        d.Clear();
        d[0] = (byte)Command;
        d[1] = (byte)(IpVersion & 0x0F);
        d[2] = ConfSender;
        d[3] = ConfReceiver;
        BinaryPrimitives.WriteUInt32BigEndian(d[4..], ScheduleSlotCount);
        BinaryPrimitives.WriteUInt32BigEndian(d[8..], PacketCount);
        BinaryPrimitives.WriteUInt16BigEndian(d[12..], SenderPort);
        BinaryPrimitives.WriteUInt16BigEndian(d[14..], ReceiverPort);
        WriteAddress(SenderAddress, d.Slice(16, 16));
        WriteAddress(ReceiverAddress, d.Slice(32, 16));
        Sid.Write(d[48..]);
        BinaryPrimitives.WriteUInt32BigEndian(d[64..], PaddingLength);
        StartTime.Write(d[68..]);
        Timeout.Write(d[76..]);
        BinaryPrimitives.WriteUInt32BigEndian(d[84..], TypePDescriptor);
        BinaryPrimitives.WriteUInt16BigEndian(d[88..], OctetsToBeReflected);
        BinaryPrimitives.WriteUInt16BigEndian(d[90..], PaddingToReflect);
    }

    /// <summary>
    /// Parses the 112 octets. <see cref="OperationStatus.InvalidData"/> for a command other than 1 or 5
    /// or an IPVN other than 4 or 6; the caller answers Accept-Session with Accept=3 in that case.
    /// </summary>
    public static OperationStatus TryRead(ReadOnlySpan<byte> source, out SessionRequest? request)
    {
        request = null;
        if (source.Length < Length)
        {
            return OperationStatus.NeedMoreData;
        }
        var command = (CommandNumber)source[0];
        byte ipVersion = (byte)(source[1] & 0x0F);
        if (command is not (CommandNumber.RequestSession or CommandNumber.RequestTwSession) || ipVersion is not (4 or 6))
        {
            return OperationStatus.InvalidData;
        }
        request = new SessionRequest
        {
            Command = command,
            IpVersion = ipVersion,
            ConfSender = source[2],
            ConfReceiver = source[3],
            ScheduleSlotCount = BinaryPrimitives.ReadUInt32BigEndian(source[4..]),
            PacketCount = BinaryPrimitives.ReadUInt32BigEndian(source[8..]),
            SenderPort = BinaryPrimitives.ReadUInt16BigEndian(source[12..]),
            ReceiverPort = BinaryPrimitives.ReadUInt16BigEndian(source[14..]),
            SenderAddress = ReadAddress(ipVersion, source.Slice(16, 16)),
            ReceiverAddress = ReadAddress(ipVersion, source.Slice(32, 16)),
            Sid = SessionId.Read(source[48..]),
            PaddingLength = BinaryPrimitives.ReadUInt32BigEndian(source[64..]),
            StartTime = NtpTimestamp.Read(source[68..]),
            Timeout = NtpTimestamp.Read(source[76..]),
            TypePDescriptor = BinaryPrimitives.ReadUInt32BigEndian(source[84..]),
            OctetsToBeReflected = BinaryPrimitives.ReadUInt16BigEndian(source[88..]),
            PaddingToReflect = BinaryPrimitives.ReadUInt16BigEndian(source[90..]),
        };
        return OperationStatus.Done;
    }

    private static void WriteAddress(IPAddress address, Span<byte> field)
    {
        if (!address.TryWriteBytes(field, out _))
        {
            throw new ArgumentException("Address does not fit the 16-octet field.", nameof(address));
        }
    }

    private static IPAddress ReadAddress(byte ipVersion, ReadOnlySpan<byte> field) =>
        ipVersion == 4 ? new IPAddress(field[..4]) : new IPAddress(field);

    public static byte IpVersionOf(IPAddress address) => address.AddressFamily == AddressFamily.InterNetworkV6 ? (byte)6 : (byte)4;
}
