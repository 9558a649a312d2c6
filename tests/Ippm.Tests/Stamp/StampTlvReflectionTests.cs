using System.Buffers.Binary;
using Ippm.Security;
using Ippm.Sessions.Stamp;
using Ippm.Wire;
using Ippm.Wire.Stamp;

namespace Ippm.Tests.Stamp;

/// <summary>The reflector's answer to each RFC 8972 TLV, one test per TLV, plus the U/M/I rules of §4 and §4.8.</summary>
public sealed class StampTlvReflectionTests
{
    private const int Base = StampLayout.UnauthenticatedBase;
    private static readonly byte[] s_local = [192, 0, 2, 1];
    private static readonly byte[] s_peer = [198, 51, 100, 7];

    /// <summary>A reply holding the sender's TLVs after a base packet whose sequence number is 5.</summary>
    private static byte[] Reply(int baseLength, params byte[][] tlvs)
    {
        byte[] reply = new byte[baseLength + tlvs.Sum(t => t.Length)];
        BinaryPrimitives.WriteUInt32BigEndian(reply, 5);
        int o = baseLength;
        foreach (byte[] t in tlvs)
        {
            t.CopyTo(reply, o);
            o += t.Length;
        }
        return reply;
    }

    private static byte[] Tlv(StampTlvType type, byte[] value, StampTlvFlags flags = StampTlvFlags.Unrecognized)
    {
        byte[] t = new byte[4 + value.Length];
        StampTlv.Write(t, flags, type, value);
        return t;
    }

    private static StampTlvContext Context(int receivedTos = 0, bool stateful = true) => new()
    {
        ReceivedTrafficClass = receivedTos,
        LocalAddress = s_local,
        LocalPort = 862,
        PeerAddress = s_peer,
        PeerPort = 40000,
        SenderSequenceNumber = new byte[] { 0, 0, 0, 9 },
        Stateful = stateful,
        SessionReceived = 12,
        SessionTransmitted = 11,
        HasPrevious = true,
        PreviousSequenceNumber = 10,
        PreviousTimestamp = new NtpTimestamp(0x0102030405060708),
    };

    private static StampTlv Read(byte[] reply, int offset)
    {
        StampTlv.TryRead(reply.AsSpan(Base), offset, out StampTlv tlv);
        return tlv;
    }

    [Fact]
    public void ExtraPadding_ReflectedUnchanged_WithUCleared()
    {
        byte[] padding = [1, 2, 3, 4, 5, 6, 7];
        byte[] reply = Reply(Base, Tlv(StampTlvType.ExtraPadding, padding));
        StampTlvContext ctx = Context();
        StampTlvReflection.Process(reply, Base, ref ctx);
        Assert.Equal(StampTlvFlags.None, Read(reply, 0).Flags);
        Assert.Equal(padding, reply[(Base + 4)..]);
    }

    [Fact]
    public void ClassOfService_ReportsReceivedDscpAndEcn_AndSendsWithDscp1()
    {
        byte[] value = new byte[4];
        new ClassOfServiceTlv(46, 0, 0, 0).Write(value);
        byte[] reply = Reply(Base, Tlv(StampTlvType.ClassOfService, value));
        StampTlvContext ctx = Context(receivedTos: (10 << 2) | 2);
        StampTlvOutcome outcome = StampTlvReflection.Process(reply, Base, ref ctx);
        Assert.Equal(new ClassOfServiceTlv(46, 10, 2, 0), ClassOfServiceTlv.Read(reply.AsSpan(Base + 4)));
        Assert.Equal(46 << 2, outcome.SendTrafficClass);
        Assert.Equal(StampTlvFlags.None, Read(reply, 0).Flags);
    }

    [Fact]
    public void ClassOfService_PolicyRefusesDscp1_UsesReceivedDscpAndSetsRp()
    {
        byte[] value = new byte[4];
        new ClassOfServiceTlv(46, 0, 0, 0).Write(value);
        byte[] reply = Reply(Base, Tlv(StampTlvType.ClassOfService, value));
        StampTlvContext ctx = Context(receivedTos: 10 << 2);
        ctx.DscpPermitted = dscp => dscp != 46;
        StampTlvOutcome outcome = StampTlvReflection.Process(reply, Base, ref ctx);
        Assert.Equal(new ClassOfServiceTlv(46, 10, 0, 1), ClassOfServiceTlv.Read(reply.AsSpan(Base + 4)));
        Assert.Equal(10 << 2, outcome.SendTrafficClass);
    }

