using System.Net;
using System.Numerics;
using System.Security.Cryptography;
using Ippm.Ikev2.Exchanges;
using Ippm.Ikev2.Crypto;
using Ippm.Ikev2.Crypto.Modp;
using Ippm.Ikev2.Messages;
using Ippm.Ikev2.SaDatabase;
using Ippm.Tests.Loopback;
using Microsoft.Extensions.Logging;

namespace Ippm.Tests.Ikev2;

/// <summary>
/// MODP-2048 (RFC 3526 group 14) through libcrypto's constant-time exponentiation and the BouncyCastle fallback,
/// checked against System.Numerics.BigInteger.ModPow as the independent oracle.
/// </summary>
public sealed class ModpTests
{
    private static readonly ModpGroup Group = ModpGroup.Group14;
    private static readonly BigInteger P = ToInteger(Group.Prime);

    public static TheoryData<string> Engines => ["libcrypto", "bouncycastle"];

    private static IModpEngine Engine(string name) => name switch
    {
        "libcrypto" => LibCryptoModpEngine.TryCreate() ?? throw new InvalidOperationException("libcrypto did not load"),
        _ => BouncyCastleModpEngine.Instance,
    };

    private static BigInteger ToInteger(ReadOnlySpan<byte> bigEndian) => new(bigEndian, isUnsigned: true, isBigEndian: true);

    private static byte[] Padded(BigInteger value)
    {
        byte[] raw = value.ToByteArray(isUnsigned: true, isBigEndian: true);
        byte[] padded = new byte[Group.Length];
        raw.CopyTo(padded, padded.Length - raw.Length);
        return padded;
    }

    private static byte[] RandomBelowPrime()
    {
        while (true)
        {
            byte[] value = RandomNumberGenerator.GetBytes(Group.Length);
            if (ToInteger(value) < P)
            {
                return value;
            }
        }
    }

