using System.CommandLine;
using Ippm.Sessions.Control;
using Ippm.Wire;

namespace Ippm.Cli;

/// <summary>The flags twping and owping share, with perfSONAR's names and meanings, and their validation.</summary>
internal sealed class ClientOptionSet
{
    private readonly string _protocolLetters;

    public ClientOptionSet(string modesDescription, string protocolLetters, string countDescription)
    {
        _protocolLetters = protocolLetters;
        Modes = new Option<string?>("-A", "--modes") { Description = modesDescription };
        Identity = new Option<string?>("-u", "--identity") { Description = "Identity (KeyID) for the protected modes." };
        KeyFile = new Option<FileInfo?>("-k", "--key-file") { Description = "perfSONAR .pfs key file holding the identity's passphrase." };
        Count = new Option<int>("-c", "--count") { Description = countDescription, DefaultValueFactory = _ => 100 };
        Dscp = new Option<byte>("-D", "--dscp") { Description = "DSCP for test packets (0-63)." };
        Timeout = new Option<double>("-L", "--timeout") { Description = "Seconds after which a packet not yet arrived is lost.", DefaultValueFactory = _ => 2.0 };
        Json = new Option<bool>("--json") { Description = "Print one JSON object on standard output instead of the report." };
        MaxCount = new Option<uint>("--max-pbkdf2-count") { Description = "Refuse servers asking for more PBKDF2 iterations than this.", DefaultValueFactory = _ => ControlHandshake.DefaultMaxCount };
        Verbose = new Option<bool>("-v", "--verbose") { Description = "Log protocol events to standard error." };
        Ike = IkeOptionSet.ForClient();
    }

    public Option<string?> Modes { get; }
    public Option<string?> Identity { get; }
    public Option<FileInfo?> KeyFile { get; }
    public Option<int> Count { get; }
    public Option<byte> Dscp { get; }
    public Option<double> Timeout { get; }
    public Option<bool> Json { get; }
    public Option<uint> MaxCount { get; }
    public Option<bool> Verbose { get; }
    public IkeOptionSet Ike { get; }

    public void AddTo(Command command)
    {
        foreach (Option option in new Option[] { Modes, Identity, KeyFile, Count, Dscp, Timeout, Json, MaxCount, Verbose })
        {
            command.Add(option);
        }
        Ike.AddTo(command);
    }

    /// <summary>What the shared flags say, validated; the caller zeroes <see cref="Secret"/>.</summary>
    internal sealed record Values(uint AcceptableModes, string? Identity, byte[]? Secret, int Count, byte Dscp, TimeSpan Timeout, uint MaxCount, bool Json, bool ViaIke);

    /// <param name="defaultModes">-A without the flag: (with --ike, with -k, with neither).</param>
    public string? TryRead(ParseResult parse, (string Ike, string Key, string None) defaultModes, int maxPackets, out Values? values)
    {
        values = null;
        string? keyPath = parse.GetValue(KeyFile)?.FullName;
        bool viaIke = parse.GetValue(Ike.Enable);
        string letters = parse.GetValue(Modes) ?? (viaIke ? defaultModes.Ike : keyPath is null ? defaultModes.None : defaultModes.Key);
        if (!SecurityModes.TryParseLetters(letters, out uint acceptable) || letters.Any(c => !_protocolLetters.Contains(char.ToUpperInvariant(c))))
        {
            return $"-A '{letters}': use the letters {string.Join(", ", _protocolLetters.ToCharArray())}.";
        }
        int packets = parse.GetValue(Count);
        if (packets < 1 || packets > maxPackets)
        {
            return $"-c must be between 1 and {maxPackets}.";
        }
        if (parse.GetValue(Dscp) > 63)
        {
            return "-D must be between 0 and 63.";
        }
        double timeoutSeconds = parse.GetValue(Timeout);
        if (!(timeoutSeconds > 0 && timeoutSeconds < 3600))
        {
            return "-L must be between 0 and 3600 seconds.";
        }
        if (ClientCredentials.TryLoad(keyPath, parse.GetValue(Identity), out string? user, out byte[]? secret) is string keyError)
        {
            return keyError;
        }
        values = new Values(acceptable, user, secret, packets, parse.GetValue(Dscp), TimeSpan.FromSeconds(timeoutSeconds), parse.GetValue(MaxCount), parse.GetValue(Json), viaIke);
        return null;
    }
}
