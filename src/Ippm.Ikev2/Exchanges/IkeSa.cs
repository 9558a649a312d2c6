using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Security.Cryptography;
using Ippm.Ikev2.Crypto;
using Ippm.Ikev2.Messages;
using Ippm.Ikev2.SaDatabase;

namespace Ippm.Ikev2.Exchanges;

/// <summary>
/// An established IKE SA: keys, SK protection per direction, and the two message-ID windows (size 1,
/// RFC 7296 §2.3): our next request ID, and the peer's last request ID with the cached response that is
/// resent, unprocessed, when that request arrives again.
/// </summary>
internal sealed class IkeSa : IDisposable
{
    private readonly SkProtection _outbound;
    private readonly SkProtection _inbound;

    public IkeSa(ulong spiI, ulong spiR, bool originalInitiator, IkeSuite suite, IkeKeys keys, IPEndPoint peer, string peerIdentity, uint nextRequestId, long lastPeerRequestId)
    {
        SpiI = spiI;
        SpiR = spiR;
        IsOriginalInitiator = originalInitiator;
        Suite = suite;
        Keys = keys;
        Peer = peer;
        PeerIdentity = peerIdentity;
        NextRequestId = nextRequestId;
        LastPeerRequestId = lastPeerRequestId;
        _outbound = originalInitiator ? new SkProtection(suite, keys.SkEi, keys.SkAi) : new SkProtection(suite, keys.SkEr, keys.SkAr);
        _inbound = originalInitiator ? new SkProtection(suite, keys.SkEr, keys.SkAr) : new SkProtection(suite, keys.SkEi, keys.SkAi);
    }

    public ulong SpiI { get; }
    public ulong SpiR { get; }
    public bool IsOriginalInitiator { get; }
    public IkeSuite Suite { get; }
    public IkeKeys Keys { get; }
    public IPEndPoint Peer { get; set; }
    public string PeerIdentity { get; set; }
    public uint NextRequestId { get; set; }
    public long LastPeerRequestId { get; set; }
    public byte[]? LastResponse { get; set; }
    public bool Deleted { get; set; }

    /// <summary>The responder's establishment order (IKE_AUTH or rekey), oldest first, for its per-identity cap.</summary>
    internal long EstablishedOrder { get; set; }

    public string SpiIText => IkeHeader.FormatSpi(SpiI);
    public string SpiRText => IkeHeader.FormatSpi(SpiR);

    public IkeSaEntry ToEntry() => new(SpiI, SpiR, Suite, Keys.SkD, PeerIdentity, Peer, IsOriginalInitiator ? IkeSaRole.Initiator : IkeSaRole.Responder);

    public byte[] Seal(ExchangeType exchange, bool response, uint messageId, IReadOnlyList<OutgoingPayload> inner)
    {
        IkeFlags flags = (IsOriginalInitiator ? IkeFlags.Initiator : IkeFlags.None) | (response ? IkeFlags.Response : IkeFlags.None);
        return _outbound.Seal(new IkeHeader(SpiI, SpiR, PayloadType.Encrypted, exchange, flags, messageId, 0), inner);
    }

    public List<RawPayload>? Open(IkeMessage message) => message.OpenEncrypted(_inbound);

    /// <summary>Builds our next request (consuming a message ID).</summary>
    public (uint MessageId, byte[] Octets) NextRequest(ExchangeType exchange, IReadOnlyList<OutgoingPayload> inner)
    {
        uint id = NextRequestId++;
        return (id, Seal(exchange, false, id, inner));
    }

    /// <summary>True when <paramref name="message"/> comes from the peer's side of this SA (its I flag is the peer's role).</summary>
    public bool IsFromPeer(IkeMessage message) => message.Header.IsFromOriginalInitiator != IsOriginalInitiator;

    /// <summary>
    /// Handles a request from the peer on this SA. Returns the octets to send back, or null to drop.
    /// <paramref name="rekeyed"/> receives the new SA when the peer rekeyed this IKE SA (RFC 7296 §1.3.2).
    /// </summary>
    public byte[]? HandleRequest(IkeMessage message, IReadOnlyList<IkeProposalSpec> proposals, out IkeSa? rekeyed, out string? dropReason)
    {
        rekeyed = null;
        dropReason = null;
        uint id = message.Header.MessageId;
        if (id == LastPeerRequestId && LastResponse is not null)
        {
            return LastResponse; // retransmitted request: resend the cached response without processing it again
        }
        if (id != LastPeerRequestId + 1)
        {
            dropReason = $"message ID {id} outside the window (expected {LastPeerRequestId + 1})";
            return null;
        }
        List<RawPayload>? inner = Open(message);
        if (inner is null)
        {
            dropReason = "SK payload missing, malformed or failed its integrity check";
            return null;
        }
        var reply = new List<OutgoingPayload>();
        if (inner.UnknownCritical() is RawPayload unknown)
        {
            reply.Add(new NotifyPayload(NotifyType.UnsupportedCriticalPayload, [(byte)unknown.Type]).ToOutgoing());
        }
        else if (message.Header.Exchange == ExchangeType.Informational)
        {
            foreach (RawPayload p in inner)
            {
                if (p.Type == PayloadType.Delete && DeletePayload.TryRead(p.Body.Span, out DeletePayload? d) == OperationStatus.Done && d!.Protocol == ProtocolId.Ike)
                {
                    Deleted = true;
                }
                else if (p.Type == PayloadType.Notify && NotifyPayload.TryRead(p.Body.Span, out NotifyPayload? n) == OperationStatus.Done && n!.Type == NotifyType.AuthenticationFailed)
                {
                    // RFC 7296 §2.21.2: the initiator refused our AUTH or identity and abandons the SA; nothing may be keyed from it.
                    Deleted = true;
                }
            }
        }
        else if (message.Header.Exchange == ExchangeType.CreateChildSa)
        {
            rekeyed = TryRekey(inner, proposals, reply);
        }
        else
        {
            dropReason = $"unexpected {message.Header.Exchange} request on an established SA";
            return null;
        }
        byte[] response = Seal(message.Header.Exchange, true, id, reply);
        LastPeerRequestId = id;
        LastResponse = response;
        return response;
    }

