using System.Security.Cryptography;
using Ippm.Ikev2.Messages;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Agreement;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Utilities;
using BcBigInteger = Org.BouncyCastle.Math.BigInteger;
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

/// <summary>
/// MODP group 14 (RFC 3526 §3), 2048 bits, generator 2, through BouncyCastle's Diffie-Hellman (key generation and
/// <see cref="DHBasicAgreement"/>) rather than BigInteger.ModPow: a maintained cryptographic implementation with
/// RFC-conformant key generation. Its exponentiation is Montgomery with sliding windows, about as fast as
/// BigInteger.ModPow here and, like it, not constant-time (README, "Limits and fairness"); the responder bounds
/// how many of these a source can cause instead.
/// </summary>
internal sealed class ModpKeyExchange : KeyExchange
{
    private const int Length = 256;

    // A 512-bit private exponent keeps well above the group's ~110-bit strength (RFC 3526 §8).
    private static readonly DHParameters s_group = new(
        new BcBigInteger(1, Convert.FromHexString(
            "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD" +
            "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED" +
            "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F" +
            "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B" +
            "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510" +
            "15728E5A8AACAA68FFFFFFFFFFFFFFFF")),
        BcBigInteger.Two,
        null,
        512);

    private static readonly BcBigInteger s_pMinusOne = s_group.P.Subtract(BcBigInteger.One);

    private readonly DHPrivateKeyParameters _private;
    private readonly byte[] _public;

    public ModpKeyExchange(DhGroup group)
        : base(group)
    {
        var generator = new DHKeyPairGenerator();
        generator.Init(new DHKeyGenerationParameters(new SecureRandom(), s_group));
        AsymmetricCipherKeyPair pair = generator.GenerateKeyPair();
        _private = (DHPrivateKeyParameters)pair.Private;
        _public = BigIntegers.AsUnsignedByteArray(Length, ((DHPublicKeyParameters)pair.Public).Y);
    }

    public override byte[] PublicKey => _public;

    public override byte[]? TryDeriveSharedSecret(ReadOnlySpan<byte> peerPublic)
    {
        if (peerPublic.Length != Length)
        {
            return null;
        }
        var y = new BcBigInteger(1, peerPublic.ToArray());
        // RFC 6989 §2.1: reject 0, 1 and p-1 (and anything not below p).
        if (y.CompareTo(BcBigInteger.One) <= 0 || y.CompareTo(s_pMinusOne) >= 0)
        {
            return null;
        }
        var agreement = new DHBasicAgreement();
        agreement.Init(_private);
        return BigIntegers.AsUnsignedByteArray(Length, agreement.CalculateAgreement(new DHPublicKeyParameters(y, s_group)));
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

/// <summary>Curve25519 (RFC 8031) through BouncyCastle, the only algorithm here the BCL lacks.</summary>
internal sealed class X25519KeyExchange : KeyExchange
{
    private readonly X25519PrivateKeyParameters _private;
    private readonly byte[] _public;

    public X25519KeyExchange()
        : base(DhGroup.Curve25519)
    {
        _private = new X25519PrivateKeyParameters(new SecureRandom());
        _public = _private.GeneratePublicKey().GetEncoded();
    }

    public override byte[] PublicKey => _public;

    public override byte[]? TryDeriveSharedSecret(ReadOnlySpan<byte> peerPublic)
    {
        if (peerPublic.Length != X25519PublicKeyParameters.KeySize)
        {
            return null;
        }
        byte[] secret = new byte[X25519PrivateKeyParameters.SecretSize];
        try
        {
            // BouncyCastle throws when the result is all zero (RFC 8031 §2.3 check).
            _private.GenerateSecret(new X25519PublicKeyParameters(peerPublic), secret, 0);
        }
        catch (InvalidOperationException)
        {
            return null;
        }
        return secret.AsSpan().IndexOfAnyExcept((byte)0) < 0 ? null : secret;
    }
}
