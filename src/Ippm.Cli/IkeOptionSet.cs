using System.CommandLine;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Ippm.Ikev2.Crypto;
using Ippm.Ikev2.Exchanges;
using Ippm.Ikev2.Identity;
using Ippm.Ikev2.Messages;
using Ippm.Ikev2.SaDatabase;
using Ippm.Security;
using Ippm.Sessions.Server;

namespace Ippm.Cli;

/// <summary>
/// The <c>--ike*</c> options of <c>ippm server</c>, <c>ippm twping</c> and <c>ippm owping</c> (RFC 7717): how the
/// IKEv2 SA that keys the O/TWAMP connection is authenticated, and how its secret becomes the Token key.
/// </summary>
internal sealed class IkeOptionSet
{
    public const int DefaultIkePort = 500;

    private IkeOptionSet(bool server)
    {
        IsServer = server;
        Enable = new Option<bool>("--ike") { Description = "Key the control connection from an IKEv2 SA with HOST (RFC 7717) instead of a passphrase." };
        Port = new Option<int>("--ike-port") { Description = "UDP port of HOST's IKE responder.", DefaultValueFactory = _ => DefaultIkePort };
        Listen = new Option<string?>("--ike-listen") { Description = "Run an IKEv2 responder on ADDR:PORT and accept O/TWAMP connections keyed from its SAs (RFC 7717)." };
        PskFile = new Option<FileInfo?>("--ike-psk-file") { Description = "IKEv2 pre-shared key file (one trailing newline ignored)." };
        Cert = new Option<FileInfo?>("--ike-cert") { Description = "Our X.509 certificate (PEM) for IKEv2 signature authentication; certificates after the first are intermediate CAs, sent to the peer." };
        Key = new Option<FileInfo?>("--ike-key") { Description = "Private key of --ike-cert (PEM)." };
        Ca = new Option<FileInfo?>("--ike-ca") { Description = "CA certificate(s) (PEM) the peer's certificate must chain to." };
        Proposal = new Option<string?>("--ike-proposal") { Description = $"IKE proposals, strongSwan syntax. Default: {IkeProposalSpec.DefaultList}" };
        RemoteId = new Option<string?>("--ike-remote-id") { Description = "Identity the IKE responder must prove (IP, FQDN, user@fqdn or DN C=.., O=.., CN=..): its IDr or a name in its certificate. Default: HOST as typed (a DNS name must be a dNSName of its certificate, an IP address an iPAddress)." };
        LocalId = new Option<string?>("--ike-local-id") { Description = "Our IKE identity (IP, FQDN, user@fqdn or DN). Default: the certificate's subject DN, else our IP address." };
        Timeout = new Option<double>("--ike-timeout") { Description = "Seconds to wait for each IKE exchange (resends after 0.5, 1, 2, ... s) before giving up.", DefaultValueFactory = _ => 16 };
        Crl = new Option<FileInfo[]>("--ike-crl") { Description = "CRL file (PEM or DER) of a CA in --ike-ca; a peer certificate it lists is refused. Repeatable.", AllowMultipleArgumentsPerToken = false };
        Allow = new Option<string[]>("--ike-allow") { Description = "IKE identity allowed to set up SAs: exact ID, *.example.net, user@*, or a DN with * values (C=XX, O=Example, CN=*); matched against the ID and the certificate's names. Repeatable.", AllowMultipleArgumentsPerToken = false };
        AllowAnyCaSigned = new Option<bool>("--ike-allow-any-ca-signed") { Description = "Admit every identity with a valid certificate from --ike-ca (no --ike-allow list)." };
        Derivation = new Option<string>("--ike-key-derivation")
        {
            Description = "How prf(SK_d,\"IPPM\") becomes the Token key: pbkdf2 (as the passphrase, with the greeting's Salt and Count; default) or direct (its first 16 octets). Both ends must agree.",
            DefaultValueFactory = _ => "pbkdf2",
        };
    }

    public bool IsServer { get; }
    public Option<bool> Enable { get; }
    public Option<int> Port { get; }
    public Option<string?> Listen { get; }
    public Option<FileInfo?> PskFile { get; }
    public Option<FileInfo?> Cert { get; }
    public Option<FileInfo?> Key { get; }
    public Option<FileInfo?> Ca { get; }
    public Option<string?> Proposal { get; }
    public Option<string> Derivation { get; }
    public Option<string?> RemoteId { get; }
    public Option<string?> LocalId { get; }
    public Option<double> Timeout { get; }
    public Option<FileInfo[]> Crl { get; }
    public Option<string[]> Allow { get; }
    public Option<bool> AllowAnyCaSigned { get; }

    public static IkeOptionSet ForClient() => new(server: false);

    public static IkeOptionSet ForServer() => new(server: true);

    public void AddTo(Command command)
    {
        if (IsServer)
        {
            command.Add(Listen);
            command.Add(Allow);
            command.Add(AllowAnyCaSigned);
        }
        else
        {
            command.Add(Enable);
            command.Add(Port);
            command.Add(RemoteId);
            command.Add(Timeout);
        }
        command.Add(LocalId);
        command.Add(Crl);
        command.Add(PskFile);
        command.Add(Cert);
        command.Add(Key);
        command.Add(Ca);
        command.Add(Proposal);
        command.Add(Derivation);
    }

