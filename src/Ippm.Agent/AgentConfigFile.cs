using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Ippm.Policy;
using Ippm.Security;
using Ippm.Sessions.Twamp;
using Ippm.Wire;

namespace Ippm.Agent;

/// <summary>
/// The agent's configuration file (<c>ippm agent --config FILE</c>), in the conventions of <c>ippm server --config</c>:
/// one <c>key = value</c> per line, <c>#</c> comment lines, a trailing <c>\</c> continues a line, every mistake an error
/// naming its file and line. Global keys come first; each test is a section <c>[test NAME]</c> with its own keys. Key
/// files are read here, so a missing or unreadable one refuses the whole file (at start, or at a reload that then keeps
/// the running configuration).
/// </summary>
public static class AgentConfigFile
{
    private static readonly string[] s_globalKeys =
        ["archive", "archive-max-size", "archive-max-age", "archive-keep", "packets", "retry-initial", "retry-max", "metrics-listen"];

    private static readonly string[] s_testKeys =
        ["target", "protocol", "direction", "mode", "user", "key-file", "count", "duration", "interval", "padding", "dscp", "timeout",
         "connect-timeout", "every", "back-to-back", "ike-psk-file", "ike-remote-id", "ike-local-id", "ike-port"];

    /// <exception cref="PolicyFormatException">The file is wrong; the message starts with file:line.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static AgentConfig Load(string path) => Parse(File.ReadAllText(path), path);

    public static AgentConfig Parse(string text, string file)
    {
        var global = new Dictionary<string, Setting>(StringComparer.Ordinal);
        var sections = new List<(string Name, int Line, Dictionary<string, Setting> Keys)>();
        Dictionary<string, Setting> current = global;
        foreach (ConfLines.Line line in ConfLines.Read(text, file))
        {
            if (line.Text.StartsWith('['))
            {
                if (!line.Text.EndsWith(']'))
                {
                    throw new PolicyFormatException(file, line.Number, $"expected a section '[test NAME]', found '{line.Text}'");
                }
                string[] words = line.Text[1..^1].Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                if (words.Length != 2 || words[0] != "test" || !IsName(words[1]))
                {
                    throw new PolicyFormatException(file, line.Number, $"expected '[test NAME]' (NAME of letters, digits, '-', '_', '.'), found '{line.Text}'");
                }
                if (sections.FirstOrDefault(s => s.Name == words[1]) is { Keys: not null } earlier)
                {
                    throw new PolicyFormatException(file, line.Number, $"test '{words[1]}' is already defined on line {earlier.Line}");
                }
                current = new Dictionary<string, Setting>(StringComparer.Ordinal);
                sections.Add((words[1], line.Number, current));
                continue;
            }
            int eq = line.Text.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new PolicyFormatException(file, line.Number, $"expected 'key = value', found '{line.Text}'");
            }
            string key = line.Text[..eq].Trim();
            string value = line.Text[(eq + 1)..].Trim();
            if (value.Length >= 2 && value[0] == '"' && value[^1] == '"')
            {
                value = value[1..^1];
            }
            bool inTest = !ReferenceEquals(current, global);
            string[] allowed = inTest ? s_testKeys : s_globalKeys;
            if (!allowed.Contains(key))
            {
                string hint = !inTest && s_testKeys.Contains(key) ? " (a test key: put it in a [test NAME] section)"
                    : inTest && s_globalKeys.Contains(key) ? " (a global key: put it before the first [test NAME] section)" : "";
                throw new PolicyFormatException(file, line.Number, $"unknown key '{key}'{hint}; {(inTest ? "test" : "global")} keys are {string.Join(", ", allowed)}");
            }
            if (value.Length == 0)
            {
                throw new PolicyFormatException(file, line.Number, $"expected a value after '{key} ='");
            }
            if (current.TryGetValue(key, out Setting? first))
            {
                throw new PolicyFormatException(file, line.Number, $"'{key}' is already set on line {first.Line}");
            }
            current[key] = new Setting(value, line.Number);
        }

