using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Ippm.Ikev2.Crypto;
using Ippm.Ikev2.Crypto.Modp;
using Ippm.Ikev2.Fairness;
using Ippm.Ikev2.Messages;
using Ippm.Ikev2.SaDatabase;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ippm.Ikev2.Exchanges;

/// <summary>
/// IKEv2 responder for childless IKE SAs on one UDP socket. Bad datagrams are dropped (and logged) or answered
/// with the right notify; nothing a peer sends stops the loop. Established SAs go into the <see cref="IkeSaDatabase"/>.
/// The receive loop only queues datagrams; workers handle them (Diffie-Hellman, AUTH) from a
/// <see cref="FairWorkQueue{TSource, TItem}"/> served round-robin by source address, so a flooding source
/// gets its share of the work and no more. Half-open SAs are limited per source and in total, cookies are bound
/// to the initiator's address and port and good for one SA, and attack-driven log lines are aggregated.
/// </summary>
public sealed class IkeResponder : IAsyncDisposable
{
    private readonly IkeResponderOptions _options;
    private readonly IkeSaDatabase _database;
    private readonly ILogger _logger;
    private readonly Socket _socket;
    private readonly byte[] _cookieSecret = RandomNumberGenerator.GetBytes(32);
    private readonly ConcurrentDictionary<(ulong, ulong), HalfOpen> _halfOpen = new();
    private readonly ConcurrentDictionary<(ulong, ulong), IkeSa> _established = new();
    private readonly ConcurrentDictionary<string, DateTime> _usedCookies = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly FairWorkQueue<IPAddress, (byte[] Datagram, IPEndPoint Peer)> _work;
    private readonly AttackLog _attackLog;
    private Task? _loop;
    private Timer? _expiry;

