namespace Ippm.Wire.Stamp;

/// <summary>
/// Sizes and offsets of the STAMP base packets (RFC 8762 §4.2, §4.3, with the SSID of RFC 8972 §3).
/// Both directions have the same base size: 44 octets unauthenticated, 112 authenticated; optional TLVs
/// (RFC 8972 §4) follow the base packet.
/// </summary>
public static class StampLayout
{
    public const int UnauthenticatedBase = 44;
    public const int AuthenticatedBase = 112;

    /// <summary>RFC 8762 §4.4: HMAC-SHA-256 truncated to 128 bits, over the first six 16-octet blocks.</summary>
    public const int HmacOffset = 96;
    public const int HmacLength = 16;

    /// <summary>UDP port 862 (TWAMP-Test Receiver Port) is STAMP's default (RFC 8762 §4.1).</summary>
    public const int DefaultPort = 862;

    public static int BaseLength(bool authenticated) => authenticated ? AuthenticatedBase : UnauthenticatedBase;

    /// <summary>Offset of the Timestamp / Error Estimate / SSID group in either direction.</summary>
    public static int TimestampOffset(bool authenticated) => authenticated ? 16 : 4;

    public static int SsidOffset(bool authenticated) => authenticated ? 26 : 14;
}