    [Fact]
    public void TimestampInformation_SaysSoftwareTimestampsAndTheClockSource()
    {
        byte[] reply = Reply(Base, Tlv(StampTlvType.TimestampInformation, new byte[4]));
        StampTlvContext ctx = Context();
        ctx.ClockSynchronized = true;
        StampTlvReflection.Process(reply, Base, ref ctx);
        Assert.Equal(new TimestampInformationTlv(1, 2, 1, 2), TimestampInformationTlv.Read(reply.AsSpan(Base + 4)));
        ctx.ClockSynchronized = false;
        StampTlvReflection.Process(reply, Base, ref ctx);
        Assert.Equal(new TimestampInformationTlv(5, 2, 5, 2), TimestampInformationTlv.Read(reply.AsSpan(Base + 4)));
    }

    [Fact]
    public void DirectMeasurement_KeepsSenderCounter_FillsSessionCounters_ZeroWhenStateless()
    {
        byte[] value = new byte[12];
        new DirectMeasurementTlv(13, 99, 99).Write(value);
        byte[] reply = Reply(Base, Tlv(StampTlvType.DirectMeasurement, value));
        StampTlvContext ctx = Context();
        StampTlvReflection.Process(reply, Base, ref ctx);
        Assert.Equal(new DirectMeasurementTlv(13, 12, 11), DirectMeasurementTlv.Read(reply.AsSpan(Base + 4)));

        reply = Reply(Base, Tlv(StampTlvType.DirectMeasurement, value));
        ctx = Context(stateful: false);
        StampTlvReflection.Process(reply, Base, ref ctx);
        Assert.Equal(new DirectMeasurementTlv(13, 0, 0), DirectMeasurementTlv.Read(reply.AsSpan(Base + 4)));
    }

    [Fact]
    public void FollowUpTelemetry_ReportsPreviousReply_ZeroedWhenStateless()
    {
        byte[] reply = Reply(Base, Tlv(StampTlvType.FollowUpTelemetry, new byte[16]));
        StampTlvContext ctx = Context();
        StampTlvReflection.Process(reply, Base, ref ctx);
        Assert.Equal(new FollowUpTelemetryTlv(10, new NtpTimestamp(0x0102030405060708), 2), FollowUpTelemetryTlv.Read(reply.AsSpan(Base + 4)));

        byte[] garbage = Enumerable.Repeat((byte)0x77, 16).ToArray();
        reply = Reply(Base, Tlv(StampTlvType.FollowUpTelemetry, garbage));
        ctx = Context(stateful: false);
        StampTlvReflection.Process(reply, Base, ref ctx);
        Assert.All(reply[(Base + 4)..], b => Assert.Equal(0, b)); // RFC 8972 §4.7: stateless reflectors zero it
    }

    [Fact]
    public void Location_AnswersPortsAndAddressesInPlace_SameLength()
    {
        byte[] value = new byte[LocationTlv.RequestLength];
        LocationTlv.WriteRequest(value);
        byte[] reply = Reply(Base, Tlv(StampTlvType.Location, value));
        int before = reply.Length;
        StampTlvContext ctx = Context();
        StampTlvReflection.Process(reply, Base, ref ctx);
        Assert.Equal(before, reply.Length);
        string v = Convert.ToHexStringLower(reply.AsSpan(Base + 4));
        Assert.Equal(
            "035e" + "9c40"                                       // destination port 862, source port 40000
            + "00030008" + "0000000000000000"                      // Source MAC answered as Source EUI-64, unknown: zero
            + "00050010" + "c0000201" + "000000000000000000000000"  // Destination IPv4 192.0.2.1
            + "00080010" + "c6336407" + "000000000000000000000000", // Source IPv4 198.51.100.7
            v);
    }

