namespace Ippm.Ikev2.Exchanges;

/// <summary>
/// How an IKE SA set-up attempt at the responder ended (<see cref="IkeResponder.SetupFinished"/>). A small fixed set,
/// so a metrics label built from it stays bounded.
/// </summary>
public enum IkeSetupOutcome
{
    /// <summary>IKE_AUTH succeeded: a new SA.</summary>
    Established,

    /// <summary>An existing SA was rekeyed into a new one (CREATE_CHILD_SA, RFC 7296 §2.18).</summary>
    Rekeyed,

    /// <summary>IKE_AUTH refused with AUTHENTICATION_FAILED: wrong PSK, bad signature, untrusted or revoked certificate.</summary>
    AuthenticationFailed,

    /// <summary>Authenticated, but the identity is not admitted (<c>--ike-allow</c>, or not the configured remote ID).</summary>
    IdentityRefused,

    /// <summary>IKE_SA_INIT answered with NO_PROPOSAL_CHOSEN: no acceptable transforms.</summary>
    NoProposalChosen,

    /// <summary>IKE_SA_INIT answered with INVALID_KE_PAYLOAD (RFC 7296 §1.3): the initiator guessed another DH group and may retry.</summary>
    InvalidKe,

    /// <summary>IKE_SA_INIT or IKE_AUTH answered with INVALID_SYNTAX or UNSUPPORTED_CRITICAL_PAYLOAD.</summary>
    InvalidSyntax,

    /// <summary>A half-open SA whose IKE_AUTH never came (or never verified) within the half-open lifetime.</summary>
    Abandoned,
}

public static class IkeSetupOutcomes
{
    /// <summary>The outcome as a metrics label value (snake case).</summary>
    public static string Label(this IkeSetupOutcome outcome) => outcome switch
    {
        IkeSetupOutcome.Established => "established",
        IkeSetupOutcome.Rekeyed => "rekeyed",
        IkeSetupOutcome.AuthenticationFailed => "authentication_failed",
        IkeSetupOutcome.IdentityRefused => "identity_refused",
        IkeSetupOutcome.NoProposalChosen => "no_proposal_chosen",
        IkeSetupOutcome.InvalidKe => "invalid_ke",
        IkeSetupOutcome.InvalidSyntax => "invalid_syntax",
        IkeSetupOutcome.Abandoned => "abandoned",
        _ => "other",
    };
}
