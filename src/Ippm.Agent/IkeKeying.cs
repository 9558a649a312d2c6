using System.Net;
using Ippm.Ikev2.Exchanges;
using Ippm.Ikev2.Identity;
using Ippm.Security;
using Ippm.Sessions.Server;
using Microsoft.Extensions.Logging;

namespace Ippm.Agent;

/// <summary>
/// RFC 7717 for one agent session, as <c>twping --ike</c> does it: an IKEv2 SA with the target's responder
/// (pre-shared key, the responder checked against <c>ike-remote-id</c> or the target's host inside IKE_AUTH), the
/// O/TWAMP secret derived from it (RFC 7717 §5, PBKDF2 derivation as ippm's default), and the SA deleted after the session.
/// </summary>
internal sealed class IkeKeying : IAsyncDisposable
{
    private readonly IkeInitiatorSession _session;
    private readonly IkeCredentials _credentials;

    private IkeKeying(IkeInitiatorSession session, IkeCredentials credentials, Rfc7717Secret secret)
    {
        _session = session;
        _credentials = credentials;
        Secret = secret;
    }

    public Rfc7717Secret Secret { get; }

    public static async Task<IkeKeying> EstablishAsync(AgentTest test, IPAddress server, ILogger logger, CancellationToken cancellationToken)
    {
        var credentials = new IkeCredentials { PreSharedKey = test.IkePsk!.ToArray() };
        var options = new IkeInitiatorOptions
        {
            Credentials = credentials,
            ExpectedPeer = IkeIdentityPattern.Parse(test.IkeRemoteId ?? test.Host),
            LocalId = test.IkeLocalId is { } local ? IkeIdentity.Parse(local) : null,
            Retransmit = RetransmitPolicy.WithinBudget(test.ConnectTimeout),
        };
        IkeInitiatorSession session;
        try
        {
            session = await IkeInitiator.ConnectAsync(new IPEndPoint(server, test.IkePort), options, logger: logger, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            credentials.Dispose();
            throw;
        }
        return new IkeKeying(session, credentials, IkeSecretSource.ForClient(session.Entry, Rfc7717KeyDerivation.Pbkdf2));
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
            // The responder forgets the SA at its own expiry; the session's figures stand.
        }
        await _session.DisposeAsync().ConfigureAwait(false);
        _credentials.Dispose();
    }
}
