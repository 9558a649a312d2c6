namespace Ippm.Wire;

/// <summary>Which control protocol a connection speaks. They share framing and crypto.</summary>
public enum ControlProtocol
{
    Owamp,
    Twamp,
}

/// <summary>The security mode of a control connection: exactly one of these bits is chosen.</summary>
public enum SecurityMode : uint
{
    Open = 1,
    Authenticated = 2,
    Encrypted = 4,

    /// <summary>RFC 5618 (TWAMP only): control protected as in Encrypted, test packets open.</summary>
    Mixed = 8,
}

/// <summary>TWAMP-Modes bits (RFC 5357, 5618, 5938, 6038, 7717, 7750).</summary>
[Flags]
public enum TwampModes : uint
{
    None = 0,
    Open = 1,
    Authenticated = 2,
    Encrypted = 4,
    Mixed = 8,
    IndividualSessionControl = 16,
    ReflectOctets = 32,
    SymmetricalSize = 64,
    IkeV2Derived = 128,
    DscpEcnMonitoring = 256,
}

/// <summary>OWAMP-Modes bits (RFC 4656, 7717; registry RFC 7718).</summary>
[Flags]
public enum OwampModes : uint
{
    None = 0,
    Open = 1,
    Authenticated = 2,
    Encrypted = 4,
    IkeV2Derived = 16,
}

public static class SecurityModes
{
    /// <summary>The security bits a protocol defines (mixed is TWAMP only).</summary>
    public static uint SecurityBits(ControlProtocol protocol) => protocol == ControlProtocol.Twamp ? 0xFu : 0x7u;

    /// <summary>The RFC 7717 IKEv2-derived-key mode bit: TWAMP bit 7 (128), OWAMP bit 4 (16).</summary>
    public static uint IkeV2Bit(ControlProtocol protocol) => protocol == ControlProtocol.Twamp ? (uint)TwampModes.IkeV2Derived : (uint)OwampModes.IkeV2Derived;

    /// <summary>True when test packets carry crypto (modes 2 and 4; mixed keeps them open).</summary>
    public static bool ProtectsTestPackets(this SecurityMode mode) =>
        mode is SecurityMode.Authenticated or SecurityMode.Encrypted;

    /// <summary>True when the control stream is encrypted and HMAC'd (every mode but open).</summary>
    public static bool ProtectsControl(this SecurityMode mode) => mode != SecurityMode.Open;

    /// <summary>Strongest first, as the reference client picks: E, A, M, O.</summary>
    public static ReadOnlySpan<SecurityMode> StrongestFirst =>
        [SecurityMode.Encrypted, SecurityMode.Authenticated, SecurityMode.Mixed, SecurityMode.Open];

    /// <summary>Parses perfSONAR's -A letters (O, A, E, M) into a bit set.</summary>
    public static bool TryParseLetters(string letters, out uint modes)
    {
        modes = 0;
        foreach (char c in letters)
        {
            switch (char.ToUpperInvariant(c))
            {
                case 'O': modes |= (uint)SecurityMode.Open; break;
                case 'A': modes |= (uint)SecurityMode.Authenticated; break;
                case 'E': modes |= (uint)SecurityMode.Encrypted; break;
                case 'M': modes |= (uint)SecurityMode.Mixed; break;
                default: return false;
            }
        }
        return modes != 0;
    }

    /// <summary>
    /// The TWAMP feature bits ippm implements on both sides (RFC 5938, RFC 6038, RFC 7750): offered by default by
    /// the server, set by a client only when the server offered them.
    /// </summary>
    public const uint TwampFeatureBits = (uint)(TwampModes.IndividualSessionControl | TwampModes.ReflectOctets | TwampModes.SymmetricalSize | TwampModes.DscpEcnMonitoring);

    public static string Name(this SecurityMode mode) => mode switch
    {
        SecurityMode.Open => "open",
        SecurityMode.Authenticated => "authenticated",
        SecurityMode.Encrypted => "encrypted",
        SecurityMode.Mixed => "mixed",
        _ => $"0x{(uint)mode:x}",
    };
}
