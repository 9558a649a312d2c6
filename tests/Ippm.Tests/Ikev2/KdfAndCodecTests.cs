using System.Buffers;
using System.Text;
using Ippm.Ikev2.Crypto;
using Ippm.Ikev2.Messages;
using Ippm.Ikev2.SaDatabase;

namespace Ippm.Tests.Ikev2;

/// <summary>ikev2-essentials §9 KDF vectors, crypto §8.3 RFC 7717 vector, payload round trips and truncation sweeps.</summary>
public sealed class KdfAndCodecTests
{
    private static byte[] H(string hex) => Convert.FromHexString(hex);

    [Fact]
    public void Skeyseed_NistCavpVector_MatchesSkeyseedDkmAndRekey()
    {
        byte[] ni = H("3651fef5c9c35e93"), nr = H("c09a8b90a3f04d59");
        byte[] gir = H("d084a30166a50fb7325c3960874a839449ef9741c2f4f947d0201dd8c1269273d79509f37e3ca3eb4fa2fe2a28254e289cd3f34dad4eb4df1a07685a4b8a94fa61e2491f7598b3ce65547ff133b3f63d1ac4175eaa695033f3cedb026a6873a36455172a8540b8a5d23a0143bed0390ee49b168269d75fffee9fb62be965993c");
        byte[] girNew = H("52f00ab174c25d5b7139ae5ff4e8e9eddee5992d2e36adf8a559ffd90dab1442e4fbe429d320c0f33552a17d1557fa41ea70e8fb916c4fa27ed52b5f8ebd8461afa78f1159159a64055ac5f6319e29c28eae58cbc6847770f32c3fed1d04750484f854790f95e9ec01bc5bc461f24966462e359511329305038e94deb6dd42c2");
        byte[] skeyseed = IkeKeys.ComputeSkeyseed(PrfId.HmacSha1, ni, nr, gir);
        Assert.Equal("cd2e8050137832245f1dbacc6e4f0a92f94d45d6", Convert.ToHexStringLower(skeyseed));
        byte[] seed = [.. ni, .. nr, .. H("8e5c3ae507221684b1f201bb155c3acd")];
        byte[] dkm = Prf.PrfPlus(PrfId.HmacSha1, skeyseed, seed, 132);
        Assert.Equal("6f1b12cad3cbe097b35430356d869d54cddb0198ec859174d53ceb92dddedbe2436db69f60977c58fa63bbb667f8d36920b109baae8f6c61a9ac49feda01843225d080ec5539d5881a25521ffb2a0a91874a9c0a27fcc2d717eb8963a9e3a89c7ab264757284c28cf8c3ca40576f4220b052b1fb8e9ad60ba3c80557323331a8cbb89f20", Convert.ToHexStringLower(dkm));
        byte[] skD = dkm[..20];
        Assert.Equal("4727dc0ef94eb326ce131cf282fb652faa638ad0ddae3786a11bcc0309876009f8c485de011ad962c5b1ca8a41ff8145445749079c5686e26ffebbc342f06981f3da745e11ca0976424d1f8caec623d59dc7186deb20a27b411d1dcb70a365440bf7de905088b0692e8addc094e18d1939bdb67e89798ca6b239e2ccb81c2409dac0106c",
            Convert.ToHexStringLower(Prf.PrfPlus(PrfId.HmacSha1, skD, [.. ni, .. nr], 132)));
        Assert.Equal("3b03bce748c96d5e8306918d2ff89b68f0648da3", Convert.ToHexStringLower(IkeKeys.ComputeRekeySkeyseed(PrfId.HmacSha1, skD, girNew, ni, nr)));

        // IkeKeys.Derive cuts SK_d first; with an SHA1 PRF + SHA1_96 + AES-CBC-128 the stream is the same DKM.
        using IkeKeys keys = IkeKeys.Derive(new IkeSuite(EncryptionId.AesCbc, 128, PrfId.HmacSha1, IntegrityId.HmacSha1_96, DhGroup.Modp2048), skeyseed, ni, nr, 0x8e5c3ae507221684, 0xb1f201bb155c3acd);
        Assert.Equal(skD, keys.SkD);
        Assert.Equal(dkm[20..40], keys.SkAi);
        Assert.Equal(dkm[60..76], keys.SkEi);
    }

