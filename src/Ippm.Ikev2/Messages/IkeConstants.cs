namespace Ippm.Ikev2.Messages;

/// <summary>RFC 7296 §3.1 Exchange Type.</summary>
public enum ExchangeType : byte
{
    IkeSaInit = 34,
    IkeAuth = 35,
    CreateChildSa = 36,
    Informational = 37,
}

/// <summary>RFC 7296 §3.1 Flags.</summary>
[Flags]
public enum IkeFlags : byte
{
    None = 0,
    Initiator = 0x08,
    Version = 0x10,
    Response = 0x20,
}

/// <summary>RFC 7296 §3.2 payload type numbers (plus RFC 7383 SKF).</summary>
public enum PayloadType : byte
{
    None = 0,
    SecurityAssociation = 33,
    KeyExchange = 34,
    IdInitiator = 35,
    IdResponder = 36,
    Certificate = 37,
    CertificateRequest = 38,
    Authentication = 39,
    Nonce = 40,
    Notify = 41,
    Delete = 42,
    VendorId = 43,
    TrafficSelectorInitiator = 44,
    TrafficSelectorResponder = 45,
    Encrypted = 46,
    Configuration = 47,
    Eap = 48,
    EncryptedFragment = 53,
}

/// <summary>RFC 7296 §3.10.1 Notify Message Types (the ones this implementation sends or reads).</summary>
public enum NotifyType : ushort
{
    UnsupportedCriticalPayload = 1,
    InvalidIkeSpi = 4,
    InvalidMajorVersion = 5,
    InvalidSyntax = 7,
    InvalidMessageId = 9,
    InvalidSpi = 11,
    NoProposalChosen = 14,
    InvalidKePayload = 17,
    AuthenticationFailed = 24,
    SinglePairRequired = 34,
    NoAdditionalSas = 35,
    InternalAddressFailure = 36,
    FailedCpRequired = 37,
    TsUnacceptable = 38,
    InvalidSelectors = 39,
    TemporaryFailure = 43,
    ChildSaNotFound = 44,
    InitialContact = 16384,
    SetWindowSize = 16385,
    NatDetectionSourceIp = 16388,
    NatDetectionDestinationIp = 16389,
    Cookie = 16390,
    RekeySa = 16393,
    ChildlessIkev2Supported = 16418,
    Ikev2FragmentationSupported = 16430,
    SignatureHashAlgorithms = 16431,
}

/// <summary>RFC 7296 §3.3.2 Transform Type.</summary>
public enum TransformType : byte
{
    Encryption = 1,
    Prf = 2,
    Integrity = 3,
    KeyExchange = 4,
    Esn = 5,
}

/// <summary>Transform Type 1 IDs this implementation supports.</summary>
public enum EncryptionId : ushort
{
    AesCbc = 12,
    AesGcm16 = 20,
}

/// <summary>Transform Type 2 IDs.</summary>
public enum PrfId : ushort
{
    HmacSha1 = 2,
    HmacSha256 = 5,
    HmacSha384 = 6,
    HmacSha512 = 7,
}

/// <summary>Transform Type 3 IDs.</summary>
public enum IntegrityId : ushort
{
    None = 0,
    HmacSha1_96 = 2,
    HmacSha256_128 = 12,
    HmacSha384_192 = 13,
    HmacSha512_256 = 14,
}

/// <summary>Transform Type 4 IDs (Diffie-Hellman groups).</summary>
public enum DhGroup : ushort
{
    None = 0,
    Modp2048 = 14,
    Ecp256 = 19,
    Ecp384 = 20,
    Ecp521 = 21,
    Curve25519 = 31,
}

/// <summary>RFC 7296 §3.5 ID Type.</summary>
public enum IdType : byte
{
    Ipv4Address = 1,
    Fqdn = 2,
    Rfc822Address = 3,
    Ipv6Address = 5,
    DerAsn1Dn = 9,
    DerAsn1Gn = 10,
    KeyId = 11,
}

/// <summary>RFC 7296 §3.8 Auth Method, RFC 4754, RFC 7427.</summary>
public enum AuthMethod : byte
{
    RsaSignature = 1,
    SharedKey = 2,
    EcdsaP256Sha256 = 9,
    EcdsaP384Sha384 = 10,
    EcdsaP521Sha512 = 11,
    DigitalSignature = 14,
}

/// <summary>RFC 7296 §3.3.1 Protocol ID.</summary>
public enum ProtocolId : byte
{
    None = 0,
    Ike = 1,
    Ah = 2,
    Esp = 3,
}

/// <summary>RFC 7296 §3.6 Cert Encoding.</summary>
public enum CertEncoding : byte
{
    X509Signature = 4,
}

/// <summary>RFC 7427 §4 hash algorithm identifiers for SIGNATURE_HASH_ALGORITHMS.</summary>
public enum SignatureHash : ushort
{
    Sha1 = 1,
    Sha256 = 2,
    Sha384 = 3,
    Sha512 = 4,
}
