using System.Security.Cryptography;
using System.Text;
using Ippm.Ikev2.Crypto;
using Ippm.Ikev2.Messages;
using Ippm.Security;

namespace Ippm.Fuzz;

/// <summary>Seeds that ../shared/vectors does not have: IKEv2 messages and .pfs files, made with ippm's own encoders.</summary>
public static class Seeds
{
    public static void Write(string root)
    {
        string ike = Directory.CreateDirectory(Path.Combine(root, "ike")).FullName;
        int n = 0;
        foreach ((DhGroup group, string proposal) in new[] { (DhGroup.Modp2048, "aes256-sha256-modp2048"), (DhGroup.Curve25519, "aes128gcm16-prfsha256-x25519"), (DhGroup.Ecp256, "aes256-sha256-ecp256") })
        {
            using KeyExchange ke = KeyExchange.Create(group);
            var payloads = new List<OutgoingPayload>
            {
                new(PayloadType.SecurityAssociation, new SaPayload([IkeProposalSpec.ParseList(proposal)[0].ToProposal(1)]).Encode()),
                new(PayloadType.KeyExchange, new KePayload(group, ke.PublicKey).Encode()),
                new(PayloadType.Nonce, RandomNumberGenerator.GetBytes(32)),
                new NotifyPayload(NotifyType.ChildlessIkev2Supported).ToOutgoing(),
            };
            byte[] init = IkeMessage.Build(new IkeHeader(0x1122334455667788, 0, PayloadType.None, ExchangeType.IkeSaInit, IkeFlags.Initiator, 0, 0), payloads);
            File.WriteAllBytes(Path.Combine(ike, $"sa-init-{n++}"), init);
            payloads.Insert(0, new NotifyPayload(NotifyType.Cookie, RandomNumberGenerator.GetBytes(17)).ToOutgoing());
            byte[] withCookie = IkeMessage.Build(new IkeHeader(0x1122334455667789, 0, PayloadType.None, ExchangeType.IkeSaInit, IkeFlags.Initiator, 0, 0), payloads);
            File.WriteAllBytes(Path.Combine(ike, $"sa-init-cookie-{n++}"), withCookie);
        }
        var auth = new List<OutgoingPayload>
        {
            new(PayloadType.IdInitiator, Ippm.Ikev2.Exchanges.IkeIdentity.Parse("alice@example.net").Encode()),
            new(PayloadType.Authentication, new AuthPayload(AuthMethod.SharedKey, new byte[32]).Encode()),
        };
        File.WriteAllBytes(Path.Combine(ike, "auth-clear"), IkeMessage.Build(new IkeHeader(0x1122334455667788, 0x99, PayloadType.None, ExchangeType.IkeAuth, IkeFlags.Initiator, 1, 0), auth));

        string pfs = Directory.CreateDirectory(Path.Combine(root, "pfs")).FullName;
        File.WriteAllText(Path.Combine(pfs, "two"), "# comment\n" + KeyFile.FormatLine("alice", "testpass123"u8) + KeyFile.FormatLine("bob", Encoding.UTF8.GetBytes("another one")));
        File.WriteAllText(Path.Combine(pfs, "one"), "carol 00112233445566778899aabbccddeeff\n");
    }
}