    [Fact]
    public void Skeyseed_LibreswanVector_Matches()
    {
        byte[] ni = H("32b50d5f4a3763f3"), nr = H("9206a04b26564cb1");
        byte[] skeyseed = IkeKeys.ComputeSkeyseed(PrfId.HmacSha1, ni, nr, H("4b2c1f971981a8ad8d0abeafabf38cf75fc8349c148142465ed9c8b516b8be52"));
        Assert.Equal("a9a7b222b59f8f48645f28a1db5b5f5d7479cba7", Convert.ToHexStringLower(skeyseed));
        byte[] dkm = Prf.PrfPlus(PrfId.HmacSha1, skeyseed, [.. ni, .. nr, .. H("34c9e7c1888687853ff77d760d2b2199")], 132);
        Assert.StartsWith("a14293677cc80ff8f9cc0eee30d895da9d8f4056", Convert.ToHexStringLower(dkm), StringComparison.Ordinal);
        Assert.Equal("63e81194946ebd05df7df5ebf5d8750056bf1f1d", Convert.ToHexStringLower(IkeKeys.ComputeRekeySkeyseed(PrfId.HmacSha1, dkm[..20], H("863f3c9d06efd39d2b907b97f8699e5dd5251ef64a2a176f36ee40c87d4f9330"), ni, nr)));
    }

