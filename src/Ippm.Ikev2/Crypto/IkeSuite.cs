using System.Globalization;
using Ippm.Ikev2.Messages;

namespace Ippm.Ikev2.Crypto;

/// <summary>The transforms negotiated for one IKE SA.</summary>
public sealed record IkeSuite(EncryptionId Encryption, int EncryptionKeyBits, PrfId Prf, IntegrityId Integrity, DhGroup Group)
{
    public bool IsAead => Encryption == EncryptionId.AesGcm16;

    /// <summary>SK_e length: the AES key, plus the 4-octet salt for GCM (RFC 5282 §7.1).</summary>
    public int EncryptionKeyLength => (EncryptionKeyBits / 8) + (IsAead ? 4 : 0);

    public int IntegrityKeyLength => Integrity switch
    {
        IntegrityId.None => 0,
        IntegrityId.HmacSha1_96 => 20,
        IntegrityId.HmacSha256_128 => 32,
        IntegrityId.HmacSha384_192 => 48,
        IntegrityId.HmacSha512_256 => 64,
        _ => throw new InvalidOperationException("Unsupported integrity algorithm."),
    };

    public int IcvLength => IsAead ? 16 : Integrity switch
    {
        IntegrityId.HmacSha1_96 => 12,
        IntegrityId.HmacSha256_128 => 16,
        IntegrityId.HmacSha384_192 => 24,
        IntegrityId.HmacSha512_256 => 32,
        _ => throw new InvalidOperationException("Unsupported integrity algorithm."),
    };

    public int IvLength => IsAead ? 8 : 16;

    /// <summary>The proposal in strongSwan syntax, e.g. <c>aes256-sha256-modp2048</c> or <c>aes128gcm16-prfsha256-ecp256</c>.</summary>
    public override string ToString()
    {
        string group = IkeProposalSpec.GroupName(Group);
        return IsAead
            ? string.Create(CultureInfo.InvariantCulture, $"aes{EncryptionKeyBits}gcm16-prf{IkeProposalSpec.HashName(Prf)}-{group}")
            : string.Create(CultureInfo.InvariantCulture, $"aes{EncryptionKeyBits}-{IkeProposalSpec.IntegName(Integrity)}-prf{IkeProposalSpec.HashName(Prf)}-{group}");
    }

    public Proposal ToProposal(byte number, byte[]? spi = null)
    {
        var transforms = new List<Transform> { new(TransformType.Encryption, (ushort)Encryption, (ushort)EncryptionKeyBits), new(TransformType.Prf, (ushort)Prf) };
        if (!IsAead)
        {
            transforms.Add(new Transform(TransformType.Integrity, (ushort)Integrity));
        }
        transforms.Add(new Transform(TransformType.KeyExchange, (ushort)Group));
        return new Proposal(number, ProtocolId.Ike, spi ?? [], transforms);
    }
}

