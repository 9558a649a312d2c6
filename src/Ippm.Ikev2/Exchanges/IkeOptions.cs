using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Ippm.Ikev2.Crypto;
using Ippm.Ikev2.Messages;

namespace Ippm.Ikev2.Exchanges;

/// <summary>How this end authenticates and what it trusts: a PSK (method 2) or a certificate with its private key plus CA certificates (method 14).</summary>
public sealed class IkeCredentials : IDisposable
{
    public byte[]? PreSharedKey { get; init; }
    public X509Certificate2? Certificate { get; init; }
    public X509Certificate2Collection TrustedCas { get; init; } = [];

    /// <summary>Intermediate CA certificates sent after our own in CERT payloads, so the peer can build the chain.</summary>
    public X509Certificate2Collection Intermediates { get; init; } = [];

    /// <summary>CRLs the peer's certificate chain is checked against (<c>--ike-crl</c>).</summary>
    public IReadOnlyList<Identity.IkeCrl> Crls { get; init; } = [];

    /// <summary>Sign with RSASSA-PSS instead of PKCS#1 v1.5 (RSA keys only).</summary>
    public bool RsaPss { get; init; }

    public bool UsesCertificate => Certificate is not null;

    public void Dispose()
    {
        if (PreSharedKey is not null)
        {
            CryptographicOperations.ZeroMemory(PreSharedKey);
        }
    }
}

/// <summary>
/// Retransmission: the requester resends identical octets after waiting Initial, 2×Initial, 4×Initial, … and gives
/// up after <see cref="Tries"/> sends or, when <see cref="Budget"/> is set, once that much time has passed since the
/// first send, whichever comes first (the last wait is cut short to end at the budget).
/// </summary>
public sealed record RetransmitPolicy(TimeSpan Initial, int Tries)
{
    /// <summary>Total time from the first send until giving up; null: the sum of the waits.</summary>
    public TimeSpan? Budget { get; init; }

    /// <summary>The clock the waits and the budget are measured on (a fake one in tests).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>16 s: sends at 0, 0.5, 1.5, 3.5, 7.5 and 15.5 s, giving up at 16 s.</summary>
    public static RetransmitPolicy Default { get; } = WithinBudget(TimeSpan.FromSeconds(16));

    /// <summary>Resends after 0.5, 1, 2, … s while time remains; gives up exactly at <paramref name="budget"/>.</summary>
    public static RetransmitPolicy WithinBudget(TimeSpan budget)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(budget, TimeSpan.Zero);
        TimeSpan initial = TimeSpan.FromMilliseconds(500);
        int tries = 1;
        for (TimeSpan sent = initial; sent < budget; sent += initial * (1 << tries), tries++)
        {
        }
        return new RetransmitPolicy(initial, tries) { Budget = budget };
    }
}

public sealed record IkeInitiatorOptions
{
    public required IkeCredentials Credentials { get; init; }
    public IReadOnlyList<IkeProposalSpec> Proposals { get; init; } = IkeProposalSpec.Default;
    public IdPayload? LocalId { get; init; }

    /// <summary>When set, sent as IDr and required of the responder.</summary>
    public IdPayload? RemoteId { get; init; }

    /// <summary>
    /// Who the responder must be (not sent): its IDr or a name in its verified certificate must match, else the SA
    /// is abandoned with <see cref="IkePeerIdentityMismatchException"/> before any key is used.
    /// </summary>
    public Identity.IkeIdentityPattern? ExpectedPeer { get; init; }
    public RetransmitPolicy Retransmit { get; init; } = RetransmitPolicy.Default;
}

public sealed record IkeResponderOptions
{
    public required System.Net.IPEndPoint Listen { get; init; }
    public required IkeCredentials Credentials { get; init; }
    public IReadOnlyList<IkeProposalSpec> Proposals { get; init; } = IkeProposalSpec.Default;
    public IdPayload? LocalId { get; init; }

    /// <summary>When set, only this initiator identity is accepted.</summary>
    public IdPayload? RemoteId { get; init; }

    /// <summary>Which authenticated initiators may set up SAs; others get AUTHENTICATION_FAILED. Null: any.</summary>
    public Identity.IkePeerPolicy? AllowedPeers { get; init; }

    /// <summary>Above this many half-open SAs, IKE_SA_INIT without a valid COOKIE is answered with a COOKIE (RFC 7296 §2.6).</summary>
    public int CookieThreshold { get; init; } = 64;

    /// <summary>Half-open SAs older than this are forgotten.</summary>
    public TimeSpan HalfOpenLifetime { get; init; } = TimeSpan.FromSeconds(30);
    public RetransmitPolicy Retransmit { get; init; } = RetransmitPolicy.Default;

    /// <summary>From this many half-open SAs of one source address on, that source must return a COOKIE.</summary>
    public int CookieThresholdPerSource { get; init; } = 4;

    /// <summary>Half-open SAs one source address may hold; further IKE_SA_INITs from it are dropped (no Diffie-Hellman).</summary>
    public int MaxHalfOpenPerSource { get; init; } = 16;

    /// <summary>Half-open SAs of all sources; further IKE_SA_INITs are dropped.</summary>
    public int MaxHalfOpen { get; init; } = 1024;

    /// <summary>Datagrams one source address may have waiting for a worker; more are dropped.</summary>
    public int QueuePerSource { get; init; } = 8;

    /// <summary>Datagrams all sources may have waiting for a worker.</summary>
    public int QueueTotal { get; init; } = 512;

    /// <summary>
    /// Established IKE SAs one peer identity may hold (rekeyed ones included: a peer that rekeys and never deletes the
    /// old SA, or one that connects again and again, would otherwise grow the table without bound). When another
    /// completes, the oldest is forgotten and its keys marked deleted.
    /// </summary>
    public int MaxSasPerIdentity { get; init; } = 16;

    /// <summary>Workers handling datagrams (Diffie-Hellman, AUTH) off the receive loop, round-robin by source.</summary>
    public int Workers { get; init; } = Math.Clamp(Environment.ProcessorCount, 1, 4);
}

/// <summary>The peer refused (an error notify) or failed authentication.</summary>
public class IkeRefusedException(NotifyType notify, string message) : Exception(message)
{
    public NotifyType Notify { get; } = notify;
}

/// <summary>The responder authenticated, but as someone other than the one expected (RFC 7296 §2.15 leaves this check to policy).</summary>
public sealed class IkePeerIdentityMismatchException(string expected, string actual)
    : IkeRefusedException(NotifyType.AuthenticationFailed, $"the responder is '{actual}', not the expected '{expected}'.")
{
    public string Expected { get; } = expected;
    public string Actual { get; } = actual;
}

/// <summary>The peer did not answer within the retransmission budget.</summary>
public sealed class IkeTimeoutException(string message) : Exception(message);
