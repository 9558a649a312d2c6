using Ippm.Policy;

namespace Ippm.Service;

/// <summary>
/// ippm's own server configuration file (<c>ippm server --config FILE</c>): one <c>key = value</c> per line, where the
/// key is a flag of <c>ippm server</c> without its dashes (<c>twamp-listen = [::]:862</c>); a switch is
/// <c>key = true</c> or <c>false</c>. <c>#</c> starts a comment line; a trailing <c>\</c> continues a line (the same line
/// discipline as perfSONAR's files). Which keys exist is decided by the command, so every flag has a key and an unknown
/// key is an error naming its file and line.
/// </summary>
public static class ServerConfigFile
{
    public static List<ConfigEntry> Load(string path) => Parse(File.ReadAllText(path), path);

    public static List<ConfigEntry> Parse(string text, string file)
    {
        var entries = new List<ConfigEntry>();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (ConfLines.Line line in ConfLines.Read(text, file))
        {
            int eq = line.Text.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new PolicyFormatException(file, line.Number, $"expected 'key = value', found '{line.Text}'");
            }
            string key = line.Text[..eq].Trim();
            string value = line.Text[(eq + 1)..].Trim();
            if (key.StartsWith('-') || key.Any(char.IsWhiteSpace))
            {
                throw new PolicyFormatException(file, line.Number, $"expected a key such as 'twamp-listen' (a flag without '--'), found '{key}'");
            }
            if (value.Length == 0)
            {
                throw new PolicyFormatException(file, line.Number, $"expected a value after '{key} ='");
            }
            if (value.Length >= 2 && value[0] == '"' && value[^1] == '"')
            {
                value = value[1..^1];
            }
            if (seen.TryGetValue(key, out int first))
            {
                throw new PolicyFormatException(file, line.Number, $"'{key}' is already set on line {first}");
            }
            seen[key] = line.Number;
            entries.Add(new ConfigEntry(key, value, file, line.Number));
        }
        return entries;
    }
}