    public IkeResponder(IkeResponderOptions options, IkeSaDatabase database, ILogger? logger = null)
    {
        _options = options;
        _database = database;
        _logger = logger ?? NullLogger.Instance;
        ModpEngine.LogIfUsed(_logger, options.Proposals.SelectMany(p => p.Groups));
        _socket = new Socket(options.Listen.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        if (options.Listen.AddressFamily == AddressFamily.InterNetworkV6)
        {
            _socket.DualMode = true;
        }
        _socket.Bind(options.Listen);
        LocalEndPoint = (IPEndPoint)_socket.LocalEndPoint!;
        _attackLog = new AttackLog(_logger);
        _work = new FairWorkQueue<IPAddress, (byte[], IPEndPoint)>(options.QueuePerSource, options.QueueTotal, options.Workers, ProcessAsync);
    }

    public IPEndPoint LocalEndPoint { get; }

    /// <summary>Raised for each IKE SA established (or rekeyed into) through this responder.</summary>
    public event Action<IkeSaEntry>? Established;

    /// <summary>
    /// Raised once for each set-up attempt the responder decided: established, rekeyed, refused (with the notify it
    /// sent) or abandoned half-open. COOKIE replies and dropped datagrams are not outcomes (see <see cref="CookieReplies"/>,
    /// <see cref="QueueDrops"/>, <see cref="DroppedCount"/>). Handlers run on a worker thread and must be quick.
    /// </summary>
    public event Action<IkeSetupOutcome>? SetupFinished;

    public int HalfOpenCount => _halfOpen.Count;
    public long DroppedCount => Interlocked.Read(ref _dropped);
    private long _dropped;

    /// <summary>COOKIE notifies sent.</summary>
    public long CookieReplies => _attackLog.Total(CookieKind);

    /// <summary>Datagrams dropped before handling because their source's share of the work queue (or the queue) was full.</summary>
    public long QueueDrops => _attackLog.Total(QueueFullKind);

    /// <summary>Diffie-Hellman computations done for IKE_SA_INIT.</summary>
    public long DiffieHellmanCount => Interlocked.Read(ref _diffieHellman);
    private long _diffieHellman;

    private const string CookieKind = "IKE cookie replies";
    private const string QueueFullKind = "IKE datagrams dropped (source's work queue full)";
    private const string DropKind = "IKE datagrams dropped";

    public static ulong NewSpi()
    {
        ulong spi;
        do
        {
            spi = BinaryPrimitives.ReadUInt64BigEndian(RandomNumberGenerator.GetBytes(8));
        }
        while (spi == 0);
        return spi;
    }

    public void Start()
    {
        if (_loop is not null)
        {
            return;
        }
        // Half-open SAs are also expired on a clock, so an abandoned set-up is forgotten (and counted) without new traffic.
        TimeSpan sweep = TimeSpan.FromTicks(Math.Clamp(_options.HalfOpenLifetime.Ticks / 2, TimeSpan.TicksPerMillisecond * 100, TimeSpan.TicksPerSecond * 10));
        _expiry = new Timer(_ => ExpireHalfOpen(), null, sweep, sweep);
        _loop = Task.Run(() => RunAsync(_stop.Token));
    }

    private void Finished(IkeSetupOutcome outcome) => SetupFinished?.Invoke(outcome);

    private async Task RunAsync(CancellationToken ct)
    {
        byte[] buffer = new byte[Transport.MaxDatagram];
        EndPoint any = new IPEndPoint(_options.Listen.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        while (!ct.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, any, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                continue; // e.g. ICMP errors reported on the socket
            }
            var peer = (IPEndPoint)received.RemoteEndPoint;
            byte[] datagram = Transport.Unframe(buffer.AsSpan(0, received.ReceivedBytes));
            IPAddress source = peer.Address.IsIPv4MappedToIPv6 ? peer.Address.MapToIPv4() : peer.Address;
            if (!_work.TryEnqueue(source, (datagram, peer)))
            {
                Interlocked.Increment(ref _dropped);
                _attackLog.Event(QueueFullKind, LogLevel.Warning, $"IKE: dropped a datagram from {peer}: its source's work queue is full");
            }
        }
    }

    private async ValueTask ProcessAsync((byte[] Datagram, IPEndPoint Peer) item, CancellationToken ct)
    {
        try
        {
            byte[]? reply = Handle(item.Datagram, item.Peer);
            if (reply is not null)
            {
                await _socket.SendToAsync(Transport.Frame(reply, item.Peer), SocketFlags.None, item.Peer, ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (ObjectDisposedException) when (ct.IsCancellationRequested)
        {
        }
        catch (SocketException)
        {
            // e.g. the peer's port is unreachable; nothing to do.
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A bug must not take the responder down for every other peer.
            Log.HandlerFailed(_logger, e, item.Peer);
        }
    }

    private byte[]? Drop(int length, IPEndPoint peer, string reason)
    {
        Interlocked.Increment(ref _dropped);
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            _attackLog.Event(DropKind, LogLevel.Debug, $"IKE: dropped a {length}-octet datagram from {peer}: {reason}");
        }
        return null;
    }

    /// <summary>Processes one datagram; returns the octets to send back, if any.</summary>
    internal byte[]? Handle(byte[] datagram, IPEndPoint peer)
    {
        if (IkeMessage.TryParse(datagram, out IkeMessage? message) != OperationStatus.Done)
        {
            return Drop(datagram.Length, peer, "malformed IKE message");
        }
        IkeHeader h = message!.Header;
        if (h.Exchange == ExchangeType.IkeSaInit && !h.IsResponse && h.SpiR == 0 && h.MessageId == 0 && h.IsFromOriginalInitiator)
        {
            // RFC 7296 §3.1: the initiator's SPI "MUST NOT be zero".
            return h.SpiI == 0 ? Drop(datagram.Length, peer, "IKE_SA_INIT with SPIi = 0") : HandleSaInit(message, peer);
        }
        if (_halfOpen.TryGetValue((h.SpiI, h.SpiR), out HalfOpen? half) && h.Exchange == ExchangeType.IkeAuth && !h.IsResponse && h.MessageId == 1)
        {
            return HandleAuth(half, message, peer);
        }
        if (_established.TryGetValue((h.SpiI, h.SpiR), out IkeSa? sa))
        {
            if (h.IsResponse || !sa.IsFromPeer(message))
            {
                return Drop(datagram.Length, peer, "response or wrong direction on an established SA");
            }
            byte[]? response = sa.HandleRequest(message, _options.Proposals, out IkeSa? rekeyed, out string? reason);
            if (response is null)
            {
                return Drop(datagram.Length, peer, reason ?? "dropped");
            }
            if (rekeyed is not null)
            {
                Admit(rekeyed);
                IkeSaEntry entry = rekeyed.ToEntry();
                _database.Add(entry);
                _database.MarkRekeyed(sa.SpiI, sa.SpiR, rekeyed.SpiI, rekeyed.SpiR);
                Log.Rekeyed(_logger, sa.SpiIText, sa.SpiRText, rekeyed.SpiIText, rekeyed.SpiRText);
                Established?.Invoke(entry);
                Finished(IkeSetupOutcome.Rekeyed);
            }
            if (sa.Deleted)
            {
                Log.DeletedByPeer(_logger, sa.SpiIText, sa.SpiRText);
                _database.MarkDeleted(sa.SpiI, sa.SpiR);
                // Keep the SA a little to answer a retransmitted Delete; the database keeps the keys.
                AfterGrace(() =>
                {
                    if (_established.TryRemove((sa.SpiI, sa.SpiR), out IkeSa? gone))
                    {
                        gone.Dispose();
                    }
                });
            }
            return response;
        }
        return Drop(datagram.Length, peer, $"no IKE SA {IkeHeader.FormatSpi(h.SpiI)}_i {IkeHeader.FormatSpi(h.SpiR)}_r for {h.Exchange}");
    }

    private byte[] InitNotify(IkeMessage request, IPEndPoint peer, NotifyType type, byte[]? data = null)
    {
        if (type == NotifyType.Cookie)
        {
            // A spoofing or flooding source drives these: one aggregate line per 10 s, not one per packet.
            _attackLog.Event(CookieKind, LogLevel.Information, $"IKE SA_INIT from {peer}: answered with COOKIE");
        }
        else
        {
            Log.InitNotify(_logger, peer, type.ToString());
            Finished(type switch
            {
                NotifyType.NoProposalChosen => IkeSetupOutcome.NoProposalChosen,
                NotifyType.InvalidKePayload => IkeSetupOutcome.InvalidKe,
                _ => IkeSetupOutcome.InvalidSyntax,
            });
        }
        return IkeMessage.Build(
            new IkeHeader(request.Header.SpiI, 0, PayloadType.None, ExchangeType.IkeSaInit, IkeFlags.Response, 0, 0),
            [new NotifyPayload(type, data).ToOutgoing()]);
    }

    private byte[] ComputeCookie(ReadOnlySpan<byte> ni, IPEndPoint peer, ulong spiI)
    {
        // RFC 7296 §2.6: Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>), here an HMAC keyed by the
        // secret. The initiator's UDP port is bound in too, so one cookie cannot be replayed from many source ports to
        // multiply the responder's Diffie-Hellman work (a NAT keeps the port between the two IKE_SA_INITs); and a
        // cookie is good for one half-open SA (_usedCookies).
        using IncrementalHash hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _cookieSecret);
        hmac.AppendData(ni);
        hmac.AppendData(peer.Address.GetAddressBytes());
        Span<byte> spi = stackalloc byte[10];
        BinaryPrimitives.WriteUInt64BigEndian(spi, spiI);
        BinaryPrimitives.WriteUInt16BigEndian(spi[8..], (ushort)peer.Port);
        hmac.AppendData(spi);
        byte[] mac = hmac.GetHashAndReset();
        return [1, .. mac.AsSpan(0, 16)];
    }

    private void ExpireHalfOpen()
    {
        DateTime limit = DateTime.UtcNow - _options.HalfOpenLifetime;
        foreach (KeyValuePair<(ulong, ulong), HalfOpen> pair in _halfOpen)
        {
            if (pair.Value.Created < limit && _halfOpen.TryRemove(pair.Key, out HalfOpen? old))
            {
                old.Dispose();
                Finished(IkeSetupOutcome.Abandoned);
            }
        }
        foreach (KeyValuePair<string, DateTime> used in _usedCookies)
        {
            if (used.Value < limit)
            {
                _usedCookies.TryRemove(used.Key, out _);
            }
        }
    }

    private byte[]? HandleSaInit(IkeMessage request, IPEndPoint peer)
    {
        ExpireHalfOpen();
        ulong spiI = request.Header.SpiI;
        IPAddress source = peer.Address.IsIPv4MappedToIPv6 ? peer.Address.MapToIPv4() : peer.Address;
        // A retransmitted IKE_SA_INIT gets the same answer, not a second SA.
        int fromSource = 0;
        foreach (HalfOpen h in _halfOpen.Values)
        {
            if (h.SpiI == spiI && h.Peer.Equals(peer) && h.Request.AsSpan().SequenceEqual(request.Octets))
            {
                return h.Response;
            }
            if (h.Source.Equals(source))
            {
                fromSource++;
            }
        }
        if (fromSource >= _options.MaxHalfOpenPerSource || _halfOpen.Count >= _options.MaxHalfOpen)
        {
            // No answer and no Diffie-Hellman: the source (or everyone) already holds all it may; half-open SAs expire.
            return Drop(request.Octets.Length, peer, $"half-open limit ({fromSource} from this source, {_halfOpen.Count} in all)");
        }
        List<RawPayload> payloads = request.Payloads;
        if (payloads.UnknownCritical() is RawPayload unknown)
        {
            return InitNotify(request, peer, NotifyType.UnsupportedCriticalPayload, [(byte)unknown.Type]);
        }
        if (payloads.First(PayloadType.SecurityAssociation) is not RawPayload saRaw || SaPayload.TryRead(saRaw.Body.Span, out SaPayload? sa) != OperationStatus.Done
            || payloads.First(PayloadType.KeyExchange) is not RawPayload keRaw || KePayload.TryRead(keRaw.Body.Span, out KePayload? ke) != OperationStatus.Done
            || payloads.First(PayloadType.Nonce) is not RawPayload nonce || nonce.Body.Length is < 16 or > 256)
        {
            return InitNotify(request, peer, NotifyType.InvalidSyntax);
        }
        List<NotifyPayload> notifies = payloads.Notifies();
        string? cookieUsed = null;
        if (_halfOpen.Count >= _options.CookieThreshold || fromSource >= _options.CookieThresholdPerSource)
        {
            byte[] expected = ComputeCookie(nonce.Body.Span, peer, spiI);
            bool valid = payloads[0].Type == PayloadType.Notify && notifies.Count > 0 && notifies[0].Type == NotifyType.Cookie
                && CryptographicOperations.FixedTimeEquals(notifies[0].Data, expected);
            if (!valid)
            {
                return InitNotify(request, peer, NotifyType.Cookie, expected);
            }
            cookieUsed = Convert.ToHexString(expected);
            if (_usedCookies.ContainsKey(cookieUsed))
            {
                // The exact request again was answered above as a retransmission; anything else reusing it is a replay.
                return Drop(request.Octets.Length, peer, "COOKIE already used for a half-open SA");
            }
        }
        (Proposal Peer, IkeSuite Suite)? chosen = null;
        DhGroup wanted = DhGroup.None;
        foreach (Proposal p in sa!.Proposals)
        {
            foreach (IkeProposalSpec spec in _options.Proposals)
            {
                if (chosen is null && spec.TryMatch(p, ke!.Group) is IkeSuite s)
                {
                    chosen = (p, s);
                }
                else if (wanted == DhGroup.None && spec.TryMatch(p) is IkeSuite other)
                {
                    wanted = other.Group;
                }
            }
        }
        if (chosen is null)
        {
            return wanted != DhGroup.None
                ? InitNotify(request, peer, NotifyType.InvalidKePayload, IkeSa.BigEndian((ushort)wanted))
                : InitNotify(request, peer, NotifyType.NoProposalChosen);
        }
        IkeSuite suite = chosen.Value.Suite;
        Interlocked.Increment(ref _diffieHellman);
        using KeyExchange exchange = KeyExchange.Create(suite.Group);
        byte[]? shared = exchange.TryDeriveSharedSecret(ke!.Data);
        if (shared is null)
        {
            return InitNotify(request, peer, NotifyType.InvalidSyntax);
        }
        ulong spiR = NewSpi();
        byte[] ni = nonce.Body.ToArray();
        byte[] nr = RandomNumberGenerator.GetBytes(32);
        var response = new List<OutgoingPayload>
        {
            new(PayloadType.SecurityAssociation, new SaPayload([suite.ToProposal(chosen.Value.Peer.Number)]).Encode()),
            new(PayloadType.KeyExchange, new KePayload(suite.Group, exchange.PublicKey).Encode()),
            new(PayloadType.Nonce, nr),
        };
        if (!LocalEndPoint.Address.Equals(IPAddress.Any) && !LocalEndPoint.Address.Equals(IPAddress.IPv6Any))
        {
            // Without knowing our own address we send no NAT detection, so the peer cannot misdetect a NAT.
            response.Add(new NotifyPayload(NotifyType.NatDetectionSourceIp, NatDetection.Hash(spiI, spiR, LocalEndPoint)).ToOutgoing());
            response.Add(new NotifyPayload(NotifyType.NatDetectionDestinationIp, NatDetection.Hash(spiI, spiR, peer)).ToOutgoing());
        }
        if (_options.Credentials.TrustedCas.Count > 0)
        {
            response.Add(new OutgoingPayload(PayloadType.CertificateRequest, new CertPayload(CertEncoding.X509Signature, IkeAuthentication.CertificateRequestData(_options.Credentials.TrustedCas)).Encode()));
        }
        response.Add(new NotifyPayload(NotifyType.ChildlessIkev2Supported).ToOutgoing());
        if (_options.Credentials.UsesCertificate)
        {
            response.Add(new NotifyPayload(NotifyType.SignatureHashAlgorithms, [0, 2, 0, 3, 0, 4]).ToOutgoing());
        }
        byte[] octets = IkeMessage.Build(new IkeHeader(spiI, spiR, PayloadType.None, ExchangeType.IkeSaInit, IkeFlags.Response, 0, 0), response);
        byte[] skeyseed = IkeKeys.ComputeSkeyseed(suite.Prf, ni, nr, shared);
        IkeKeys keys = IkeKeys.Derive(suite, skeyseed, ni, nr, spiI, spiR);
        CryptographicOperations.ZeroMemory(skeyseed);
        CryptographicOperations.ZeroMemory(shared);
        if (cookieUsed is not null)
        {
            // Marked only now: a refusal (INVALID_KE_PAYLOAD, NO_PROPOSAL_CHOSEN) leaves the cookie good for the retry.
            _usedCookies[cookieUsed] = DateTime.UtcNow;
        }
        _halfOpen[(spiI, spiR)] = new HalfOpen(spiI, spiR, peer, source, suite, keys, ni, request.Octets, octets);
        return octets;
    }

    private byte[]? HandleAuth(HalfOpen half, IkeMessage request, IPEndPoint peer)
    {
        var sa = new IkeSa(half.SpiI, half.SpiR, false, half.Suite, half.Keys, peer, "", 0, 0);
        List<RawPayload>? inner = sa.Open(request);
        if (inner is null)
        {
            sa.DisposeProtection();
            return Drop(request.Octets.Length, peer, "IKE_AUTH SK payload malformed or failed its integrity check");
        }
        if (!_halfOpen.TryRemove((half.SpiI, half.SpiR), out _))
        {
            // The half-open SA expired (and was counted abandoned, its keys zeroed) while this request was checked.
            sa.DisposeProtection();
            return Drop(request.Octets.Length, peer, "IKE_AUTH for a half-open SA that just expired");
        }
        string? failure = null;
        NotifyType notify = NotifyType.AuthenticationFailed;
        IkeSetupOutcome outcome = IkeSetupOutcome.AuthenticationFailed;
        IdPayload? idi = null;
        if (inner.UnknownCritical() is RawPayload unknown)
        {
            failure = $"unknown critical payload {(byte)unknown.Type}";
            notify = NotifyType.UnsupportedCriticalPayload;
            outcome = IkeSetupOutcome.InvalidSyntax;
        }
        else if (inner.First(PayloadType.IdInitiator) is not RawPayload idRaw || IdPayload.TryRead(idRaw.Body.Span, out idi) != OperationStatus.Done
            || inner.First(PayloadType.Authentication) is not RawPayload authRaw || AuthPayload.TryRead(authRaw.Body.Span, out AuthPayload? auth) != OperationStatus.Done)
        {
            failure = "IKE_AUTH request lacks IDi or AUTH";
            notify = NotifyType.InvalidSyntax;
            outcome = IkeSetupOutcome.InvalidSyntax;
        }
        else if (_options.RemoteId is IdPayload expectedId && !IkeIdentity.AreEqual(expectedId, idi!))
        {
            failure = $"initiator identity '{IkeIdentity.Format(idi!)}' is not the configured one";
            outcome = IkeSetupOutcome.IdentityRefused;
        }
        else
        {
            byte[] octets = IkeAuthentication.SignedOctets(half.Suite.Prf, half.Request, half.Nr, half.Keys.SkPi, idRaw.Body.ToArray());
            failure = Verifier.Check(_options.Credentials, inner, idi!, auth!, octets, half.Suite.Prf, out Identity.IkePeerIdentity? initiator);
            if (failure is null && _options.AllowedPeers?.Refusal(initiator!) is string refused)
            {
                // Authenticated, but not admitted: the peer gets AUTHENTICATION_FAILED all the same (RFC 7296 §2.21.2).
                failure = refused;
                outcome = IkeSetupOutcome.IdentityRefused;
            }
        }
        sa.LastPeerRequestId = 1;
        sa.NextRequestId = 0;
        if (failure is not null)
        {
            Log.Refused(_logger, sa.SpiIText, sa.SpiRText, peer, notify.ToString(), failure);
            byte[] refusal = sa.Seal(ExchangeType.IkeAuth, true, 1, [new NotifyPayload(notify).ToOutgoing()]);
            sa.Dispose();
            Finished(outcome);
            return refusal;
        }
        IkeCredentials credentials = _options.Credentials;
        IdPayload idr = _options.LocalId ?? (credentials.Certificate is X509Certificate2 own ? IkeIdentity.FromCertificate(own) : IkeIdentity.FromAddress(LocalEndPoint.Address.Equals(IPAddress.Any) || LocalEndPoint.Address.Equals(IPAddress.IPv6Any) ? IPAddress.Loopback : LocalEndPoint.Address));
        byte[] idrBody = idr.Encode();
        byte[] signed = IkeAuthentication.SignedOctets(half.Suite.Prf, half.Response, half.Ni, half.Keys.SkPr, idrBody);
        var reply = new List<OutgoingPayload> { new(PayloadType.IdResponder, idrBody) };
        AuthPayload ours;
        if (credentials.Certificate is X509Certificate2 cert)
        {
            reply.Add(new OutgoingPayload(PayloadType.Certificate, new CertPayload(CertEncoding.X509Signature, cert.RawData).Encode()));
            reply.AddRange(credentials.Intermediates.Select(c => new OutgoingPayload(PayloadType.Certificate, new CertPayload(CertEncoding.X509Signature, c.RawData).Encode())));
            ours = new AuthPayload(AuthMethod.DigitalSignature, IkeAuthentication.Sign(cert, signed, credentials.RsaPss));
        }
        else
        {
            ours = new AuthPayload(AuthMethod.SharedKey, IkeAuthentication.SharedKeyAuth(half.Suite.Prf, credentials.PreSharedKey!, signed));
        }
        reply.Add(new OutgoingPayload(PayloadType.Authentication, ours.Encode()));
        if (inner.First(PayloadType.SecurityAssociation) is not null)
        {
            // Childless only (RFC 6023): a Child SA request fails, the IKE SA stands (RFC 7296 §1.2).
            reply.Add(new NotifyPayload(NotifyType.NoProposalChosen).ToOutgoing());
        }
        byte[] response = sa.Seal(ExchangeType.IkeAuth, true, 1, reply);
        sa.LastResponse = response;
        sa.PeerIdentity = IkeIdentity.Format(idi!);
        Admit(sa);
        IkeSaEntry entry = sa.ToEntry();
        _database.Add(entry);
        Log.Established(_logger, sa.SpiIText, sa.SpiRText, peer, sa.PeerIdentity, sa.Suite.ToString(), "responder");
        Established?.Invoke(entry);
        Finished(IkeSetupOutcome.Established);
        return response;
    }

    /// <summary>
    /// Adds an established (or rekeyed) SA, forgetting its identity's oldest beyond <see cref="IkeResponderOptions.MaxSasPerIdentity"/>:
    /// removed at once (no new request finds it), its keys marked deleted, disposed after the grace a Delete gets.
    /// </summary>
    private void Admit(IkeSa sa)
    {
        sa.EstablishedOrder = Interlocked.Increment(ref _establishedCount);
        _established[(sa.SpiI, sa.SpiR)] = sa;
        IkeSa[] same = [.. _established.Values.Where(s => s.PeerIdentity == sa.PeerIdentity).OrderBy(s => s.EstablishedOrder)];
        for (int i = 0; i < same.Length - Math.Max(1, _options.MaxSasPerIdentity); i++)
        {
            IkeSa old = same[i];
            if (_established.TryRemove((old.SpiI, old.SpiR), out _))
            {
                _database.MarkDeleted(old.SpiI, old.SpiR);
                Log.ForgottenOverCap(_logger, old.SpiIText, old.SpiRText, old.PeerIdentity, same.Length - 1 - i);
                AfterGrace(old.Dispose);
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="action"/> 10 s from now, or at shutdown: a worker may still be handling a request on an SA
    /// that has just left the table, so it is disposed only after that.
    /// </summary>
    private void AfterGrace(Action action) =>
        _ = Task.Delay(TimeSpan.FromSeconds(10), _stop.Token).ContinueWith(_ => action(), TaskScheduler.Default);

    private long _establishedCount;

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_expiry is not null)
        {
            await _expiry.DisposeAsync().ConfigureAwait(false);
        }
        _socket.Dispose();
        if (_loop is not null)
        {
            try
            {
                await _loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
        await _work.DisposeAsync().ConfigureAwait(false);
        _attackLog.Dispose();
        foreach (HalfOpen h in _halfOpen.Values)
        {
            h.Dispose();
        }
        foreach (IkeSa sa in _established.Values)
        {
            sa.Dispose();
        }
        _halfOpen.Clear();
        _established.Clear();
        CryptographicOperations.ZeroMemory(_cookieSecret);
        _stop.Dispose();
    }

    private sealed record HalfOpen(ulong SpiI, ulong SpiR, IPEndPoint Peer, IPAddress Source, IkeSuite Suite, IkeKeys Keys, byte[] Ni, byte[] Request, byte[] Response) : IDisposable
    {
        public DateTime Created { get; } = DateTime.UtcNow;

        public byte[] Nr { get; } = ReadNr(Response);

        private static byte[] ReadNr(byte[] response)
        {
            _ = IkeMessage.TryParse(response, out IkeMessage? m);
            return m!.Payloads.First(PayloadType.Nonce)!.Value.Body.ToArray();
        }

        public void Dispose() => Keys.Dispose();
    }
}
