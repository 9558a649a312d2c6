using System.Globalization;
using System.Security.Cryptography;

namespace Ippm.Security;

/// <summary>
/// perfSONAR's <c>.pfs</c> key file: one <c>identity&lt;whitespace&gt;hex-of-passphrase</c> per line,
/// <c>#</c> starts a comment. The same file serves the server (all users) and the client (its own line).
/// Passphrases are held as raw octets and zeroed on <see cref="Dispose"/>.
/// </summary>
public sealed class KeyFile : IDisposable
{
    private readonly Dictionary<string, byte[]> _secrets;

    private KeyFile(Dictionary<string, byte[]> secrets) => _secrets = secrets;

    public IReadOnlyCollection<string> Identities => _secrets.Keys;

    public static KeyFile Load(string path) => Parse(File.ReadAllText(path), path);

    /// <exception cref="FormatException">A line is not identity + hex; the message names the line, never its secret.</exception>
    public static KeyFile Parse(string text, string sourceName = "key file")
    {
        var secrets = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        try
        {
            int lineNumber = 0;
            foreach (string rawLine in text.Split('\n'))
            {
                lineNumber++;
                string line = rawLine;
                int hash = line.IndexOf('#', StringComparison.Ordinal);
                if (hash >= 0)
                {
                    line = line[..hash];
                }
                string[] fields = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length == 0)
                {
                    continue;
                }
                if (fields.Length != 2)
                {
                    throw new FormatException($"{sourceName}:{lineNumber.ToString(CultureInfo.InvariantCulture)}: expected 'identity hex-passphrase'.");
                }
                byte[] secret;
                try
                {
                    secret = Convert.FromHexString(fields[1]);
                }
                catch (FormatException)
                {
                    throw new FormatException($"{sourceName}:{lineNumber.ToString(CultureInfo.InvariantCulture)}: the passphrase of '{fields[0]}' is not hex.");
                }
                if (secret.Length == 0)
                {
                    throw new FormatException($"{sourceName}:{lineNumber.ToString(CultureInfo.InvariantCulture)}: empty passphrase for '{fields[0]}'.");
                }
                if (secrets.Remove(fields[0], out byte[]? previous))
                {
                    CryptographicOperations.ZeroMemory(previous);
                }
                secrets[fields[0]] = secret;
            }
        }
        catch (FormatException)
        {
            // The passphrases of the lines before the bad one are dropped with the dictionary: wipe them first.
            foreach (byte[] parsed in secrets.Values)
            {
                CryptographicOperations.ZeroMemory(parsed);
            }
            throw;
        }
        return new KeyFile(secrets);
    }

    /// <summary>Builds a key file line for an identity and a passphrase (what pfstore writes).</summary>
    public static string FormatLine(string identity, ReadOnlySpan<byte> passphrase) =>
        $"{identity}\t{Convert.ToHexStringLower(passphrase)}";

    public bool TryGetSecret(string identity, out ReadOnlySpan<byte> secret)
    {
        if (_secrets.TryGetValue(identity, out byte[]? bytes))
        {
            secret = bytes;
            return true;
        }
        secret = default;
        return false;
    }

    public void Dispose()
    {
        foreach (byte[] secret in _secrets.Values)
        {
            CryptographicOperations.ZeroMemory(secret);
        }
        _secrets.Clear();
    }
}
