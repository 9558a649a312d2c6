using System.Security.Cryptography;
using Ippm.Ikev2.Crypto.Modp;
using Ippm.Ikev2.Messages;
using Org.BouncyCastle.Math.EC.Rfc7748;
using Org.BouncyCastle.Security;

namespace Ippm.Ikev2.Crypto;

/// <summary>
/// One ephemeral Diffie-Hellman key pair of an IKE_SA_INIT or rekey (RFC 7296 §3.4). <see cref="PublicKey"/>
/// is the Key Exchange Data; <see cref="TryDeriveSharedSecret"/> returns g^ir as SKEYSEED needs it, or null if
/// the peer's value is invalid.
/// </summary>
public abstract class KeyExchange : IDisposable
{
    protected KeyExchange(DhGroup group) => Group = group;

    public DhGroup Group { get; }
    public abstract byte[] PublicKey { get; }

    public static bool IsSupported(DhGroup group) => group is DhGroup.Modp2048 or DhGroup.Ecp256 or DhGroup.Ecp384 or DhGroup.Ecp521 or DhGroup.Curve25519;

    public static KeyExchange Create(DhGroup group) => group switch
    {
        DhGroup.Modp2048 => new ModpKeyExchange(group),
        DhGroup.Ecp256 => new EcpKeyExchange(group, ECCurve.NamedCurves.nistP256, 32),
        DhGroup.Ecp384 => new EcpKeyExchange(group, ECCurve.NamedCurves.nistP384, 48),
        DhGroup.Ecp521 => new EcpKeyExchange(group, ECCurve.NamedCurves.nistP521, 66),
        DhGroup.Curve25519 => new X25519KeyExchange(),
        _ => throw new ArgumentOutOfRangeException(nameof(group), group, "Unsupported DH group."),
    };

    public abstract byte[]? TryDeriveSharedSecret(ReadOnlySpan<byte> peerPublic);

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
    }
}

/// <summary>ECP groups 19/20/21 (RFC 5903): KE data is x | y without the 0x04 prefix; g^ir is the x coordinate only.</summary>
internal sealed class EcpKeyExchange : KeyExchange
{
    private readonly ECDiffieHellman _key;
    private readonly ECCurve _curve;
    private readonly int _coordinate;
    private readonly byte[] _public;

    public EcpKeyExchange(DhGroup group, ECCurve curve, int coordinateLength)
        : base(group)
    {
        _curve = curve;
        _coordinate = coordinateLength;
        _key = ECDiffieHellman.Create(curve);
        ECParameters p = _key.ExportParameters(false);
        _public = [.. p.Q.X!, .. p.Q.Y!];
    }

    public override byte[] PublicKey => _public;

    public override byte[]? TryDeriveSharedSecret(ReadOnlySpan<byte> peerPublic)
    {
        if (peerPublic.Length != 2 * _coordinate)
        {
            return null;
        }
        try
        {
            // ImportParameters checks that the point lies on the curve.
            using ECDiffieHellman peer = ECDiffieHellman.Create(new ECParameters
            {
                Curve = _curve,
                Q = new ECPoint { X = peerPublic[.._coordinate].ToArray(), Y = peerPublic[_coordinate..].ToArray() },
            });
            return _key.DeriveRawSecretAgreement(peer.PublicKey);
        }
        catch (CryptographicException)
        {
            return null;
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _key.Dispose();
        }
    }
}

/// <summary>
/// Curve25519 (RFC 8031) through BouncyCastle, the only algorithm here the BCL lacks. The private scalar is a pinned
/// array of our own (BouncyCastle's key parameters keep theirs unwiped), zeroed on Dispose like the MODP exponent.
/// </summary>
internal sealed class X25519KeyExchange : KeyExchange
{
    private readonly byte[] _scalar = GC.AllocateArray<byte>(X25519.ScalarSize, pinned: true);
    private readonly byte[] _public = new byte[X25519.PointSize];

    private bool _disposed;

    public X25519KeyExchange()
        : this(null)
    {
    }

    /// <summary>With a given private scalar (the RFC 7748 §6.1 test), copied into the pinned array; null: a random one.</summary>
    internal X25519KeyExchange(ReadOnlySpan<byte> scalar)
        : base(DhGroup.Curve25519)
    {
        if (scalar.IsEmpty)
        {
            X25519.GeneratePrivateKey(new SecureRandom(), _scalar);
        }
        else
        {
            scalar.CopyTo(_scalar);
        }
        X25519.ScalarMultBase(_scalar, 0, _public, 0);
    }

    public override byte[] PublicKey => _public;

    /// <summary>The private scalar, for the test that checks it is wiped.</summary>
    internal ReadOnlySpan<byte> Scalar => _scalar;

    public override byte[]? TryDeriveSharedSecret(ReadOnlySpan<byte> peerPublic)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (peerPublic.Length != X25519.PointSize)
        {
            return null;
        }
        byte[] secret = new byte[X25519.PointSize];
        // False when the result is all zero (the RFC 8031 §2.3 check against small-order points).
        return X25519.CalculateAgreement(_scalar, 0, peerPublic.ToArray(), 0, secret, 0) ? secret : null;
    }

    protected override void Dispose(bool disposing)
    {
        _disposed = true;
        CryptographicOperations.ZeroMemory(_scalar);
    }
}
