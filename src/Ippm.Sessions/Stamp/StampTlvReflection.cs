using System.Buffers;
using System.Buffers.Binary;
using Ippm.Security;
using Ippm.Wire;
using Ippm.Wire.Stamp;

namespace Ippm.Sessions.Stamp;

/// <summary>What the reflector knows about one received packet when it answers its TLVs.</summary>
public ref struct StampTlvContext
{
    /// <summary>Received TOS / Traffic Class octet, -1 when unknown.</summary>
    public int ReceivedTrafficClass;

    public ReadOnlySpan<byte> LocalAddress;
    public ushort LocalPort;
    public ReadOnlySpan<byte> PeerAddress;
    public ushort PeerPort;

    /// <summary>The Session-Sender's Sequence Number octets, which its HMAC TLV covers.</summary>
    public ReadOnlySpan<byte> SenderSequenceNumber;

    /// <summary>The peer's key: authenticated mode, or an HMAC TLV to verify and answer.</summary>
    public StampAuthenticator? Key;

    public bool Authenticated;
    public bool Stateful;
    public bool ClockSynchronized;

    /// <summary>In-profile packets the session received and sent, counting this one (stateful only).</summary>
    public uint SessionReceived;
    public uint SessionTransmitted;

    /// <summary>The session's previous reply, for Follow-Up Telemetry (stateful only).</summary>
    public bool HasPrevious;
    public uint PreviousSequenceNumber;
    public NtpTimestamp PreviousTimestamp;

    /// <summary>The previous reply goes out in the same batch: its time is not known yet, the caller patches it in.</summary>
    public bool PreviousInThisBatch;

    /// <summary>Whether the reflector may send with the DSCP a Class of Service TLV asks for (RFC 8972 §4.4 local policy).</summary>
    public Func<byte, bool>? DscpPermitted;
}

/// <summary>Counts and the send TOS one reply's TLV processing produced.</summary>
/// <param name="FollowUpTimestampAt">Where in the reply the Follow-Up Timestamp must be patched with the batch's send time, or -1.</param>
/// <param name="HmacTlvAt">Where in the reply the answered HMAC TLV starts (to recompute after a patch), or -1.</param>
public readonly record struct StampTlvOutcome(int SendTrafficClass, int Unrecognized, int Malformed, bool IntegrityFailed, int ClassOfService, int FollowUpTimestampAt = -1, int HmacTlvAt = -1);

/// <summary>
/// The Session-Reflector's handling of RFC 8972 TLVs, in place on a reply that already holds a copy of the
/// sender's TLVs (so every reply has the size of its request). Rules (RFC 8972 §4, §4.8):
/// the HMAC TLV, when present or required (authenticated mode), is verified before anything is used; on failure
/// every TLV is echoed with I = 1 and nothing is processed. A Length running past the packet or invalid for a known
/// type marks that TLV M = 1 and stops processing; the remainder is copied unchanged. Unknown types are echoed with
/// U = 1. Known TLVs are answered and get U = M = I = 0. The walk is bounded by the packet: each TLV takes at least
/// its 4-octet header.
/// </summary>
public static class StampTlvReflection
{
    private const byte FlagsMask = (byte)(StampTlvFlags.Unrecognized | StampTlvFlags.Malformed | StampTlvFlags.IntegrityFailed);