    [Fact]
    public void Location_Ipv6AddressesFillTheWholeField()
    {
        byte[] value = new byte[LocationTlv.RequestLength];
        LocationTlv.WriteRequest(value);
        byte[] reply = Reply(Base, Tlv(StampTlvType.Location, value));
        byte[] local6 = System.Net.IPAddress.Parse("2001:db8::1").GetAddressBytes();
        StampTlvContext ctx = Context();
        ctx.LocalAddress = local6;
        StampTlvReflection.Process(reply, Base, ref ctx);
        int sub = Base + 4 + 4 + 12; // after ports and the Source MAC sub-TLV
        Assert.Equal((byte)LocationSubTlvType.DestinationIpv6Address, reply[sub + 1]);
        Assert.Equal(local6, reply[(sub + 4)..(sub + 20)]);
    }

    [Fact]
    public void AccessReport_ReflectedUnchanged()
    {
        byte[] value = new byte[4];
        new AccessReportTlv(1, 2).Write(value);
        byte[] reply = Reply(Base, Tlv(StampTlvType.AccessReport, value));
        StampTlvContext ctx = Context();
        StampTlvReflection.Process(reply, Base, ref ctx);
        Assert.Equal(new AccessReportTlv(1, 2), AccessReportTlv.Read(reply.AsSpan(Base + 4)));
        Assert.Equal(StampTlvFlags.None, Read(reply, 0).Flags);
    }

    [Fact]
    public void UnknownType_EchoedWithU_KnownOnesAnswered()
    {
        byte[] unknown = Tlv((StampTlvType)200, [9, 9, 9], StampTlvFlags.None);
        byte[] reply = Reply(Base, unknown, Tlv(StampTlvType.DirectMeasurement, new byte[12]));
        StampTlvContext ctx = Context();
        StampTlvOutcome outcome = StampTlvReflection.Process(reply, Base, ref ctx);
        Assert.Equal(1, outcome.Unrecognized);
        Assert.Equal(StampTlvFlags.Unrecognized, Read(reply, 0).Flags);
        Assert.Equal(new byte[] { 9, 9, 9 }, reply[(Base + 4)..(Base + 7)]);
        Assert.Equal(StampTlvFlags.None, Read(reply, 7).Flags);
        Assert.Equal(12u, DirectMeasurementTlv.Read(reply.AsSpan(Base + 11)).ReflectorReceived);
    }

    [Fact]
    public void LengthPastThePacket_FlaggedMalformed_RemainderCopiedUnchanged()
    {
        byte[] good = Tlv(StampTlvType.DirectMeasurement, new byte[12]);
        byte[] bad = [0, (byte)StampTlvType.ExtraPadding, 0x40, 0x00, 1, 2, 3]; // announces 16384 octets, has 3
        byte[] reply = Reply(Base, good, bad);
        StampTlvContext ctx = Context();
        StampTlvOutcome outcome = StampTlvReflection.Process(reply, Base, ref ctx);
        Assert.Equal(1, outcome.Malformed);
        Assert.Equal(12u, DirectMeasurementTlv.Read(reply.AsSpan(Base + 4)).ReflectorReceived); // processed before it
        Assert.Equal((byte)StampTlvFlags.Malformed, reply[Base + 16]);
        Assert.Equal(bad[1..], reply[(Base + 17)..]);
    }

    [Fact]
    public void WrongLengthForKnownType_FlaggedMalformed_AndProcessingStops()
    {
        byte[] reply = Reply(Base, Tlv(StampTlvType.ClassOfService, new byte[6]), Tlv(StampTlvType.DirectMeasurement, new byte[12]));
        StampTlvContext ctx = Context();
        StampTlvOutcome outcome = StampTlvReflection.Process(reply, Base, ref ctx);
        Assert.Equal(1, outcome.Malformed);
        Assert.Equal(-1, outcome.SendTrafficClass);
        Assert.Equal(StampTlvFlags.Malformed, Read(reply, 0).Flags);
        Assert.Equal(0u, DirectMeasurementTlv.Read(reply.AsSpan(Base + 14)).ReflectorReceived); // not processed
    }

    [Fact]
    public void HeaderShorterThanFourOctets_FlaggedMalformed_NoCrash()
    {
        byte[] reply = Reply(Base, [0x00, 0x01]);
        StampTlvContext ctx = Context();
        StampTlvOutcome outcome = StampTlvReflection.Process(reply, Base, ref ctx);
        Assert.Equal(1, outcome.Malformed);
        Assert.Equal((byte)StampTlvFlags.Malformed, reply[Base]);
    }

