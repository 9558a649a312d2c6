using Ippm.Security;

namespace Ippm.Cli;

/// <summary>The identity and passphrase a client takes from <c>-u</c> and <c>-k</c>.</summary>
internal static class ClientCredentials
{
    /// <summary>Returns an error message, or null with the identity and a copy of its passphrase (the caller zeroes it).</summary>
    public static string? TryLoad(string? keyPath, string? identity, out string? user, out byte[]? secret)
    {
        user = identity;
        secret = null;
        if (keyPath is null)
        {
            return null;
        }
        try
        {
            using KeyFile keys = KeyFile.Load(keyPath);
            if (keys.Identities.Count == 0)
            {
                return $"{keyPath} holds no identities (a .pfs file has lines 'identity hex-passphrase'; see ippm keys add).";
            }
            user ??= keys.Identities.Count == 1 ? keys.Identities.First() : null;
            if (user is null)
            {
                return $"{keyPath} holds several identities; name one with -u.";
            }
            if (!keys.TryGetSecret(user, out ReadOnlySpan<byte> s))
            {
                return $"{keyPath} has no passphrase for '{user}'.";
            }
            secret = s.ToArray();
            return null;
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
        {
            return $"cannot read key file: {e.Message}";
        }
    }
}