    [Theory]
    [InlineData(PrfId.HmacSha1, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "b617318655057264e28bc0b6fb378c8ef146be00")]
    [InlineData(PrfId.HmacSha256, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")]
    [InlineData(PrfId.HmacSha256, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7")]
    public void Prf_KnownAnswers(PrfId prf, string key, string expected) =>
        Assert.Equal(expected, Convert.ToHexStringLower(Prf.Compute(prf, H(key), "Hi There"u8)));

    [Fact]
    public void Database_DeriveIppmSecret_MatchesCryptoSection83()
    {
        using var db = new IkeSaDatabase();
        var suite = new IkeSuite(EncryptionId.AesCbc, 128, PrfId.HmacSha1, IntegrityId.HmacSha1_96, DhGroup.Modp2048);
        db.Add(new IkeSaEntry(0x8e5c3ae507221684, 0xb1f201bb155c3acd, suite, H("6f1b12cad3cbe097b35430356d869d54cddb0198"), "peer", new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 500), IkeSaRole.Initiator));
        Assert.Equal("cefc3501d05ce46bc2b6a3d0210a300710de76a7", Convert.ToHexStringLower(db.DeriveIppmSecret(0x8e5c3ae507221684, 0xb1f201bb155c3acd)!));
        Assert.True(db.TryGet(H("8e5c3ae507221684b1f201bb155c3acd"), out IkeSaEntry? e));
        db.MarkDeleted(e!.SpiI, e.SpiR);
        Assert.Equal(IkeSaState.Deleted, e.State);
        Assert.NotNull(db.DeriveIppmSecret(0x8e5c3ae507221684, 0xb1f201bb155c3acd)); // kept for holders
        Assert.Null(db.DeriveIppmSecret(1, 2));
        // Same SK_d octets under PRF_HMAC_SHA2_256 (crypto §8.3 last row).
        Assert.Equal("4cee9ee6cc55669e8a5d432e7e81702bc1120e3217a572402f1b6ff78e1ff540",
            Convert.ToHexStringLower(Prf.Compute(PrfId.HmacSha256, H("6f1b12cad3cbe097b35430356d869d54cddb0198"), "IPPM"u8)));
    }

    [Fact]
    public void SaPayload_RoundTrip_AndEveryTruncationIsInvalid()
    {
        var sa = new SaPayload([.. IkeProposalSpec.Default.Select((p, i) => p.ToProposal((byte)(i + 1)))]);
        byte[] encoded = sa.Encode();
        Assert.Equal(OperationStatus.Done, SaPayload.TryRead(encoded, out SaPayload? back));
        Assert.Equal(encoded, back!.Encode());
        Assert.Equal(IkeProposalSpec.Default.Count, back.Proposals.Count);
        for (int n = 0; n < encoded.Length; n++)
        {
            Assert.NotEqual(OperationStatus.Done, SaPayload.TryRead(encoded.AsSpan(0, n), out _));
        }
    }

    [Fact]
    public void Message_RoundTrip_AndEveryTruncationIsRejected()
    {
        byte[] message = IkeMessage.Build(new IkeHeader(0x0102030405060708, 0, PayloadType.None, ExchangeType.IkeSaInit, IkeFlags.Initiator, 0, 0),
        [
            new OutgoingPayload(PayloadType.KeyExchange, new KePayload(DhGroup.Ecp256, new byte[64]).Encode()),
            new OutgoingPayload(PayloadType.Nonce, new byte[32]),
            new NotifyPayload(NotifyType.ChildlessIkev2Supported).ToOutgoing(),
            new OutgoingPayload(PayloadType.IdInitiator, new IdPayload(IdType.Fqdn, Encoding.ASCII.GetBytes("a.test")).Encode()),
            new OutgoingPayload(PayloadType.Delete, DeletePayload.IkeSa.Encode()),
        ]);
        Assert.Equal(OperationStatus.Done, IkeMessage.TryParse(message, out IkeMessage? parsed));
        Assert.Equal(5, parsed!.Payloads.Count);
        Assert.Equal(OperationStatus.Done, KePayload.TryRead(parsed.Payloads[0].Body.Span, out KePayload? ke));
        Assert.Equal(DhGroup.Ecp256, ke!.Group);
        Assert.Equal(NotifyType.ChildlessIkev2Supported, parsed.Payloads.Notifies().Single().Type);
        for (int n = 0; n < message.Length; n++)
        {
            Assert.Equal(OperationStatus.InvalidData, IkeMessage.TryParse(message[..n], out _));
        }
        byte[] bad = (byte[])message.Clone();
        bad[IkeHeader.VersionOffset] = 0x10;
        Assert.Equal(OperationStatus.InvalidData, IkeMessage.TryParse(bad, out _));
    }

    [Theory]
    [InlineData("aes256-sha256-modp2048")]
    [InlineData("aes128gcm16-prfsha256-ecp256")]
    [InlineData("aes256gcm16-prfsha384-x25519")]
    public void SkProtection_SealOpen_AndOneBitTamperFails(string proposal)
    {
        IkeProposalSpec spec = IkeProposalSpec.Parse(proposal);
        IkeSuite suite = spec.TryMatch(spec.ToProposal(1))!;
        Assert.Equal(proposal.Replace("aes256-sha256-", "aes256-sha256-prfsha256-", StringComparison.Ordinal), suite.ToString());
        byte[] ek = new byte[suite.EncryptionKeyLength], ak = new byte[suite.IsAead ? 0 : suite.IntegrityKeyLength];
        Random.Shared.NextBytes(ek);
        Random.Shared.NextBytes(ak);
        using var sender = new SkProtection(suite, ek, ak);
        using var receiver = new SkProtection(suite, ek, ak);
        byte[] message = sender.Seal(new IkeHeader(1, 2, PayloadType.None, ExchangeType.Informational, IkeFlags.Initiator, 7, 0),
            [new OutgoingPayload(PayloadType.Delete, DeletePayload.IkeSa.Encode())]);
        Assert.Equal(OperationStatus.Done, IkeMessage.TryParse(message, out IkeMessage? m));
        List<RawPayload> inner = m!.OpenEncrypted(receiver)!;
        Assert.Equal(PayloadType.Delete, Assert.Single(inner).Type);
        for (int bit = 0; bit < message.Length * 8; bit += 37)
        {
            byte[] tampered = (byte[])message.Clone();
            tampered[bit / 8] ^= (byte)(1 << (bit % 8));
            if (IkeMessage.TryParse(tampered, out IkeMessage? t) == OperationStatus.Done)
            {
                Assert.Null(t!.OpenEncrypted(receiver));
            }
        }
    }

    [Theory]
    [InlineData(DhGroup.Modp2048)]
    [InlineData(DhGroup.Ecp256)]
    [InlineData(DhGroup.Ecp384)]
    [InlineData(DhGroup.Ecp521)]
    [InlineData(DhGroup.Curve25519)]
    public void KeyExchange_BothSidesAgree_AndRejectBadPeers(DhGroup group)
    {
        using KeyExchange a = KeyExchange.Create(group), b = KeyExchange.Create(group);
        byte[] ab = a.TryDeriveSharedSecret(b.PublicKey)!, ba = b.TryDeriveSharedSecret(a.PublicKey)!;
        Assert.Equal(ab, ba);
        Assert.Null(a.TryDeriveSharedSecret(new byte[b.PublicKey.Length])); // zero / point not on curve / low order
        Assert.Null(a.TryDeriveSharedSecret(b.PublicKey.AsSpan(1)));
    }

    [Fact]
    public void X25519_Rfc7748Section6_1_PublicKeysAndSharedSecret_ScalarZeroedOnDispose()
    {
        var alice = new X25519KeyExchange(Convert.FromHexString("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
        using var bob = new X25519KeyExchange(Convert.FromHexString("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
        Assert.Equal("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", Convert.ToHexStringLower(alice.PublicKey));
        Assert.Equal("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", Convert.ToHexStringLower(bob.PublicKey));
        const string k = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
        Assert.Equal(k, Convert.ToHexStringLower(alice.TryDeriveSharedSecret(bob.PublicKey)!));
        Assert.Equal(k, Convert.ToHexStringLower(bob.TryDeriveSharedSecret(alice.PublicKey)!));

        alice.Dispose();
        Assert.True(alice.Scalar.IndexOfAnyExcept((byte)0) < 0);
        Assert.Throws<ObjectDisposedException>(() => alice.TryDeriveSharedSecret(bob.PublicKey));
    }
}
