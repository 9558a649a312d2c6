namespace Ippm.Cli;

/// <summary>Process exit codes, documented in README.md.</summary>
internal static class ExitCodes
{
    public const int Success = 0;

    /// <summary>Bad command line or unreadable configuration (System.CommandLine also uses 1 for parse errors).</summary>
    public const int Usage = 1;

    /// <summary>The server refused (Accept ≠ 0, no common mode, wrong passphrase) or broke the protocol.</summary>
    public const int Refused = 2;

    /// <summary>The server could not be reached or did not answer in time.</summary>
    public const int Unreachable = 3;

    /// <summary>RFC 7717: the IKE responder authenticated as someone other than HOST or --ike-remote-id.</summary>
    public const int IdentityMismatch = 4;

    /// <summary>Interrupted (Ctrl+C).</summary>
    public const int Cancelled = 130;
}
