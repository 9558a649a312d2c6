namespace Ippm.Wire.Test;

/// <summary>
/// Offsets of the test packets (RFC 4656 §4.1.2, RFC 5357 §4.1.2 and §4.2.1 with erratum 5045).
/// Open layouts serve modes 1 and 8; the protected layouts serve modes 2 and 4.
/// </summary>
public static class TestPacketLayout
{
    /// <summary>Sender (OWAMP sender, TWAMP Session-Sender), open: Seq 4 | Timestamp 8 | Error Estimate 2 | padding.</summary>
    public const int SenderOpenHeader = 14;

    /// <summary>Sender, protected: Seq 4 | MBZ 12 | Timestamp 8 | Error Estimate 2 | MBZ 6 | HMAC 16 | padding.</summary>
    public const int SenderProtectedHeader = 48;

    /// <summary>Reflector, open: up to and including Sender TTL at octet 40.</summary>
    public const int ReflectorOpenHeader = 41;

    /// <summary>Reflector, protected: 96 octets of fields then the HMAC (erratum 5045 corrects 104 to 112).</summary>
    public const int ReflectorProtectedHeader = 112;

    /// <summary>Octets the protected sender/reflector HMAC sits at.</summary>
    public const int SenderHmacOffset = 32;
    public const int ReflectorHmacOffset = 96;
    public const int HmacLength = 16;

    public static int SenderHeader(bool protectedLayout) => protectedLayout ? SenderProtectedHeader : SenderOpenHeader;

    public static int ReflectorHeader(bool protectedLayout) => protectedLayout ? ReflectorProtectedHeader : ReflectorOpenHeader;

    /// <summary>
    /// The padding a TWAMP Session-Sender uses so that sender and reflector packets are the same size,
    /// as twping does (27 open/mixed, 64 authenticated/encrypted).
    /// </summary>
    public static int SymmetricSenderPadding(bool protectedLayout) =>
        ReflectorHeader(protectedLayout) - SenderHeader(protectedLayout);
}
