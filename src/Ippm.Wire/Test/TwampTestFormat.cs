namespace Ippm.Wire.Test;

/// <summary>
/// Where the fields of a TWAMP test session's packets sit once the negotiated features are known.
/// <list type="bullet">
/// <item>RFC 6038 §4.2 Symmetrical Size: the Session-Sender pads its header with MBZ octets up to the reflector's
/// header, so a Padding Length of P gives the same size both ways (open 41 + P, protected 112 + P). In the
/// protected layouts the sender's HMAC then sits where the reflector's does (octet 96) and covers what it covers
/// in the base format (mode A: block 0; mode E: everything before it).</item>
/// <item>RFC 7750 §3 DSCP and ECN Monitoring: the reflector reports the TOS / Traffic Class octet it received in
/// "Sender DSCP and ECN", the octet after Sender TTL (open 41, protected 81). The open reflector header grows to
/// 42 octets, and with Symmetrical Size the open sender's MBZ to 28 octets.</item>
/// </list>
/// Without features this is exactly <see cref="TestPacketLayout"/>.
/// </summary>
public readonly record struct TwampTestFormat(bool ProtectedLayout, bool SymmetricalSize, bool DscpEcn)
{
    /// <summary>Open reflector header with RFC 7750's Sender DSCP and ECN octet.</summary>
    public const int ReflectorOpenDscpEcnHeader = 42;

    public const int OpenDscpEcnOffset = 41;
    public const int ProtectedDscpEcnOffset = 81;

    public int ReflectorHeader => ProtectedLayout ? TestPacketLayout.ReflectorProtectedHeader
        : DscpEcn ? ReflectorOpenDscpEcnHeader : TestPacketLayout.ReflectorOpenHeader;

    /// <summary>Octets before the sender's Packet Padding.</summary>
    public int SenderHeader => SymmetricalSize ? ReflectorHeader : TestPacketLayout.SenderHeader(ProtectedLayout);

    /// <summary>Where the sender's HMAC sits (protected layouts only).</summary>
    public int SenderHmacOffset => SymmetricalSize ? TestPacketLayout.ReflectorHmacOffset : TestPacketLayout.SenderHmacOffset;

    /// <summary>Octet of Sender DSCP and ECN in the reflector packet; -1 when not negotiated.</summary>
    public int DscpEcnOffset => !DscpEcn ? -1 : ProtectedLayout ? ProtectedDscpEcnOffset : OpenDscpEcnOffset;

    /// <summary>The padding that makes both directions the same size without RFC 6038 (twping's default).</summary>
    public int SymmetricSenderPadding => SymmetricalSize ? 0 : ReflectorHeader - SenderHeader;

    public static TwampTestFormat For(SecurityMode mode, uint modeBits) => new(
        mode.ProtectsTestPackets(),
        (modeBits & (uint)TwampModes.SymmetricalSize) != 0,
        (modeBits & (uint)TwampModes.DscpEcnMonitoring) != 0);
}