    /// <summary>
    /// With <c>--ike</c>: establishes an IKE SA with the server's IKE responder, runs <paramref name="measure"/> keyed
    /// from it, then deletes the SA. Without: runs <paramref name="measure"/> with no IKE secret.
    /// </summary>
    /// <param name="host">HOST as the user typed it (without the port): the identity the responder must have unless --ike-remote-id says otherwise.</param>
    public async Task<int> RunAsync(ParseResult parse, string host, IPAddress server, CancellationToken cancellationToken, Func<Rfc7717Secret?, Task<int>> measure)
    {
        if (!parse.GetValue(Enable))
        {
            return await measure(null).ConfigureAwait(false);
        }
        if (TryLoad(parse, out IkeCredentials? credentials, out var proposals, out var derivation) is string error)
        {
            return TwpingCommand.Fail(error, ExitCodes.Usage);
        }
        using (credentials)
        {
            double timeout = parse.GetValue(Timeout);
            if (!(timeout is > 0 and <= 3600))
            {
                return TwpingCommand.Fail("--ike-timeout must be between 0 and 3600 seconds.", ExitCodes.Usage);
            }
            IkeIdentityPattern expected;
            IdPayload? localId;
            try
            {
                expected = IkeIdentityPattern.Parse(parse.GetValue(RemoteId) ?? host);
                localId = parse.GetValue(LocalId) is string l ? IkeIdentity.Parse(l) : null;
            }
            catch (Exception e) when (e is FormatException or CryptographicException)
            {
                return TwpingCommand.Fail($"--ike-remote-id/--ike-local-id: {e.Message}", ExitCodes.Usage);
            }
            var responder = new IPEndPoint(server, parse.GetValue(Port));
            var options = new IkeInitiatorOptions
            {
                Credentials = credentials!,
                Proposals = proposals,
                LocalId = localId,
                ExpectedPeer = expected,
                Retransmit = RetransmitPolicy.WithinBudget(TimeSpan.FromSeconds(timeout)),
            };
            ClientIkeSa sa;
            try
            {
                sa = await ClientIkeSa.EstablishAsync(responder, options, derivation, cancellationToken).ConfigureAwait(false);
            }
            catch (IkePeerIdentityMismatchException e)
            {
                string source = parse.GetValue(RemoteId) is null ? "HOST as typed; --ike-remote-id expects another identity" : "--ike-remote-id";
                return TwpingCommand.Fail(
                    $"IKEv2 with {responder}: wrong peer: the responder authenticated as '{e.Actual}', but '{e.Expected}' was expected ({source}). No O/TWAMP key was derived.",
                    ExitCodes.IdentityMismatch);
            }
            catch (IkeRefusedException e)
            {
                return TwpingCommand.Fail($"IKEv2 with {responder} refused: {e.Message}", ExitCodes.Refused);
            }
            catch (Exception e) when (e is IkeTimeoutException or System.Net.Sockets.SocketException)
            {
                return TwpingCommand.Fail($"IKEv2 responder {responder} unreachable: {e.Message}", ExitCodes.Unreachable);
            }
            await using (sa.ConfigureAwait(false))
            {
                return await measure(sa.Secret).ConfigureAwait(false);
            }
        }
    }

    public static bool TryParseDerivation(string text, out Rfc7717KeyDerivation derivation)
    {
        derivation = text.ToLowerInvariant() switch
        {
            "pbkdf2" or "a" => Rfc7717KeyDerivation.Pbkdf2,
            "direct" or "b" => Rfc7717KeyDerivation.Direct,
            _ => (Rfc7717KeyDerivation)(-1),
        };
        return Enum.IsDefined(derivation);
    }

    /// <summary>Loads the IKE credentials named on the command line; returns an error message or null.</summary>
    public string? TryLoad(ParseResult parse, out IkeCredentials? credentials, out IReadOnlyList<IkeProposalSpec> proposals, out Rfc7717KeyDerivation derivation)
    {
        credentials = null;
        proposals = IkeProposalSpec.Default;
        if (!TryParseDerivation(parse.GetValue(Derivation)!, out derivation))
        {
            return $"--ike-key-derivation '{parse.GetValue(Derivation)}': use pbkdf2 or direct.";
        }
        try
        {
            if (parse.GetValue(Proposal) is string p)
            {
                proposals = IkeProposalSpec.ParseList(p);
            }
        }
        catch (FormatException e)
        {
            return $"--ike-proposal: {e.Message}";
        }
        return IkeCredentialFiles.TryLoad(parse.GetValue(PskFile), parse.GetValue(Cert), parse.GetValue(Key), parse.GetValue(Ca), rsaPss: false, out credentials, "--ike-", parse.GetValue(Crl));
    }

