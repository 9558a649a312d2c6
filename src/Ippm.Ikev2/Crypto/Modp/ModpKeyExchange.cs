using System.Security.Cryptography;
using Ippm.Ikev2.Messages;

namespace Ippm.Ikev2.Crypto.Modp;

/// <summary>
/// A MODP key pair (RFC 3526 groups, KE data and g^ir both <see cref="ModpGroup.Length"/> octets, RFC 7296 §3.4).
/// The private exponent comes from <see cref="RandomNumberGenerator"/>, lives in a pinned array and is zeroed on
/// <see cref="KeyExchange.Dispose()"/>; exponentiation is the <see cref="IModpEngine"/>'s (libcrypto, constant-time).
/// </summary>
internal sealed class ModpKeyExchange : KeyExchange
{
    private readonly ModpGroup _group;
    private readonly IModpEngine _engine;
    private readonly byte[] _exponent;
    private readonly byte[] _public;
    private bool _disposed;

    public ModpKeyExchange(DhGroup group)
        : this(ModpGroup.For(group) ?? throw new ArgumentOutOfRangeException(nameof(group), group, "Not a MODP group."), ModpEngine.Default)
    {
    }

    public ModpKeyExchange(ModpGroup group, IModpEngine engine)
        : this(group, engine, group.NewPrivateExponent())
    {
    }

    /// <summary>With a given exponent (tests compare against an independent exponentiation); takes ownership of it.</summary>
    internal ModpKeyExchange(ModpGroup group, IModpEngine engine, byte[] exponent)
        : base(group.Id)
    {
        _group = group;
        _engine = engine;
        _exponent = exponent;
        _public = new byte[group.Length];
        engine.ModPow(group, group.Generator, _exponent, _public);
    }

    public override byte[] PublicKey => _public;

    public override byte[]? TryDeriveSharedSecret(ReadOnlySpan<byte> peerPublic)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_group.IsValidPeerValue(peerPublic))
        {
            return null;
        }
        byte[] secret = new byte[_group.Length];
        _engine.ModPow(_group, peerPublic, _exponent, secret);
        return secret;
    }

    protected override void Dispose(bool disposing)
    {
        if (!_disposed)
        {
            _disposed = true;
            CryptographicOperations.ZeroMemory(_exponent);
        }
    }
}
