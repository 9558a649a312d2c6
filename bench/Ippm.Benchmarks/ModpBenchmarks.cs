using System.Numerics;
using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Ippm.Ikev2.Crypto;
using Ippm.Ikev2.Messages;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Agreement;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;
using BcBigInteger = Org.BouncyCastle.Math.BigInteger;

namespace Ippm.Benchmarks;

/// <summary>
/// One MODP-2048 (RFC 3526 group 14) key pair plus one agreement, as an IKE_SA_INIT costs a responder: ippm's
/// KeyExchange (libcrypto BN_mod_exp_mont_consttime, 320-bit exponents), BouncyCastle's DH (ippm's previous code,
/// 512-bit exponents, and with 320-bit ones) and System.Numerics.BigInteger.ModPow (ippm's first code).
/// </summary>
[MemoryDiagnoser]
public class ModpBenchmarks
{
    private static readonly byte[] s_prime = Convert.FromHexString(
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD" +
        "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED" +
        "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F" +
        "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B" +
        "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510" +
        "15728E5A8AACAA68FFFFFFFFFFFFFFFF");

    private static readonly BigInteger s_p = new(s_prime, isUnsigned: true, isBigEndian: true);
    private static readonly DHParameters s_bc320 = new(new BcBigInteger(1, s_prime), BcBigInteger.Two, null, 320);
    private static readonly DHParameters s_bc512 = new(new BcBigInteger(1, s_prime), BcBigInteger.Two, null, 512);

    private byte[] _peerPublic = null!;
    private BigInteger _peer;
    private DHPublicKeyParameters _peer320 = null!;
    private DHPublicKeyParameters _peer512 = null!;
    private readonly SecureRandom _random = new();

    [GlobalSetup]
    public void Setup()
    {
        using KeyExchange peer = KeyExchange.Create(DhGroup.Modp2048);
        _peerPublic = peer.PublicKey;
        _peer = new BigInteger(_peerPublic, isUnsigned: true, isBigEndian: true);
        _peer320 = new DHPublicKeyParameters(new BcBigInteger(1, _peerPublic), s_bc320);
        _peer512 = new DHPublicKeyParameters(new BcBigInteger(1, _peerPublic), s_bc512);
    }

    [Benchmark(Baseline = true)]
    public byte[]? LibCryptoConstTime320()
    {
        using KeyExchange exchange = KeyExchange.Create(DhGroup.Modp2048);
        return exchange.TryDeriveSharedSecret(_peerPublic);
    }

    [Benchmark]
    public BcBigInteger BouncyCastleDh512() => BouncyCastle(s_bc512, _peer512);

    [Benchmark]
    public BcBigInteger BouncyCastleDh320() => BouncyCastle(s_bc320, _peer320);

    [Benchmark]
    public BigInteger BigIntegerModPow320()
    {
        byte[] x = RandomNumberGenerator.GetBytes(40);
        x[0] |= 0x80;
        var exponent = new BigInteger(x, isUnsigned: true, isBigEndian: true);
        BigInteger publicValue = BigInteger.ModPow(2, exponent, s_p);
        return BigInteger.ModPow(_peer, exponent, s_p) ^ (publicValue & 1);
    }

    private BcBigInteger BouncyCastle(DHParameters parameters, DHPublicKeyParameters peer)
    {
        var generator = new DHKeyPairGenerator();
        generator.Init(new DHKeyGenerationParameters(_random, parameters));
        AsymmetricCipherKeyPair pair = generator.GenerateKeyPair();
        var agreement = new DHBasicAgreement();
        agreement.Init(pair.Private);
        return agreement.CalculateAgreement(peer);
    }
}