        var reader = new Reader(file);
        if (!global.TryGetValue("archive", out Setting? archivePath))
        {
            throw new PolicyFormatException(file, 1, "the global key 'archive' (the JSON Lines file sessions are appended to) is missing");
        }
        var archive = new ArchiveSettings
        {
            Path = Resolve(file, archivePath.Value),
            MaxBytes = reader.Size(global, "archive-max-size") ?? 100L << 20,
            MaxAge = reader.Duration(global, "archive-max-age") ?? TimeSpan.FromDays(1),
            Keep = reader.Integer(global, "archive-keep", 1, 10_000) ?? 7,
            Packets = reader.Boolean(global, "packets") ?? false,
        };
        TimeSpan retryInitial = reader.Duration(global, "retry-initial") ?? TimeSpan.FromSeconds(1);
        TimeSpan retryMax = reader.Duration(global, "retry-max") ?? TimeSpan.FromMinutes(5);
        if (retryMax < retryInitial)
        {
            throw new PolicyFormatException(file, global["retry-max"].Line, "retry-max is shorter than retry-initial");
        }
        var tests = new List<AgentTest>();
        try
        {
            foreach ((string name, int sectionLine, Dictionary<string, Setting> keys) in sections)
            {
                tests.Add(ReadTest(reader, name, sectionLine, keys));
            }
        }
        catch
        {
            // A refused file keeps no passphrase in memory.
            foreach (AgentTest t in tests)
            {
                CryptographicOperations.ZeroMemory(t.Secret);
                CryptographicOperations.ZeroMemory(t.IkePsk);
            }
            throw;
        }
        return new AgentConfig
        {
            Archive = archive,
            RetryInitial = retryInitial,
            RetryMax = retryMax,
            MetricsListen = global.TryGetValue("metrics-listen", out Setting? m) ? m.Value : null,
            Tests = tests,
        };
    }

    private static AgentTest ReadTest(Reader reader, string name, int sectionLine, Dictionary<string, Setting> keys)
    {
        string file = reader.File;
        if (!keys.TryGetValue("target", out Setting? target))
        {
            throw new PolicyFormatException(file, sectionLine, $"test '{name}' has no 'target = HOST[:PORT]'");
        }
        TestProtocol protocol = reader.Choice(keys, "protocol", new Dictionary<string, TestProtocol> { ["twamp"] = TestProtocol.Twamp, ["owamp"] = TestProtocol.Owamp })
            ?? throw new PolicyFormatException(file, sectionLine, $"test '{name}' has no 'protocol = twamp' or 'protocol = owamp'");
        int defaultPort = protocol == TestProtocol.Twamp ? 862 : 861;
        if (!TrySplitTarget(target.Value, defaultPort, out string host, out int port))
        {
            throw new PolicyFormatException(file, target.Line, $"target '{target.Value}' is not HOST[:PORT] (an IP address or a host name, [V6]:PORT, a port 1-65535)");
        }
        OwampDirection direction = reader.Choice(keys, "direction", new Dictionary<string, OwampDirection> { ["both"] = OwampDirection.Both, ["to"] = OwampDirection.To, ["from"] = OwampDirection.From })
            ?? OwampDirection.Both;
        if (protocol == TestProtocol.Twamp && keys.TryGetValue("direction", out Setting? d))
        {
            throw new PolicyFormatException(file, d.Line, "'direction' is for OWAMP tests (TWAMP measures the round trip and both one-way delays at once)");
        }
        SecurityMode mode = reader.Choice(keys, "mode", new Dictionary<string, SecurityMode>
        {
            ["open"] = SecurityMode.Open, ["authenticated"] = SecurityMode.Authenticated, ["encrypted"] = SecurityMode.Encrypted, ["mixed"] = SecurityMode.Mixed,
        }) ?? SecurityMode.Open;
        if (mode == SecurityMode.Mixed && protocol == TestProtocol.Owamp)
        {
            throw new PolicyFormatException(file, keys["mode"].Line, "mode 'mixed' is TWAMP only (RFC 5618)");
        }
        string? identity = keys.TryGetValue("user", out Setting? u) ? u.Value : null;
        byte[]? secret = null;
        string keyDigest = "";
        if (keys.TryGetValue("key-file", out Setting? keyFile))
        {
            string path = Resolve(file, keyFile.Value);
            string keyText;
            try
            {
                keyText = File.ReadAllText(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new PolicyFormatException(file, keyFile.Line, $"cannot read key file {path}: {e.Message}");
            }
            keyDigest = KeyDigest(Encoding.UTF8.GetBytes(keyText));
            try
            {
                using KeyFile keyFileContents = KeyFile.Parse(keyText, path);
                identity ??= keyFileContents.Identities.Count == 1 ? keyFileContents.Identities.First()
                    : throw new PolicyFormatException(file, keyFile.Line, $"{path} holds several identities; name one with 'user ='");
                if (!keyFileContents.TryGetSecret(identity, out ReadOnlySpan<byte> s))
                {
                    throw new PolicyFormatException(file, u?.Line ?? keyFile.Line, $"{path} has no passphrase for '{identity}'");
                }
                secret = s.ToArray();
            }
            catch (FormatException e)
            {
                throw new PolicyFormatException(file, keyFile.Line, e.Message);
            }
        }
        byte[]? ikePsk = null;
        try
        {
            if (keys.TryGetValue("ike-psk-file", out Setting? pskFile))
            {
                if (secret is not null)
                {
                    CryptographicOperations.ZeroMemory(secret);
                    throw new PolicyFormatException(file, pskFile.Line, "give 'key-file' (a passphrase) or 'ike-psk-file' (RFC 7717, keys from an IKEv2 SA), not both");
                }
                if (mode == SecurityMode.Open)
                {
                    throw new PolicyFormatException(file, pskFile.Line, "'ike-psk-file' keys a protected mode: set 'mode = authenticated', 'encrypted' or 'mixed'");
                }
                string path = Resolve(file, pskFile.Value);
                try
                {
                    byte[] raw = File.ReadAllBytes(path);
                    int pskLength = raw.Length;
                    while (pskLength > 0 && raw[pskLength - 1] is (byte)'\n' or (byte)'\r')
                    {
                        pskLength--;
                    }
                    ikePsk = raw.AsSpan(0, pskLength).ToArray();
                    CryptographicOperations.ZeroMemory(raw);
                    keyDigest = KeyDigest(ikePsk);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new PolicyFormatException(file, pskFile.Line, $"cannot read IKE pre-shared key file {path}: {e.Message}");
                }
                if (ikePsk.Length == 0)
                {
                    throw new PolicyFormatException(file, pskFile.Line, $"IKE pre-shared key file {path} is empty");
                }
                foreach (string idKey in new[] { "ike-remote-id", "ike-local-id" })
                {
                    if (keys.TryGetValue(idKey, out Setting? id))
                    {
                        try
                        {
                            _ = idKey == "ike-remote-id" ? (object)Ippm.Ikev2.Identity.IkeIdentityPattern.Parse(id.Value) : Ippm.Ikev2.Exchanges.IkeIdentity.Parse(id.Value);
                        }
                        catch (Exception e) when (e is FormatException or CryptographicException or ArgumentException)
                        {
                            CryptographicOperations.ZeroMemory(ikePsk);
                            throw new PolicyFormatException(file, id.Line, $"{idKey} '{id.Value}': {e.Message}");
                        }
                    }
                }
            }
            else if (keys.Keys.FirstOrDefault(k => k.StartsWith("ike-", StringComparison.Ordinal)) is string stray)
            {
                throw new PolicyFormatException(file, keys[stray].Line, $"'{stray}' needs 'ike-psk-file' (RFC 7717 keys from an IKEv2 SA)");
            }
            else if (mode != SecurityMode.Open && secret is null)
            {
                throw new PolicyFormatException(file, keys["mode"].Line, $"mode '{keys["mode"].Value}' needs 'key-file = FILE.pfs' (and 'user =' when the file has several identities) or 'ike-psk-file'");
            }

            SendSchedule interval = new(0.1, Exponential: true);
            if (keys.TryGetValue("interval", out Setting? i) && (!SendSchedule.TryParse(i.Value, out SendSchedule? parsed) || parsed!.IntervalSeconds <= 0))
            {
                throw new PolicyFormatException(file, i.Line, $"interval '{i.Value}' is not SECONDS[e|f] (mean seconds between packets, e exponential, f fixed; more than 0)");
            }
            else if (i is not null)
            {
                SendSchedule.TryParse(i.Value, out SendSchedule? ok);
                interval = ok!;
            }
            int? count = reader.Integer(keys, "count", 1, 10_000_000);
            TimeSpan? duration = reader.Duration(keys, "duration");
            if (count is not null && duration is not null)
            {
                throw new PolicyFormatException(file, keys["duration"].Line, "give 'count' or 'duration', not both");
            }
            if (duration is { } length)
            {
                count = (int)Math.Clamp(Math.Round(length.TotalSeconds / interval.IntervalSeconds), 1, 10_000_000);
            }
            bool backToBack = reader.Boolean(keys, "back-to-back") ?? false;
            TimeSpan? every = reader.Duration(keys, "every");
            if (backToBack && every is not null)
            {
                throw new PolicyFormatException(file, keys["every"].Line, "give 'every' or 'back-to-back = yes', not both");
            }
            int? dscp = reader.Integer(keys, "dscp", 0, 63);
            var canonical = new StringBuilder(CultureInfo.InvariantCulture.TextInfo.ToLower(name)).Append('|').Append(keyDigest);
            foreach (KeyValuePair<string, Setting> pair in keys.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                canonical.Append('|').Append(pair.Key).Append('=').Append(pair.Value.Value);
            }
            return new AgentTest
            {
                Name = name,
                Target = target.Value,
                Host = host,
                Port = port,
                Protocol = protocol,
                Direction = direction,
                Mode = mode,
                Identity = identity,
                Secret = secret,
                IkePsk = ikePsk,
                IkeRemoteId = keys.TryGetValue("ike-remote-id", out Setting? remoteId) ? remoteId.Value : null,
                IkeLocalId = keys.TryGetValue("ike-local-id", out Setting? localId) ? localId.Value : null,
                IkePort = reader.Integer(keys, "ike-port", 1, 65535) ?? 500,
                Count = count ?? 100,
                Interval = interval,
                Padding = reader.Integer(keys, "padding", 0, 65000),
                Dscp = (byte)(dscp ?? 0),
                Timeout = reader.Duration(keys, "timeout") ?? TimeSpan.FromSeconds(2),
                ConnectTimeout = reader.Duration(keys, "connect-timeout") ?? TimeSpan.FromSeconds(10),
                Every = every ?? TimeSpan.FromSeconds(60),
                BackToBack = backToBack,
                Where = $"{file}:{sectionLine}",
                Fingerprint = canonical.ToString(),
            };
        }
        catch (Exception)
        {
            // A mistake further down the section drops the passphrase or PSK read above: wipe them on the way out.
            CryptographicOperations.ZeroMemory(secret);
            CryptographicOperations.ZeroMemory(ikePsk);
            throw;
        }
    }

    /// <summary>
    /// Tells a changed key file from the same one on reload without keeping a plain digest of a secret, which a
    /// low-entropy PSK could be guessed back from: an HMAC under a key that lives as long as this process.
    /// </summary>
    private static string KeyDigest(ReadOnlySpan<byte> keyMaterial) => Convert.ToHexString(HMACSHA256.HashData(s_digestKey, keyMaterial));

    private static readonly byte[] s_digestKey = RandomNumberGenerator.GetBytes(32);

    private static bool IsName(string name) => name.Length is > 0 and <= 100 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    private static string Resolve(string configFile, string path) =>
        Path.IsPathRooted(path) ? path : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(configFile)) ?? ".", path));

    /// <summary>HOST[:PORT], [V6]:PORT or a bare IPv6 address; HOST an IP literal or a syntactically valid DNS name.</summary>
    public static bool TrySplitTarget(string text, int defaultPort, out string host, out int port)
    {
        host = text;
        port = defaultPort;
        if (text.StartsWith('['))
        {
            int close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || !IPAddress.TryParse(text[1..close], out _))
            {
                return false;
            }
            host = text[1..close];
            string rest = text[(close + 1)..];
            return rest.Length == 0 || (rest[0] == ':' && TryPort(rest[1..], out port));
        }
        int colon = text.LastIndexOf(':');
        if (colon > 0 && text.IndexOf(':', StringComparison.Ordinal) == colon)
        {
            host = text[..colon];
            if (!TryPort(text[(colon + 1)..], out port))
            {
                return false;
            }
        }
        else if (colon > 0)
        {
            return IPAddress.TryParse(text, out IPAddress? v6) && v6.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
        }
        if (host.All(c => char.IsAsciiDigit(c) || c == '.'))
        {
            // Looks like IPv4: it must be one (no 300.1.1.1 taken as a host name).
            return host.Split('.').Length == 4 && IPAddress.TryParse(host, out _);
        }
        return Uri.CheckHostName(host) is UriHostNameType.Dns or UriHostNameType.IPv4 or UriHostNameType.IPv6;
    }

    private static bool TryPort(string text, out int port) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is > 0 and <= 65535;

    private sealed record Setting(string Value, int Line);

    private sealed class Reader(string file)
    {
        public string File => file;

        public int? Integer(Dictionary<string, Setting> keys, string key, int min, int max)
        {
            if (!keys.TryGetValue(key, out Setting? s))
            {
                return null;
            }
            if (!int.TryParse(s.Value, NumberStyles.None, CultureInfo.InvariantCulture, out int v) || v < min || v > max)
            {
                throw new PolicyFormatException(file, s.Line, $"{key} '{s.Value}' is not a whole number from {min} to {max}");
            }
            return v;
        }

        public bool? Boolean(Dictionary<string, Setting> keys, string key)
        {
            if (!keys.TryGetValue(key, out Setting? s))
            {
                return null;
            }
            return s.Value.ToLowerInvariant() switch
            {
                "yes" or "true" or "on" => true,
                "no" or "false" or "off" => false,
                _ => throw new PolicyFormatException(file, s.Line, $"{key} '{s.Value}' is not yes or no"),
            };
        }

        public T? Choice<T>(Dictionary<string, Setting> keys, string key, Dictionary<string, T> words)
            where T : struct
        {
            if (!keys.TryGetValue(key, out Setting? s))
            {
                return null;
            }
            return words.TryGetValue(s.Value.ToLowerInvariant(), out T v) ? v
                : throw new PolicyFormatException(file, s.Line, $"{key} '{s.Value}' is not one of {string.Join(", ", words.Keys)}");
        }

        /// <summary>Seconds, or a number with s, m, h or d.</summary>
        public TimeSpan? Duration(Dictionary<string, Setting> keys, string key)
        {
            if (!keys.TryGetValue(key, out Setting? s))
            {
                return null;
            }
            string text = s.Value;
            double unit = 1;
            char suffix = text.Length > 1 ? char.ToLowerInvariant(text[^1]) : '0';
            if (suffix is 's' or 'm' or 'h' or 'd')
            {
                unit = suffix switch { 'm' => 60, 'h' => 3600, 'd' => 86400, _ => 1 };
                text = text[..^1];
            }
            if (!double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double v) || !(v * unit <= 366 * 86400.0))
            {
                throw new PolicyFormatException(file, s.Line, $"{key} '{s.Value}' is not a duration (seconds, or a number with s, m, h or d)");
            }
            return TimeSpan.FromSeconds(v * unit);
        }

        /// <summary>Octets, with K, M or G (binary) suffixes.</summary>
        public long? Size(Dictionary<string, Setting> keys, string key)
        {
            if (!keys.TryGetValue(key, out Setting? s))
            {
                return null;
            }
            string text = s.Value;
            long unit = 1;
            char suffix = text.Length > 1 ? char.ToUpperInvariant(text[^1]) : '0';
            if (suffix is 'K' or 'M' or 'G')
            {
                unit = suffix switch { 'K' => 1L << 10, 'M' => 1L << 20, _ => 1L << 30 };
                text = text[..^1];
            }
            if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long v) || v < 1 || v > (1L << 50) / unit)
            {
                throw new PolicyFormatException(file, s.Line, $"{key} '{s.Value}' is not a size (octets, or a number with K, M or G)");
            }
            return v * unit;
        }
    }
}
