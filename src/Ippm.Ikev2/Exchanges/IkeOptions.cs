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

/// <summary>Retransmission: the requester resends identical octets after Initial, 2×Initial, … and gives up after <see cref="Tries"/> sends.</summary>
public sealed record RetransmitPolicy(TimeSpan Initial, int Tries)
{
    public static RetransmitPolicy Default { get; } = new(TimeSpan.FromMilliseconds(500), 6);
}

public sealed record IkeInitiatorOptions
{
    public required IkeCredentials Credentials { get; init; }
    public IReadOnlyList<IkeProposalSpec> Proposals { get; init; } = IkeProposalSpec.Default;
    public IdPayload? LocalId { get; init; }

    /// <summary>When set, sent as IDr and required of the responder.</summary>
    public IdPayload? RemoteId { get; init; }
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

    /// <summary>Workers handling datagrams (Diffie-Hellman, AUTH) off the receive loop, round-robin by source.</summary>
    public int Workers { get; init; } = Math.Clamp(Environment.ProcessorCount, 1, 4);
}

/// <summary>The peer refused (an error notify) or failed authentication.</summary>
public sealed class IkeRefusedException(NotifyType notify, string message) : Exception(message)
{
    public NotifyType Notify { get; } = notify;
}

/// <summary>The peer did not answer within the retransmission budget.</summary>
public sealed class IkeTimeoutException(string message) : Exception(message);
