using System.CommandLine;
using System.Net;
using System.Net.Sockets;
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
        Dscp = new Option<string?>("-D", "--dscp") { Description = "DSCP for test packets: 0-63 (0x hex and 0 octal as owping reads them) or a name such as EF, AF41, CS5.", HelpName = "DSCP" };
        Timeout = new Option<double>("-L", "--timeout") { Description = "Seconds after which a packet not yet arrived is lost.", DefaultValueFactory = _ => 2.0 };
        Json = new Option<bool>("--json") { Description = "Print one JSON object on standard output instead of the report." };
        MaxCount = new Option<uint>("--max-pbkdf2-count") { Description = "Refuse servers asking for more PBKDF2 iterations than this.", DefaultValueFactory = _ => ControlHandshake.DefaultMaxCount };
        Verbose = new Option<bool>("-v", "--verbose") { Description = "Trace the control exchange on standard error: greeting modes, chosen mode, identity, every Accept value, session SIDs and ports. Never key material." };
        VeryVerbose = new Option<bool>("-vv") { Description = "As -v, plus the IKEv2 exchanges (with --ike)." };
        Source = new Option<string?>("-S", "--source") { Description = "Local address to send from (control connection and test packets)." };
        TestPorts = new Option<string>("-P", "--test-ports") { Description = "Local UDP ports for the test packets, LOW-HIGH, or 0 for the system's choice (as owping/twping -P).", HelpName = "LOW-HIGH|0", DefaultValueFactory = _ => DefaultTestPorts };
        IPv4 = new Option<bool>("-4") { Description = "Use IPv4 only (resolve HOST to an IPv4 address)." };
        IPv6 = new Option<bool>("-6") { Description = "Use IPv6 only (resolve HOST to an IPv6 address)." };
        Ike = IkeOptionSet.ForClient();
    }

    public Option<string?> Modes { get; }
    public Option<string?> Identity { get; }
    public Option<FileInfo?> KeyFile { get; }
    public Option<int> Count { get; }
    public Option<string?> Dscp { get; }
    public Option<double> Timeout { get; }
    public Option<bool> Json { get; }
    public Option<uint> MaxCount { get; }
    public Option<bool> Verbose { get; }
    public Option<bool> VeryVerbose { get; }
    public Option<string?> Source { get; }
    public Option<string> TestPorts { get; }
    public Option<bool> IPv4 { get; }

    /// <summary>owping's and twping's own default (owping.c): the range perfSONAR hosts open for test traffic.</summary>
    public const string DefaultTestPorts = "8760-9960";
    public Option<bool> IPv6 { get; }
    public IkeOptionSet Ike { get; }

    /// <summary>The options this set adds to a command, in help order; a tool adds its own beside them.</summary>
    public IEnumerable<Option> Options => [Modes, Identity, KeyFile, Count, Dscp, Timeout, Source, TestPorts, IPv4, IPv6, Json, MaxCount, Verbose, VeryVerbose];

    public void AddTo(Command command)
    {
        foreach (Option option in Options)
        {
            command.Add(option);
        }
        Ike.AddTo(command);
    }

    /// <summary>What the shared flags say, validated; the caller zeroes <see cref="Secret"/>.</summary>
    internal sealed record Values(uint AcceptableModes, string? Identity, byte[]? Secret, int Count, byte Dscp, TimeSpan Timeout, uint MaxCount, bool Json, bool ViaIke)
    {
        /// <summary>-S: the local address to bind to; null lets the kernel choose.</summary>
        public IPAddress? Source { get; init; }

        /// <summary>-P: the local test ports; null for the kernel's choice (-P 0).</summary>
        public Sessions.Server.PortRange? TestPorts { get; init; }

        /// <summary>-4 / -6: the only address family HOST may resolve to; null for either.</summary>
        public AddressFamily? Family { get; init; }

        /// <summary>0 quiet, 1 for -v (control exchange), 2 for -vv (and IKEv2).</summary>
        public int Verbosity { get; init; }

        /// <summary>Why protected modes were dropped from -A (no key), for the -v trace; null when none were.</summary>
        public string? ModeNote { get; init; }
    }

    /// <summary>0 quiet, 1 for -v, 2 for -vv.</summary>
    public int Verbosity(ParseResult parse) => parse.GetValue(VeryVerbose) ? 2 : parse.GetValue(Verbose) ? 1 : 0;

    /// <param name="defaultModes">-A without the flag: (with --ike, with -k, with neither).</param>
    /// <param name="embeddedServer">No HOST: the embedded server supplies a throwaway key for the protected modes.</param>
    public string? TryRead(ParseResult parse, (string Ike, string Key, string None) defaultModes, int maxPackets, bool embeddedServer, out Values? values)
    {
        values = null;
        string? keyPath = parse.GetValue(KeyFile)?.FullName;
        bool viaIke = parse.GetValue(Ike.Enable);
        string? identity = parse.GetValue(Identity);
        // -u without -k: as owping does, ask for the identity's passphrase (and default to the protected modes).
        bool askPassphrase = identity is not null && keyPath is null && !viaIke && !embeddedServer;
        string letters = parse.GetValue(Modes) ?? (viaIke ? defaultModes.Ike : keyPath is null && !askPassphrase ? defaultModes.None : defaultModes.Key);
        if (!SecurityModes.TryParseLetters(letters, out uint acceptable) || letters.Any(c => !_protocolLetters.Contains(char.ToUpperInvariant(c))))
        {
            return $"-A '{letters}': use the letters {string.Join(", ", _protocolLetters.ToCharArray())}.";
        }
        const uint open = (uint)SecurityMode.Open;
        // -u with an explicit open-only -A needs no passphrase.
        askPassphrase &= (acceptable & ~open) != 0;
        string? modeNote = null;
        if (viaIke && (acceptable & ~open) == 0)
        {
            return $"-A {letters} asks for open mode only, but --ike keys only the protected modes (A, E{(_protocolLetters.Contains('M') ? ", M" : "")}; RFC 7717 §5): drop --ike to measure in open mode, or use -A with a protected mode.";
        }
        if (!viaIke && keyPath is null && !askPassphrase && !embeddedServer && (acceptable & ~open) != 0)
        {
            if ((acceptable & open) == 0)
            {
                return $"-A {letters} needs a key: give -u IDENTITY -k KEYFILE (a perfSONAR .pfs file, see ippm keys add) or --ike, or add O to -A for open mode.";
            }
            // The strictest mode this client can use: without a key that is open mode, if the server offers it.
            acceptable = open;
            modeNote = $"-A {letters} without a key (-k) or --ike: only open mode is possible";
        }
        int packets = parse.GetValue(Count);
        if (packets < 1 || packets > maxPackets)
        {
            return $"-c must be between 1 and {maxPackets}.";
        }
        byte dscp = 0;
        if (parse.GetValue(Dscp) is string dscpText && !DscpParser.TryParse(dscpText, out dscp))
        {
            return $"-D '{dscpText}': use 0-63 (or 0x hex, 0 octal) or a name such as EF, AF41, CS5, DF.";
        }
        double timeoutSeconds = parse.GetValue(Timeout);
        if (!(timeoutSeconds > 0 && timeoutSeconds < 3600))
        {
            return "-L must be between 0 and 3600 seconds.";
        }
        if (parse.GetValue(IPv4) && parse.GetValue(IPv6))
        {
            return "-4 and -6 exclude each other.";
        }
        AddressFamily? family = parse.GetValue(IPv4) ? AddressFamily.InterNetwork : parse.GetValue(IPv6) ? AddressFamily.InterNetworkV6 : null;
        IPAddress? source = null;
        if (parse.GetValue(Source) is string sourceText)
        {
            if (!IPAddress.TryParse(sourceText.Trim('[', ']'), out source))
            {
                return $"-S '{sourceText}' is not an IP address.";
            }
            if (family is { } f && source.AddressFamily != f)
            {
                return $"-S {source} is not an {(f == AddressFamily.InterNetwork ? "IPv4" : "IPv6")} address, as -{(f == AddressFamily.InterNetwork ? "4" : "6")} asks.";
            }
            family ??= source.AddressFamily;
        }
        string portsText = parse.GetValue(TestPorts) ?? DefaultTestPorts;
        Sessions.Server.PortRange? testPorts = null;
        if (portsText != "0")
        {
            if (!Sessions.Server.PortRange.TryParse(portsText, out Sessions.Server.PortRange range))
            {
                return $"-P '{portsText}': use LOW-HIGH (1-65535) or 0 for the system's choice.";
            }
            testPorts = range;
        }
        // Last: from here on a passphrase copy exists and the caller must zero it.
        string? user = identity;
        byte[]? secret;
        if (askPassphrase)
        {
            secret = ConsolePassphrase.Read($"passphrase for {identity}: ", confirm: false, out string? passphraseError);
            if (secret is null)
            {
                return $"-u {identity} without -k: {passphraseError} (type the passphrase when asked, pipe it on standard input, or give -k KEYFILE).";
            }
        }
        else if (ClientCredentials.TryLoad(keyPath, identity, out user, out secret) is string keyError)
        {
            return keyError;
        }
        values = new Values(acceptable, user, secret, packets, dscp, TimeSpan.FromSeconds(timeoutSeconds), parse.GetValue(MaxCount), parse.GetValue(Json), viaIke)
        {
            Source = source,
            TestPorts = testPorts,
            Family = family,
            Verbosity = Verbosity(parse),
            ModeNote = modeNote,
        };
        return null;
    }
}
