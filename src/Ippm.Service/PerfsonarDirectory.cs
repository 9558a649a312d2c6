using Ippm.Policy;

namespace Ippm.Service;

/// <summary>
/// An existing owampd/twampd configuration directory (<c>ippm server --perfsonar-config DIR</c>): the server
/// configuration (<c>owamp-server.conf</c>/<c>twamp-server.conf</c>, or the older <c>owampd.conf</c>/<c>twampd.conf</c>,
/// owampd.conf(5)), the limits files (<c>*-server.limits</c>, <c>owampd.limits</c>, <c>twampd.limits</c>) and the key files
/// (<c>*.pfs</c>). Keys of the .conf files become ippm server flags; the ones that only concern a forking Unix daemon
/// (user, group, vardir, syslog) are listed in <see cref="Ignored"/> and logged, since systemd does that job.
/// </summary>
public sealed class PerfsonarDirectory
{
    private static readonly string[] s_daemonOnlyKeys = ["dieby", "diskfudge", "enddelay", "facility", "group", "loglocation", "rootfolly", "user", "vardir", "verbose"];

    public List<ConfigEntry> Entries { get; } = [];

    public string? OwampLimits { get; private set; }

    public string? TwampLimits { get; private set; }

    public List<string> KeyFiles { get; } = [];

    /// <summary>Keys read and deliberately not used, with where they were.</summary>
    public List<ConfigEntry> Ignored { get; } = [];

    public static PerfsonarDirectory Load(string directory)
    {
        if (!Directory.Exists(directory))
        {
            throw new PolicyFormatException($"{directory}: no such directory");
        }
        var result = new PerfsonarDirectory();
        string? owampConf = First(directory, "owamp-server.conf", "owampd.conf");
        string? twampConf = First(directory, "twamp-server.conf", "twampd.conf");
        if (owampConf is null && twampConf is null)
        {
            throw new PolicyFormatException($"{directory}: neither owamp-server.conf nor twamp-server.conf (nor owampd.conf, twampd.conf) is there");
        }
        var merged = new Dictionary<string, ConfigEntry>(StringComparer.Ordinal);
        if (twampConf is not null)
        {
            result.ReadConf(twampConf, twamp: true, merged);
        }
        if (owampConf is not null)
        {
            result.ReadConf(owampConf, twamp: false, merged);
        }
        result.Entries.AddRange(merged.Values);
        result.OwampLimits = owampConf is null ? null : First(directory, "owamp-server.limits", "owampd.limits");
        result.TwampLimits = twampConf is null ? null : First(directory, "twamp-server.limits", "twampd.limits");
        foreach (string pfs in new[] { "twamp-server.pfs", "owamp-server.pfs", "twampd.pfs", "owampd.pfs" })
        {
            string path = Path.Combine(directory, pfs);
            if (File.Exists(path))
            {
                result.KeyFiles.Add(path);
            }
        }
        return result;
    }

    private void ReadConf(string path, bool twamp, Dictionary<string, ConfigEntry> merged)
    {
        string protocol = twamp ? "twamp" : "owamp";
        bool hasListen = false;
        foreach (ConfLines.Line line in ConfLines.Read(File.ReadAllText(path), path))
        {
            List<string> words = ConfLines.Words(line.Text, path, line.Number);
            string key = words[0].ToLowerInvariant();
            string? value = words.Count > 1 ? string.Join(' ', words.Skip(1)) : null;
            void Require()
            {
                if (value is null)
                {
                    throw new PolicyFormatException(path, line.Number, $"expected a value after '{key}'");
                }
            }
            void Set(string ippmKey, string ippmValue)
            {
                var entry = new ConfigEntry(ippmKey, ippmValue, path, line.Number);
                if (merged.TryGetValue(ippmKey, out ConfigEntry? earlier) && earlier.Value != ippmValue)
                {
                    if (ippmKey == "modes")
                    {
                        // One ippm server serves both protocols: offer what either daemon offered.
                        ippmValue = string.Join(',', earlier.Value!.Split(',').Union(ippmValue.Split(',')));
                        entry = entry with { Value = ippmValue };
                    }
                    else
                    {
                        throw new PolicyFormatException(path, line.Number, $"'{key}' differs from {earlier.Where}; ippm runs both protocols in one process with one value");
                    }
                }
                merged[ippmKey] = entry;
            }
            switch (key)
            {
                case "srcnode":
                    Require();
                    Set($"{protocol}-listen", value!.Contains(':', StringComparison.Ordinal) ? value : value + (twamp ? ":862" : ":861"));
                    hasListen = true;
                    break;
                case "authmode":
                    Require();
                    Set("modes", Modes(value!, twamp, path, line.Number));
                    break;
                case "testports":
                    Require();
                    if (value != "0")
                    {
                        Set("test-ports", value!);
                    }
                    break;
                case "datadir":
                    Require();
                    if (!twamp)
                    {
                        Set("data-dir", Path.GetFullPath(value!, Path.GetDirectoryName(Path.GetFullPath(path))!));
                    }
                    break;
                case "controltimeout":
                    Require();
                    Set("servwait", value!);
                    break;
                case "testtimeout" when twamp:
                    Require();
                    Set("refwait", value!);
                    break;
                case "maxcontrolsessions":
                    Require();
                    // 0 is "unlimited" in owampd; ippm always keeps a bound, its own default.
                    if (value != "0")
                    {
                        Set("max-connections", value!);
                    }
                    break;
                case "pbkdf2_count":
                    Require();
                    Set("pbkdf2-count", value!);
                    break;
                default:
                    if (Array.IndexOf(s_daemonOnlyKeys, key) >= 0)
                    {
                        Ignored.Add(new ConfigEntry(key, value, path, line.Number));
                        break;
                    }
                    throw new PolicyFormatException(path, line.Number,
                        $"unknown key '{words[0]}': expected one of authmode, controltimeout, datadir, maxcontrolsessions, pbkdf2_count, srcnode, testports{(twamp ? ", testtimeout" : "")}, {string.Join(", ", s_daemonOnlyKeys)}");
            }
        }
        if (!hasListen)
        {
            // owampd and twampd listen on every address at their well-known port by default.
            merged[$"{protocol}-listen"] = new ConfigEntry($"{protocol}-listen", twamp ? "[::]:862" : "[::]:861", path, 0);
        }
    }

    private static string Modes(string letters, bool twamp, string file, int line)
    {
        var modes = new List<string>();
        foreach (char c in letters.ToUpperInvariant())
        {
            modes.Add(c switch
            {
                'O' => "open",
                'A' => "authenticated",
                'E' => "encrypted",
                'M' when twamp => "mixed",
                _ => throw new PolicyFormatException(file, line, $"authmode: expected letters from \"{(twamp ? "AEMO" : "AEO")}\", found '{c}'"),
            });
        }
        return string.Join(',', modes.Distinct());
    }

    private static string? First(string directory, params string[] names) =>
        names.Select(n => Path.Combine(directory, n)).FirstOrDefault(File.Exists);
}