    /// <summary>RFC 7296 §1.3.2 / §2.18: the peer rekeys the IKE SA; we answer as the new SA's responder. Child SAs are refused.</summary>
    private IkeSa? TryRekey(List<RawPayload> inner, IReadOnlyList<IkeProposalSpec> proposals, List<OutgoingPayload> reply)
    {
        if (inner.First(PayloadType.SecurityAssociation) is not RawPayload saRaw || SaPayload.TryRead(saRaw.Body.Span, out SaPayload? sa) != OperationStatus.Done
            || sa!.Proposals.Count == 0 || sa.Proposals[0].Protocol != ProtocolId.Ike)
        {
            reply.Add(new NotifyPayload(NotifyType.NoAdditionalSas).ToOutgoing());
            return null;
        }
        if (inner.First(PayloadType.Nonce) is not RawPayload nonce || nonce.Body.Length is < 16 or > 256
            || inner.First(PayloadType.KeyExchange) is not RawPayload keRaw || KePayload.TryRead(keRaw.Body.Span, out KePayload? ke) != OperationStatus.Done)
        {
            reply.Add(new NotifyPayload(NotifyType.InvalidSyntax).ToOutgoing());
            return null;
        }
        (Proposal Peer, IkeSuite Suite)? chosen = null;
        DhGroup fallback = DhGroup.None;
        foreach (Proposal p in sa.Proposals.Where(p => p.Spi.Length == 8))
        {
            foreach (IkeProposalSpec spec in proposals)
            {
                if (spec.TryMatch(p, ke!.Group) is IkeSuite s)
                {
                    chosen ??= (p, s);
                }
                else if (fallback == DhGroup.None && spec.TryMatch(p) is IkeSuite other)
                {
                    fallback = other.Group;
                }
            }
        }
        if (chosen is null)
        {
            reply.Add(fallback != DhGroup.None
                ? new NotifyPayload(NotifyType.InvalidKePayload, BigEndian((ushort)fallback)).ToOutgoing()
                : new NotifyPayload(NotifyType.NoProposalChosen).ToOutgoing());
            return null;
        }
        using KeyExchange exchange = KeyExchange.Create(chosen.Value.Suite.Group);
        byte[]? shared = exchange.TryDeriveSharedSecret(ke!.Data);
        if (shared is null)
        {
            reply.Add(new NotifyPayload(NotifyType.InvalidSyntax).ToOutgoing());
            return null;
        }
        byte[] ni = nonce.Body.ToArray();
        byte[] nr = RandomNumberGenerator.GetBytes(32);
        ulong newSpiI = BinaryPrimitives.ReadUInt64BigEndian(chosen.Value.Peer.Spi);
        ulong newSpiR = IkeResponder.NewSpi();
        byte[] skeyseed = IkeKeys.ComputeRekeySkeyseed(Suite.Prf, Keys.SkD, shared, ni, nr);
        IkeKeys keys = IkeKeys.Derive(chosen.Value.Suite, skeyseed, ni, nr, newSpiI, newSpiR);
        CryptographicOperations.ZeroMemory(skeyseed);
        CryptographicOperations.ZeroMemory(shared);
        byte[] spiR = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(spiR, newSpiR);
        reply.Add(new OutgoingPayload(PayloadType.SecurityAssociation, new SaPayload([chosen.Value.Suite.ToProposal(chosen.Value.Peer.Number, spiR)]).Encode()));
        reply.Add(new OutgoingPayload(PayloadType.Nonce, nr));
        reply.Add(new OutgoingPayload(PayloadType.KeyExchange, new KePayload(chosen.Value.Suite.Group, exchange.PublicKey).Encode()));
        // The peer started the rekey, so it is the new SA's original initiator; message IDs restart at 0.
        return new IkeSa(newSpiI, newSpiR, false, chosen.Value.Suite, keys, Peer, PeerIdentity, 0, -1);
    }

    internal static byte[] BigEndian(ushort value)
    {
        byte[] b = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(b, value);
        return b;
    }

    /// <summary>Disposes the ciphers only; the keys belong to someone else (a half-open SA that may still complete).</summary>
    public void DisposeProtection()
    {
        _outbound.Dispose();
        _inbound.Dispose();
    }

    public void Dispose()
    {
        _outbound.Dispose();
        _inbound.Dispose();
        Keys.Dispose();
    }
}

/// <summary>NAT_DETECTION_*_IP data: SHA-1(SPIi | SPIr | IP | port) (RFC 7296 §2.23).</summary>
internal static class NatDetection
{
    public static byte[] Hash(ulong spiI, ulong spiR, IPEndPoint endPoint)
    {
        IPAddress address = endPoint.Address.IsIPv4MappedToIPv6 ? endPoint.Address.MapToIPv4() : endPoint.Address;
        byte[] ip = address.GetAddressBytes();
        byte[] data = new byte[16 + ip.Length + 2];
        BinaryPrimitives.WriteUInt64BigEndian(data, spiI);
        BinaryPrimitives.WriteUInt64BigEndian(data.AsSpan(8), spiR);
        ip.CopyTo(data, 16);
        BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(16 + ip.Length), (ushort)endPoint.Port);
        return SHA1.HashData(data);
    }
}
