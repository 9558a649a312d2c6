using Ippm.Sessions.Twamp;
using Ippm.Wire;

namespace Ippm.Agent;

/// <summary>The protocol a test measures with.</summary>
public enum TestProtocol
{
    Twamp,
    Owamp,
}

/// <summary>Which OWAMP directions a test measures (owping's default, <c>-t</c>, <c>-f</c>).</summary>
public enum OwampDirection
{
    Both,
    To,
    From,
}

/// <summary>
/// One <c>[test NAME]</c> section of the agent's configuration, checked and complete. <see cref="Fingerprint"/> is what a
/// reload compares: a test whose fingerprint did not change keeps running undisturbed.
/// </summary>
public sealed record AgentTest
{
    public required string Name { get; init; }

    /// <summary>The target as configured (HOST[:PORT]); the archive's <c>target</c>.</summary>
    public required string Target { get; init; }

    public required string Host { get; init; }
    public required int Port { get; init; }
    public required TestProtocol Protocol { get; init; }
    public OwampDirection Direction { get; init; } = OwampDirection.Both;
    public required SecurityMode Mode { get; init; }
    public string? Identity { get; init; }

    /// <summary>The passphrase read from the key file; owned by the agent's test runner, which zeroes it when the test stops.</summary>
    public byte[]? Secret { get; init; }

    /// <summary>RFC 7717: the IKEv2 pre-shared key (from <c>ike-psk-file</c>) an SA is made with before each session; zeroed when the test stops.</summary>
    public byte[]? IkePsk { get; init; }

    /// <summary>Who the IKE responder must be (<c>ike-remote-id</c>; default the target's host, as twping --ike).</summary>
    public string? IkeRemoteId { get; init; }

    public string? IkeLocalId { get; init; }
    public int IkePort { get; init; } = 500;

    public int Count { get; init; } = 100;
    public SendSchedule Interval { get; init; } = new(0.1, Exponential: true);
    public int? Padding { get; init; }
    public byte Dscp { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(2);
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Time between session starts; a session longer than this is followed at once by the next.</summary>
    public TimeSpan Every { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Start the next session as the previous one ends (powstream), ignoring <see cref="Every"/>.</summary>
    public bool BackToBack { get; init; }

    /// <summary>Where the test was defined (file:line of its section), for log lines.</summary>
    public required string Where { get; init; }

    /// <summary>The section's settings in a canonical form plus a digest of the key file's contents.</summary>
    public required string Fingerprint { get; init; }

    public string ProtocolLabel => Protocol == TestProtocol.Twamp ? "twamp" : "owamp";

    public string ModeLabel => Mode switch
    {
        SecurityMode.Authenticated => "authenticated",
        SecurityMode.Encrypted => "encrypted",
        SecurityMode.Mixed => "mixed",
        _ => "open",
    };

    public string DirectionLabel => Direction switch
    {
        OwampDirection.To => "to",
        OwampDirection.From => "from",
        _ => "both",
    };
}

/// <summary>The archive's place, rotation and the per-packet switch (the file's global section).</summary>
public sealed record ArchiveSettings
{
    public required string Path { get; init; }

    /// <summary>Rotate when the current file would grow beyond this many octets.</summary>
    public long MaxBytes { get; init; } = 100L << 20;

    /// <summary>Rotate when the current file's first line is older than this.</summary>
    public TimeSpan MaxAge { get; init; } = TimeSpan.FromDays(1);

    /// <summary>Rotated files kept (<c>PATH.1</c> … <c>PATH.N</c>, 1 the newest); older ones are deleted.</summary>
    public int Keep { get; init; } = 7;

    /// <summary>Write per-packet records to <see cref="PacketsPath"/>.</summary>
    public bool Packets { get; init; }

    /// <summary><c>DIR/NAME.packets.jsonl</c> beside an archive <c>DIR/NAME.jsonl</c>.</summary>
    public string PacketsPath => System.IO.Path.Combine(
        System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(Path)) ?? ".",
        System.IO.Path.GetFileNameWithoutExtension(Path) + ".packets.jsonl");
}

/// <summary>The whole configuration file.</summary>
public sealed record AgentConfig
{
    public required ArchiveSettings Archive { get; init; }

    /// <summary>First wait after a failed attempt; doubled after each further failure up to <see cref="RetryMax"/>.</summary>
    public TimeSpan RetryInitial { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan RetryMax { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary><c>metrics-listen</c> from the file (the command line wins); read at start only.</summary>
    public string? MetricsListen { get; init; }

    public required IReadOnlyList<AgentTest> Tests { get; init; }
}