    [Fact]
    public void DefaultEngine_OnLinux_IsLibCryptoConstantTime()
    {
        Assert.True(OperatingSystem.IsLinux());
        Assert.IsType<LibCryptoModpEngine>(ModpEngine.Default);
        Assert.True(ModpEngine.Default.IsConstantTime);
        Assert.Contains("BN_mod_exp_mont_consttime", ModpEngine.Default.Description);
        Assert.Contains("libcrypto", ModpEngine.Default.Description);
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public void ModPow_RandomInputs_EqualsBigIntegerModPow(string engineName)
    {
        IModpEngine engine = Engine(engineName);
        byte[] result = new byte[Group.Length];
        for (int i = 0; i < 60; i++)
        {
            byte[] value = i % 3 == 0 ? Group.Generator.ToArray() : RandomBelowPrime();
            // Exponents from 1 octet to the full modulus length, leading zeros included sometimes.
            byte[] exponent = RandomNumberGenerator.GetBytes(1 + RandomNumberGenerator.GetInt32(Group.Length));
            if (i % 5 == 0)
            {
                exponent[0] = 0;
            }
            engine.ModPow(Group, value, exponent, result);
            Assert.Equal(Padded(BigInteger.ModPow(ToInteger(value), ToInteger(exponent), P)), result);
        }
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public void ModPow_SmallResult_IsLeftPaddedToGroupLength(string engineName)
    {
        byte[] result = new byte[Group.Length];
        result.AsSpan().Fill(0xAA);
        Engine(engineName).ModPow(Group, Group.Generator, [3], result);
        Assert.Equal(8, result[^1]);
        Assert.True(result.AsSpan(0, Group.Length - 1).IndexOfAnyExcept((byte)0) < 0);
    }

    [Theory]
    [InlineData("libcrypto", "libcrypto")]
    [InlineData("libcrypto", "bouncycastle")]
    [InlineData("bouncycastle", "bouncycastle")]
    public void KeyPairs_BothSides_AgreeOnTheBigIntegerModPowSecret(string initiatorEngine, string responderEngine)
    {
        for (int i = 0; i < 20; i++)
        {
            byte[] xi = Group.NewPrivateExponent(), xr = Group.NewPrivateExponent();
            BigInteger xiValue = ToInteger(xi), xrValue = ToInteger(xr);
            using var initiator = new ModpKeyExchange(Group, Engine(initiatorEngine), xi);
            using var responder = new ModpKeyExchange(Group, Engine(responderEngine), xr);

            Assert.Equal(Padded(BigInteger.ModPow(2, xiValue, P)), initiator.PublicKey);
            Assert.Equal(Padded(BigInteger.ModPow(2, xrValue, P)), responder.PublicKey);
            byte[]? gir = initiator.TryDeriveSharedSecret(responder.PublicKey);
            byte[]? grI = responder.TryDeriveSharedSecret(initiator.PublicKey);
            Assert.NotNull(gir);
            Assert.Equal(Group.Length, gir.Length);
            Assert.Equal(gir, grI);
            Assert.Equal(Padded(BigInteger.ModPow(ToInteger(responder.PublicKey), xiValue, P)), gir);
        }
    }

    [Fact]
    public void Create_Modp2048_TwoSidesAgree()
    {
        using KeyExchange a = KeyExchange.Create(DhGroup.Modp2048);
        using KeyExchange b = KeyExchange.Create(DhGroup.Modp2048);
        Assert.Equal(256, a.PublicKey.Length);
        Assert.NotEqual(a.PublicKey, b.PublicKey);
        byte[]? ab = a.TryDeriveSharedSecret(b.PublicKey);
        Assert.NotNull(ab);
        Assert.Equal(ab, b.TryDeriveSharedSecret(a.PublicKey));
    }

    [Fact]
    public void PrivateExponent_HasExactly320Bits_AndIsZeroedOnDispose()
    {
        for (int i = 0; i < 50; i++)
        {
            byte[] x = Group.NewPrivateExponent();
            Assert.Equal(40, x.Length);
            Assert.True(ToInteger(x).GetBitLength() == 320);
        }
        byte[] exponent = Group.NewPrivateExponent();
        var exchange = new ModpKeyExchange(Group, ModpEngine.Default, exponent);
        exchange.Dispose();
        Assert.True(exponent.AsSpan().IndexOfAnyExcept((byte)0) < 0);
        Assert.Throws<ObjectDisposedException>(() => exchange.TryDeriveSharedSecret(Group.Generator));
    }

    public static TheoryData<string, string> InvalidPeerValues => new()
    {
        { "libcrypto", "zero" }, { "libcrypto", "one" }, { "libcrypto", "p-1" }, { "libcrypto", "p" }, { "libcrypto", "p+1" },
        { "libcrypto", "all-ones" }, { "libcrypto", "short" }, { "libcrypto", "long" }, { "libcrypto", "empty" },
        { "bouncycastle", "zero" }, { "bouncycastle", "one" }, { "bouncycastle", "p-1" }, { "bouncycastle", "p" }, { "bouncycastle", "all-ones" },
    };

    [Theory]
    [MemberData(nameof(InvalidPeerValues))]
    public void InvalidPeerValue_IsRefused(string engineName, string which)
    {
        byte[] value = which switch
        {
            "zero" => new byte[256],
            "one" => Padded(1),
            "p-1" => Padded(P - 1),
            "p" => Padded(P),
            "p+1" => Padded(P + 1),
            "all-ones" => Enumerable.Repeat((byte)0xFF, 256).ToArray(),
            "short" => RandomBelowPrime()[1..],
            "long" => [0, .. RandomBelowPrime()],
            _ => [],
        };
        using var exchange = new ModpKeyExchange(Group, Engine(engineName));
        Assert.Null(exchange.TryDeriveSharedSecret(value));
    }

    [Fact]
    public void BoundaryPeerValues_TwoAndPMinusTwo_AreAccepted()
    {
        byte[] x = Group.NewPrivateExponent();
        BigInteger xValue = ToInteger(x);
        using var exchange = new ModpKeyExchange(Group, ModpEngine.Default, x);
        // y = 2 is the generator itself: the "shared" value is the own public value.
        Assert.Equal(exchange.PublicKey, exchange.TryDeriveSharedSecret(Padded(2)));
        Assert.Equal(Padded(BigInteger.ModPow(P - 2, xValue, P)), exchange.TryDeriveSharedSecret(Padded(P - 2)));
    }

    [Fact]
    public async Task Responder_OfferingModp_SaysAtDebugWhichEngineComputes()
    {
        using var logs = new RecordingLoggerFactory();
        using var database = new IkeSaDatabase();
        using var credentials = new IkeCredentials { PreSharedKey = "modp-log-test"u8.ToArray() };
        await using var responder = new IkeResponder(new IkeResponderOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Credentials = credentials,
        }, database, logs.CreateLogger("Ippm.Ikev2"));
        (LogLevel level, _, string message) = Assert.Single(logs.Entries, e => e.EventId == 1240);
        Assert.Equal(LogLevel.Debug, level);
        Assert.StartsWith("IKE: MODP Diffie-Hellman by OpenSSL", message);
        Assert.Contains("BN_mod_exp_mont_consttime", message);
    }
}