    public static StampTlvOutcome Process(Span<byte> reply, int baseLength, ref StampTlvContext ctx)
    {
        if (reply.Length <= baseLength)
        {
            return new StampTlvOutcome(-1, 0, 0, false, 0);
        }
        Span<byte> tlvs = reply[baseLength..];

        // Pass 1: structure. Where the first malformed TLV is, where the HMAC TLV is, whether it is last.
        int malformedAt = -1, hmacAt = -1;
        bool misplaced = false, onlyPadding = true;
        int offset = 0;
        while (offset < tlvs.Length)
        {
            if (StampTlv.TryRead(tlvs, offset, out StampTlv tlv) != OperationStatus.Done
                || (StampTlv.IsKnown(tlv.Type) && !StampTlv.IsValidLength(tlv.KnownType, tlv.Length)))
            {
                malformedAt = offset;
                break;
            }
            if (tlv.KnownType == StampTlvType.Hmac)
            {
                misplaced |= hmacAt >= 0;
                hmacAt = offset;
            }
            else if (hmacAt >= 0 && tlv.KnownType != StampTlvType.ExtraPadding)
            {
                misplaced = true; // RFC 8972 §4.8: only Extra Padding may follow the HMAC TLV
            }
            onlyPadding &= tlv.KnownType == StampTlvType.ExtraPadding;
            offset = tlv.End;
        }

        // Integrity (RFC 8972 §4.8): required in authenticated mode unless the only TLV is Extra Padding.
        bool integrityOk;
        if (hmacAt >= 0)
        {
            integrityOk = !misplaced && ctx.Key is not null
                && ctx.Key.VerifyTlvMac(ctx.SenderSequenceNumber, tlvs[..hmacAt], tlvs.Slice(hmacAt + StampTlv.HeaderLength, StampLayout.HmacLength));
        }
        else
        {
            integrityOk = !ctx.Authenticated || (onlyPadding && malformedAt < 0);
        }

        // Pass 2: answer, in place.
        int unrecognized = 0, cos = 0, sendTrafficClass = -1, followUpAt = -1;
        offset = 0;
        int end = malformedAt >= 0 ? malformedAt : tlvs.Length;
        while (offset < end)
        {
            StampTlv.TryRead(tlvs, offset, out StampTlv tlv);
            byte flags = (byte)(tlvs[offset] & ~FlagsMask & ~0x1F); // R bits: zero on transmit
            if (!integrityOk)
            {
                flags |= (byte)StampTlvFlags.IntegrityFailed;
            }
            else if (!StampTlv.IsKnown(tlv.Type))
            {
                flags |= (byte)StampTlvFlags.Unrecognized;
                unrecognized++;
            }
            else
            {
                Span<byte> value = tlvs.Slice(tlv.ValueOffset, tlv.Length);
                switch (tlv.KnownType)
                {
                    case StampTlvType.ClassOfService:
                        sendTrafficClass = AnswerClassOfService(value, ref ctx);
                        cos++;
                        break;
                    case StampTlvType.TimestampInformation:
                        var method = (byte)StampTimestampMethod.SoftwareLocal;
                        var sync = (byte)(ctx.ClockSynchronized ? StampSyncSource.Ntp : StampSyncSource.LocalFreeRunning);
                        new TimestampInformationTlv(sync, method, sync, method).Write(value);
                        break;
                    case StampTlvType.DirectMeasurement:
                        uint sent = BinaryPrimitives.ReadUInt32BigEndian(value);
                        new DirectMeasurementTlv(sent, ctx.Stateful ? ctx.SessionReceived : 0, ctx.Stateful ? ctx.SessionTransmitted : 0).Write(value);
                        break;
                    case StampTlvType.FollowUpTelemetry:
                        // RFC 8972 §4.7: a stateless reflector zeroes Sequence Number and Follow-Up Timestamp.
                        (ctx.Stateful && ctx.HasPrevious
                            ? new FollowUpTelemetryTlv(ctx.PreviousSequenceNumber, ctx.PreviousTimestamp, (byte)StampTimestampMethod.SoftwareLocal)
                            : new FollowUpTelemetryTlv(0, default, 0)).Write(value);
                        if (ctx.Stateful && ctx.HasPrevious && ctx.PreviousInThisBatch)
                        {
                            followUpAt = baseLength + tlv.ValueOffset + 4;
                        }
                        break;
                    case StampTlvType.Location:
                        AnswerLocation(value, ref ctx);
                        break;
                    default:
                        break; // Extra Padding and Access Report are reflected unchanged; HMAC is rewritten below
                }
            }
            tlvs[offset] = flags;
            offset = tlv.End;
        }
        if (malformedAt >= 0)
        {
            tlvs[malformedAt] = (byte)((tlvs[malformedAt] & ~FlagsMask & ~0x1F) | (byte)StampTlvFlags.Malformed | (integrityOk ? 0 : (byte)StampTlvFlags.IntegrityFailed));
        }
        if (integrityOk && hmacAt >= 0 && ctx.Key is not null)
        {
            // The reflected packet's HMAC TLV covers its own Sequence Number and the answered TLVs.
            ctx.Key.ComputeTlvMac(reply[..4], tlvs[..hmacAt], tlvs.Slice(hmacAt + StampTlv.HeaderLength, StampLayout.HmacLength));
        }
        bool answeredHmac = integrityOk && hmacAt >= 0 && ctx.Key is not null;
        return new StampTlvOutcome(sendTrafficClass, unrecognized, malformedAt >= 0 ? 1 : 0, !integrityOk, cos, followUpAt, answeredHmac ? baseLength + hmacAt : -1);
    }