    /// <summary>
    /// The server's admission policy: the --ike-allow patterns; null (anyone the credentials authenticate) only with
    /// a PSK or --ike-allow-any-ca-signed. A CA without either is an error: any certificate it ever signed would do.
    /// </summary>
    public string? TryReadPolicy(ParseResult parse, IkeCredentials credentials, out IkePeerPolicy? policy)
    {
        policy = null;
        string[] allow = parse.GetValue(Allow) ?? [];
        bool any = parse.GetValue(AllowAnyCaSigned);
        if (allow.Length > 0 && any)
        {
            return "give either --ike-allow PATTERN or --ike-allow-any-ca-signed, not both.";
        }
        if (allow.Length == 0)
        {
            return credentials.TrustedCas.Count > 0 && !any
                ? "--ike-ca admits every certificate that CA signed: say who may connect with --ike-allow PATTERN (repeatable; e.g. --ike-allow client.example.net, --ike-allow '*.example.net', --ike-allow 'C=XX, O=Example, CN=*'), or --ike-allow-any-ca-signed to admit them all."
                : null;
        }
        try
        {
            policy = new IkePeerPolicy(allow.Select(IkeIdentityPattern.Parse));
            return null;
        }
        catch (FormatException e)
        {
            return $"--ike-allow: {e.Message}";
        }
    }
}

/// <summary>Reads IKE credentials from files: a PSK file, or a certificate, its key and the trusted CAs (PEM).</summary>
internal static class IkeCredentialFiles
{
    public static string? TryLoad(FileInfo? psk, FileInfo? cert, FileInfo? key, FileInfo? ca, bool rsaPss, out IkeCredentials? credentials, string prefix = "--", FileInfo[]? crlFiles = null)
    {
        credentials = null;
        var crls = new List<IkeCrl>();
        foreach (FileInfo file in crlFiles ?? [])
        {
            try
            {
                crls.AddRange(IkeCrl.Load(file.FullName));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                return $"{prefix}crl {file}: {e.Message}";
            }
        }
        if (crls.Count > 0 && cert is null)
        {
            return $"{prefix}crl needs certificate authentication ({prefix}cert, {prefix}key, {prefix}ca).";
        }
        if ((psk is null) == (cert is null))
        {
            return $"give either {prefix}psk-file F or {prefix}cert C {prefix}key K {prefix}ca CA.";
        }
        try
        {
            if (psk is not null)
            {
                byte[] secret = File.ReadAllBytes(psk.FullName);
                int length = secret.Length;
                while (length > 0 && secret[length - 1] is (byte)'\n' or (byte)'\r')
                {
                    length--;
                }
                byte[] trimmed = secret.AsSpan(0, length).ToArray();
                CryptographicOperations.ZeroMemory(secret);
                if (trimmed.Length == 0)
                {
                    return $"{prefix}psk-file {psk}: empty.";
                }
                credentials = new IkeCredentials { PreSharedKey = trimmed };
                return null;
            }
            if (key is null || ca is null)
            {
                return $"{prefix}cert needs {prefix}key and {prefix}ca.";
            }
            var cas = new X509Certificate2Collection();
            cas.ImportFromPemFile(ca.FullName);
            if (cas.Count == 0)
            {
                return $"{prefix}ca {ca}: no certificate found.";
            }
            // Certificates after the first in the --cert file are intermediates, sent along so the peer can build the chain.
            var chain = new X509Certificate2Collection();
            chain.ImportFromPemFile(cert!.FullName);
            var intermediates = new X509Certificate2Collection();
            for (int i = 1; i < chain.Count; i++)
            {
                intermediates.Add(chain[i]);
            }
            credentials = new IkeCredentials
            {
                Certificate = X509Certificate2.CreateFromPemFile(cert.FullName, key.FullName),
                TrustedCas = cas,
                Intermediates = intermediates,
                Crls = crls,
                RsaPss = rsaPss,
            };
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            return $"cannot load IKE credentials: {e.Message}";
        }
    }
}

/// <summary>A client-side IKE SA for one measurement: established before, deleted after (RFC 7717 §5).</summary>
internal sealed class ClientIkeSa : IAsyncDisposable
{
    private readonly IkeInitiatorSession _session;

    private ClientIkeSa(IkeInitiatorSession session, Rfc7717Secret secret)
    {
        _session = session;
        Secret = secret;
    }

    public Rfc7717Secret Secret { get; }
    public IkeSaEntry Entry => _session.Entry;

    public static async Task<ClientIkeSa> EstablishAsync(IPEndPoint responder, IkeInitiatorOptions options, Rfc7717KeyDerivation derivation, CancellationToken cancellationToken)
    {
        IkeInitiatorSession session = await IkeInitiator.ConnectAsync(responder, options, cancellationToken: cancellationToken).ConfigureAwait(false);
        return new ClientIkeSa(session, IkeSecretSource.ForClient(session.Entry, derivation));
    }

    public async ValueTask DisposeAsync()
    {
        Secret.Dispose();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            await _session.DeleteAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IkeTimeoutException or System.Net.Sockets.SocketException or IkeRefusedException)
        {
            // The SA was only ours to measure with; a peer that does not answer the Delete forgets it on its own.
        }
        await _session.DisposeAsync().ConfigureAwait(false);
    }
}