/// <summary>
/// One IKE proposal as configured: acceptable algorithms per transform type, written like strongSwan's
/// proposal keywords (<c>aes256-sha256-modp2048</c>, <c>aes128gcm16-prfsha256-ecp256</c>,
/// <c>aes256gcm16-prfsha384-x25519</c>).
/// </summary>
public sealed record IkeProposalSpec(
    IReadOnlyList<(EncryptionId Id, int Bits)> Encryptions, IReadOnlyList<PrfId> Prfs, IReadOnlyList<IntegrityId> Integrities, IReadOnlyList<DhGroup> Groups)
{
    /// <summary>What ippm offers and accepts when nothing is configured.</summary>
    public const string DefaultList =
        "aes256gcm16-prfsha256-x25519-ecp256-modp2048,aes256-sha256-x25519-ecp256-modp2048,aes128gcm16-prfsha256-ecp256,aes256gcm16-prfsha384-x25519-ecp384,aes256-sha384-ecp384,aes128-sha256-modp2048,aes256-sha512-ecp521";

    public static IReadOnlyList<IkeProposalSpec> Default { get; } = ParseList(DefaultList);

    public bool IsAead => Encryptions.All(e => e.Id == EncryptionId.AesGcm16);

    public static IReadOnlyList<IkeProposalSpec> ParseList(string text)
    {
        var list = new List<IkeProposalSpec>();
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            list.Add(Parse(part));
        }
        return list.Count > 0 ? list : throw new FormatException("Empty proposal list.");
    }

    public static IkeProposalSpec Parse(string text)
    {
        var encr = new List<(EncryptionId, int)>();
        var prfs = new List<PrfId>();
        var integ = new List<IntegrityId>();
        var groups = new List<DhGroup>();
        foreach (string raw in text.Split('-', StringSplitOptions.RemoveEmptyEntries))
        {
            string token = raw.ToLowerInvariant();
            switch (token)
            {
                case "aes128": encr.Add((EncryptionId.AesCbc, 128)); break;
                case "aes192": encr.Add((EncryptionId.AesCbc, 192)); break;
                case "aes256": encr.Add((EncryptionId.AesCbc, 256)); break;
                case "aes128gcm16" or "aes128gcm128": encr.Add((EncryptionId.AesGcm16, 128)); break;
                case "aes256gcm16" or "aes256gcm128": encr.Add((EncryptionId.AesGcm16, 256)); break;
                case "sha1": integ.Add(IntegrityId.HmacSha1_96); break;
                case "sha256": integ.Add(IntegrityId.HmacSha256_128); break;
                case "sha384": integ.Add(IntegrityId.HmacSha384_192); break;
                case "sha512": integ.Add(IntegrityId.HmacSha512_256); break;
                case "prfsha1": prfs.Add(PrfId.HmacSha1); break;
                case "prfsha256": prfs.Add(PrfId.HmacSha256); break;
                case "prfsha384": prfs.Add(PrfId.HmacSha384); break;
                case "prfsha512": prfs.Add(PrfId.HmacSha512); break;
                case "modp2048": groups.Add(DhGroup.Modp2048); break;
                case "ecp256": groups.Add(DhGroup.Ecp256); break;
                case "ecp384": groups.Add(DhGroup.Ecp384); break;
                case "ecp521": groups.Add(DhGroup.Ecp521); break;
                case "x25519" or "curve25519": groups.Add(DhGroup.Curve25519); break;
                default: throw new FormatException($"Unknown or unsupported proposal keyword '{raw}' in '{text}'.");
            }
        }
        bool aead = encr.Count > 0 && encr.All(e => e.Item1 == EncryptionId.AesGcm16);
        if (encr.Count == 0 || groups.Count == 0 || (!aead && integ.Count == 0) || (aead && integ.Count > 0) || encr.Any(e => e.Item1 == EncryptionId.AesGcm16) != aead)
        {
            throw new FormatException($"Proposal '{text}' needs an encryption algorithm, a DH group and (without AEAD) an integrity algorithm; AEAD and non-AEAD ciphers cannot be mixed.");
        }
        if (prfs.Count == 0)
        {
            if (aead)
            {
                throw new FormatException($"AEAD proposal '{text}' needs a prfshaNNN keyword.");
            }
            // strongSwan derives the PRF from the integrity algorithm when none is named.
            prfs.AddRange(integ.Select(i => i switch
            {
                IntegrityId.HmacSha1_96 => PrfId.HmacSha1,
                IntegrityId.HmacSha384_192 => PrfId.HmacSha384,
                IntegrityId.HmacSha512_256 => PrfId.HmacSha512,
                _ => PrfId.HmacSha256,
            }).Distinct());
        }
        return new IkeProposalSpec(encr, prfs, integ, groups);
    }

    public Proposal ToProposal(byte number, byte[]? spi = null)
    {
        var transforms = new List<Transform>();
        transforms.AddRange(Encryptions.Select(e => new Transform(TransformType.Encryption, (ushort)e.Id, (ushort)e.Bits)));
        transforms.AddRange(Prfs.Select(p => new Transform(TransformType.Prf, (ushort)p)));
        transforms.AddRange(Integrities.Select(i => new Transform(TransformType.Integrity, (ushort)i)));
        transforms.AddRange(Groups.Select(g => new Transform(TransformType.KeyExchange, (ushort)g)));
        return new Proposal(number, ProtocolId.Ike, spi ?? [], transforms);
    }

    /// <summary>
    /// Responder choice for one peer proposal: per transform type, the peer's first transform that this spec
    /// allows (RFC 7296 §3.3.6). <paramref name="requiredGroup"/> restricts the DH group (the one KEi carries).
    /// </summary>
    public IkeSuite? TryMatch(Proposal peer, DhGroup requiredGroup = DhGroup.None)
    {
        if (peer.Protocol != ProtocolId.Ike)
        {
            return null;
        }
        (EncryptionId Id, int Bits)? e = null;
        foreach (Transform t in peer.OfType(TransformType.Encryption))
        {
            if (Encryptions.Any(x => (ushort)x.Id == t.Id && x.Bits == t.KeyLength))
            {
                e = ((EncryptionId)t.Id, t.KeyLength);
                break;
            }
        }
        PrfId? prf = peer.OfType(TransformType.Prf).Select(t => (PrfId)t.Id).Where(Prfs.Contains).Cast<PrfId?>().FirstOrDefault();
        DhGroup? group = peer.OfType(TransformType.KeyExchange).Select(t => (DhGroup)t.Id)
            .Where(g => Groups.Contains(g) && (requiredGroup == DhGroup.None || g == requiredGroup)).Cast<DhGroup?>().FirstOrDefault();
        if (e is null || prf is null || group is null)
        {
            return null;
        }
        IntegrityId integ = IntegrityId.None;
        var peerInteg = peer.OfType(TransformType.Integrity).Select(t => (IntegrityId)t.Id).ToList();
        if (e.Value.Id == EncryptionId.AesGcm16)
        {
            if (peerInteg.Any(i => i != IntegrityId.None))
            {
                return null;
            }
        }
        else
        {
            IntegrityId? chosen = peerInteg.Where(Integrities.Contains).Cast<IntegrityId?>().FirstOrDefault();
            if (chosen is null)
            {
                return null;
            }
            integ = chosen.Value;
        }
        return new IkeSuite(e.Value.Id, e.Value.Bits, prf.Value, integ, group.Value);
    }

    /// <summary>Initiator check of the responder's single chosen proposal: exactly one transform of each needed type, all offered.</summary>
    public static IkeSuite? TryAccept(IReadOnlyList<IkeProposalSpec> offered, Proposal chosen)
    {
        var e = chosen.OfType(TransformType.Encryption).ToList();
        var p = chosen.OfType(TransformType.Prf).ToList();
        var i = chosen.OfType(TransformType.Integrity).Where(t => t.Id != 0).ToList();
        var g = chosen.OfType(TransformType.KeyExchange).ToList();
        if (e.Count != 1 || p.Count != 1 || g.Count != 1 || i.Count > 1)
        {
            return null;
        }
        foreach (IkeProposalSpec spec in offered)
        {
            IkeSuite? suite = spec.TryMatch(chosen);
            if (suite is not null)
            {
                return suite;
            }
        }
        return null;
    }

    internal static string HashName(PrfId prf) => prf switch
    {
        PrfId.HmacSha1 => "sha1",
        PrfId.HmacSha256 => "sha256",
        PrfId.HmacSha384 => "sha384",
        _ => "sha512",
    };

    internal static string IntegName(IntegrityId integ) => integ switch
    {
        IntegrityId.HmacSha1_96 => "sha1",
        IntegrityId.HmacSha256_128 => "sha256",
        IntegrityId.HmacSha384_192 => "sha384",
        _ => "sha512",
    };

    internal static string GroupName(DhGroup group) => group switch
    {
        DhGroup.Modp2048 => "modp2048",
        DhGroup.Ecp256 => "ecp256",
        DhGroup.Ecp384 => "ecp384",
        DhGroup.Ecp521 => "ecp521",
        DhGroup.Curve25519 => "x25519",
        _ => ((ushort)group).ToString(CultureInfo.InvariantCulture),
    };
}
