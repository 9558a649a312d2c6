using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using Ippm.Ikev2.Exchanges;
using Ippm.Ikev2.Identity;
using Ippm.Ikev2.Messages;
using Ippm.Ikev2.SaDatabase;
using Ippm.Security;
using Ippm.Sessions.Control;
using Ippm.Sessions.Server;
using Microsoft.Extensions.Logging;

namespace Ippm.Cli;

/// <summary><c>ippm server --ike-listen</c>: an IKEv2 responder in the server process whose SAs key O/TWAMP (RFC 7717).</summary>
internal sealed class ServerIke : IAsyncDisposable
{
    /// <summary>How long a rekeyed or deleted SA is kept: connections keyed from it derived their keys at set-up.</summary>
    private static readonly TimeSpan s_retiredGrace = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan s_sweepInterval = TimeSpan.FromSeconds(10);

    private readonly IkeResponder _responder;
    private readonly IkeSaDatabase _database;
    private readonly IkeCredentials _credentials;
    private readonly IDisposable _sweep;

    private ServerIke(IkeResponder responder, IkeSaDatabase database, IkeCredentials credentials, Rfc7717SecretLookup lookup, IDisposable sweep)
    {
        _responder = responder;
        _database = database;
        _credentials = credentials;
        _sweep = sweep;
        Lookup = lookup;
        Ippm.Sessions.Telemetry.ServerMetrics.ObserveIkeSas(() => database.Entries.Count(e => e.State == IkeSaState.Established));
    }

    public Rfc7717SecretLookup Lookup { get; }

    /// <summary>The responder's bound address (the chosen port when --ike-listen gave port 0).</summary>
    public IPEndPoint LocalEndPoint => _responder.LocalEndPoint;

    public static ServerIke? Start(ParseResult parse, IkeOptionSet options, IPEndPoint listen, ILoggerFactory logs, out string? error, ServerLimitOptions? limits = null)
    {
        error = options.TryLoad(parse, out IkeCredentials? credentials, out var proposals, out Rfc7717KeyDerivation derivation);
        if (error is not null)
        {
            return null;
        }
        if (options.TryReadPolicy(parse, credentials!, out IkePeerPolicy? policy) is string policyError)
        {
            credentials!.Dispose();
            error = policyError;
            return null;
        }
        IdPayload? localId;
        try
        {
            localId = parse.GetValue(options.LocalId) is string l ? IkeIdentity.Parse(l) : null;
        }
        catch (Exception e) when (e is FormatException or System.Security.Cryptography.CryptographicException)
        {
            credentials!.Dispose();
            error = $"--ike-local-id: {e.Message}";
            return null;
        }
        var database = new IkeSaDatabase();
        ILogger logger = logs.CreateLogger("Ippm.Ike");
        try
        {
            var responderOptions = new IkeResponderOptions { Listen = listen, Credentials = credentials!, Proposals = proposals, AllowedPeers = policy, LocalId = localId };
            var responder = new IkeResponder(limits?.ApplyTo(parse, responderOptions) ?? responderOptions, database, logger);
            responder.SetupFinished += outcome => Ippm.Sessions.Telemetry.ServerMetrics.IkeSetup(outcome.Label());
            responder.Start();
            logger.LogInformation("IKEv2 responder listening on {EndPoint}; O/TWAMP keys derived from its SAs with {Derivation}", responder.LocalEndPoint, derivation.ToString().ToLowerInvariant());
            logger.LogInformation(
                "IKE identities admitted: {Allowed}",
                policy is null ? (credentials!.TrustedCas.Count > 0 ? "any certificate from --ike-ca (--ike-allow-any-ca-signed)" : "any holder of the pre-shared key") : string.Join("; ", policy.Allowed));
            // Rekeyed and deleted SAs key no new connection and running ones never look them up again:
            // drop them (zeroing SK_d) after a grace period instead of keeping them for the process lifetime.
            IDisposable sweep = database.StartSweeping(s_retiredGrace, s_sweepInterval);
            return new ServerIke(responder, database, credentials!, IkeSecretSource.FromDatabase(database, derivation), sweep);
        }
        catch (SocketException e)
        {
            database.Dispose();
            credentials!.Dispose();
            error = $"cannot listen for IKE on {listen}: {e.Message}";
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _responder.DisposeAsync().ConfigureAwait(false);
        _sweep.Dispose();
        _database.Dispose();
        _credentials.Dispose();
    }
}