    [Fact]
    public void ManyEmptyTlvs_WalkIsBoundedByThePacket()
    {
        byte[][] empties = Enumerable.Range(0, 2000).Select(_ => new byte[] { 0, 99, 0, 0 }).ToArray();
        byte[] reply = Reply(Base, empties);
        StampTlvContext ctx = Context();
        Assert.Equal(2000, StampTlvReflection.Process(reply, Base, ref ctx).Unrecognized);
    }

    [Fact]
    public void HmacTlv_Verified_ThenRecomputedOverTheReplysSequenceNumber()
    {
        using var key = new StampAuthenticator("0123456789abcdef0123456789abcdef"u8);
        byte[] direct = Tlv(StampTlvType.DirectMeasurement, new byte[12]);
        byte[] senderSeq = [0, 0, 0, 9];
        byte[] mac = new byte[16];
        key.ComputeTlvMac(senderSeq, direct, mac);
        byte[] reply = Reply(StampLayout.AuthenticatedBase, direct, Tlv(StampTlvType.Hmac, mac));
        StampTlvContext ctx = Context();
        ctx.Key = key;
        ctx.Authenticated = true;
        StampTlvOutcome outcome = StampTlvReflection.Process(reply, StampLayout.AuthenticatedBase, ref ctx);
        Assert.False(outcome.IntegrityFailed);
        ReadOnlySpan<byte> tlvs = reply.AsSpan(StampLayout.AuthenticatedBase);
        Assert.Equal(12u, DirectMeasurementTlv.Read(tlvs[4..]).ReflectorReceived);
        Assert.Equal(0, tlvs[16] & 0xE0);
        Assert.True(key.VerifyTlvMac(reply.AsSpan(0, 4), tlvs[..16], tlvs.Slice(20, 16))); // over reply seq 5 and answered TLVs
    }

    [Fact]
    public void HmacTlv_BadOrMissingInAuthenticatedMode_EveryTlvGetsI_NothingProcessed()
    {
        using var key = new StampAuthenticator("0123456789abcdef0123456789abcdef"u8);
        byte[] direct = Tlv(StampTlvType.DirectMeasurement, new byte[12]);
        byte[] reply = Reply(StampLayout.AuthenticatedBase, direct, Tlv(StampTlvType.Hmac, new byte[16]));
        StampTlvContext ctx = Context();
        ctx.Key = key;
        ctx.Authenticated = true;
        Assert.True(StampTlvReflection.Process(reply, StampLayout.AuthenticatedBase, ref ctx).IntegrityFailed);
        ReadOnlySpan<byte> tlvs = reply.AsSpan(StampLayout.AuthenticatedBase);
        Assert.Equal((byte)StampTlvFlags.IntegrityFailed, tlvs[0]);
        Assert.Equal((byte)StampTlvFlags.IntegrityFailed, tlvs[16]);
        Assert.Equal(0u, DirectMeasurementTlv.Read(tlvs[4..]).ReflectorReceived);

        // Authenticated mode with TLVs but no HMAC TLV (RFC 8972 §4.8: required unless only Extra Padding).
        reply = Reply(StampLayout.AuthenticatedBase, direct);
        Assert.True(StampTlvReflection.Process(reply, StampLayout.AuthenticatedBase, ref ctx).IntegrityFailed);
        reply = Reply(StampLayout.AuthenticatedBase, Tlv(StampTlvType.ExtraPadding, new byte[8]));
        Assert.False(StampTlvReflection.Process(reply, StampLayout.AuthenticatedBase, ref ctx).IntegrityFailed);
    }

    [Fact]
    public void HmacTlv_NotLast_IsAnIntegrityFailure()
    {
        using var key = new StampAuthenticator("k"u8);
        byte[] mac = new byte[16];
        key.ComputeTlvMac([0, 0, 0, 9], [], mac);
        byte[] reply = Reply(Base, Tlv(StampTlvType.Hmac, mac), Tlv(StampTlvType.DirectMeasurement, new byte[12]));
        StampTlvContext ctx = Context();
        ctx.Key = key;
        Assert.True(StampTlvReflection.Process(reply, Base, ref ctx).IntegrityFailed);
    }
}