    /// <summary>
    /// RFC 8972 §4.4 with erratum 8199: DSCP2 and ECN get the received packet's; the reply goes out with DSCP1 when
    /// local policy permits (RP = 0), else with the received DSCP and RP = 1. Returns the TOS octet to send with.
    /// </summary>
    private static int AnswerClassOfService(Span<byte> value, ref StampTlvContext ctx)
    {
        ClassOfServiceTlv request = ClassOfServiceTlv.Read(value);
        int received = ctx.ReceivedTrafficClass;
        byte dscp2 = received < 0 ? (byte)0 : (byte)(received >> 2);
        byte ecn = received < 0 ? (byte)0 : (byte)(received & 0x3);
        bool permitted = ctx.DscpPermitted?.Invoke(request.Dscp1) ?? true;
        new ClassOfServiceTlv(request.Dscp1, dscp2, ecn, permitted ? (byte)0 : (byte)1).Write(value);
        return permitted ? request.Dscp1 << 2 : dscp2 << 2;
    }

    /// <summary>RFC 8972 §4.2.2: ports and addresses of the received packet, each answer the size of its request.</summary>
    private static void AnswerLocation(Span<byte> value, ref StampTlvContext ctx)
    {
        BinaryPrimitives.WriteUInt16BigEndian(value, ctx.LocalPort);
        BinaryPrimitives.WriteUInt16BigEndian(value[2..], ctx.PeerPort);
        int offset = LocationTlv.FixedLength;
        while (offset < value.Length)
        {
            if (StampTlv.TryRead(value, offset, out StampTlv sub) != OperationStatus.Done)
            {
                value[offset] = (byte)StampTlvFlags.Malformed;
                return;
            }
            Span<byte> subValue = value.Slice(sub.ValueOffset, sub.Length);
            byte flags = 0;
            switch ((LocationSubTlvType)sub.Type)
            {
                case LocationSubTlvType.SourceMacAddress when sub.Length == LocationTlv.MacValueLength:
                    // A UDP socket never sees the Ethernet header: Source EUI-64 answered with zeros.
                    value[offset + 1] = (byte)LocationSubTlvType.SourceEui64Address;
                    subValue.Clear();
                    break;
                case LocationSubTlvType.DestinationIpAddress when sub.Length == LocationTlv.IpValueLength:
                    WriteAddress(value, offset, subValue, ctx.LocalAddress, LocationSubTlvType.DestinationIpv4Address, LocationSubTlvType.DestinationIpv6Address);
                    break;
                case LocationSubTlvType.SourceIpAddress when sub.Length == LocationTlv.IpValueLength:
                    WriteAddress(value, offset, subValue, ctx.PeerAddress, LocationSubTlvType.SourceIpv4Address, LocationSubTlvType.SourceIpv6Address);
                    break;
                case LocationSubTlvType.SourceMacAddress or LocationSubTlvType.DestinationIpAddress or LocationSubTlvType.SourceIpAddress:
                    flags = (byte)StampTlvFlags.Malformed;
                    value[offset] = flags;
                    return; // a malformed sub-TLV stops the Location answer, as a malformed TLV would
                default:
                    flags = (byte)StampTlvFlags.Unrecognized;
                    break;
            }
            value[offset] = flags;
            offset = sub.End;
        }
    }

    private static void WriteAddress(Span<byte> value, int offset, Span<byte> subValue, ReadOnlySpan<byte> address, LocationSubTlvType v4, LocationSubTlvType v6)
    {
        subValue.Clear();
        value[offset + 1] = (byte)(address.Length == 16 ? v6 : v4);
        address.CopyTo(subValue);
    }
}
