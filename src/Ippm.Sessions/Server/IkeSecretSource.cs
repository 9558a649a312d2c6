using System.Security.Cryptography;
using Ippm.Ikev2.SaDatabase;
using Ippm.Security;
using Ippm.Sessions.Control;

namespace Ippm.Sessions.Server;

/// <summary>Connects the O/TWAMP server to the IKE layer's SA database (RFC 7717 §5).</summary>
public static class IkeSecretSource
{
    /// <summary>
    /// Only established SAs key new control connections. A rekeyed or deleted SA is refused (Accept=6):
    /// new connections must use the new SPIs, while connections already keyed from the old SA keep their
    /// derived keys until they end (RFC 7717 §5.1) because nothing is looked up again.
    /// </summary>
    public static Rfc7717SecretLookup FromDatabase(IkeSaDatabase database, Rfc7717KeyDerivation derivation) => (spiI, spiR) =>
    {
        if (!database.TryGet(spiI, spiR, out IkeSaEntry? entry))
        {
            return new Rfc7717Lookup(null, null, "unknown SPIs");
        }
        if (entry!.State != IkeSaState.Established)
        {
            return new Rfc7717Lookup(null, null, entry.State == IkeSaState.Rekeyed ? "the SA was rekeyed; new connections must use the new SPIs" : "the SA was deleted");
        }
        byte[] secret = entry.DeriveIppmSecret();
        try
        {
            return new Rfc7717Lookup(new Rfc7717Secret(spiI, spiR, secret, derivation), entry.PeerIdentity, null);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secret);
        }
    };

    /// <summary>The client side: S of an SA this process holds, ready for the KeyID and the Token key.</summary>
    public static Rfc7717Secret ForClient(IkeSaEntry entry, Rfc7717KeyDerivation derivation)
    {
        byte[] secret = entry.DeriveIppmSecret();
        try
        {
            return new Rfc7717Secret(entry.SpiI, entry.SpiR, secret, derivation) { PeerIdentity = entry.PeerIdentity };
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secret);
        }
    }
}
