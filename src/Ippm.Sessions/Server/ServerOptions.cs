using System.Net;
using Ippm.Security;
using Ippm.Wire;

namespace Ippm.Sessions.Server;

/// <summary>What an O/TWAMP server offers and how much it lets a client ask for.</summary>
public sealed partial class ServerOptions
{
    public IPEndPoint? TwampListen { get; set; }

    public IPEndPoint? OwampListen { get; set; }

    /// <summary>Security modes offered (bits of <see cref="SecurityMode"/>); mixed is dropped for OWAMP.</summary>
    public uint Modes { get; set; } = (uint)(SecurityMode.Open | SecurityMode.Authenticated | SecurityMode.Encrypted | SecurityMode.Mixed);

    /// <summary>
    /// TWAMP feature bits offered beside the security modes: RFC 5938 Individual Session Control (16), RFC 6038
    /// Reflect Octets (32) and Symmetrical Size (64), RFC 7750 DSCP and ECN Monitoring (256). All by default; clients
    /// that do not set them (perfSONAR) see RFC 5357 behaviour.
    /// </summary>
    public uint TwampFeatures { get; set; } = SecurityModes.TwampFeatureBits;

    /// <summary>Identities and passphrases for the authenticated, encrypted and mixed modes.</summary>
    public KeyFile? Keys { get; set; }

    /// <summary>
    /// RFC 7717: the IKE layer's lookup of an SA by SPIi/SPIr. When set, the IKEv2-derived-key mode bit is offered
    /// (TWAMP 128, OWAMP 16) and clients may key the control connection from an IKE SA instead of a passphrase.
    /// </summary>
    public Ippm.Sessions.Control.Rfc7717SecretLookup? IkeSecrets { get; set; }

    /// <summary>PBKDF2 Count in Server-Greeting (RFC 4656 §3.1: at least 1024). The reference default is 2048.</summary>
    public uint Pbkdf2Count { get; set; } = 2048;

    /// <summary>
    /// Test ports; a requested port inside the range is honoured when free. The default lies in the IANA dynamic range
    /// and above Linux's default ephemeral range, so no client can make the server bind a service port (4500, 5353, 1812).
    /// </summary>
    public PortRange? TestPorts { get; set; } = PortRange.DefaultTestPorts;

    /// <summary>
    /// TWAMP sessions share reflector ports (<see cref="Twamp.SharedReflectorPorts"/>) once the process's session engine
    /// carries this many sessions; below it each gets a connected socket of its own, which is faster for one fast
    /// session (the kernel caches its route and demultiplexes it early). Negative: never share. The environment
    /// variable <c>IPPM_SHARED_TEST_PORTS</c> (a number, or <c>never</c>) overrides the default.
    /// </summary>
    public int SharedTestPortsFrom { get; set; } = Twamp.SharedReflectorPorts.ConfiguredFrom;

    /// <summary>
    /// How long a new connection may take to send its Set-Up-Response (the pre-authentication deadline), and a
    /// command to arrive whole once its first block has.
    /// </summary>
    public TimeSpan SetupTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>SERVWAIT (RFC 5357 §3.1): idle control connections are closed after this, except while sessions run.</summary>
    public TimeSpan ServWait { get; set; } = TimeSpan.FromSeconds(900);

    /// <summary>REFWAIT (RFC 5357 §4.2): a started reflector with no test packet for this long stops.</summary>
    public TimeSpan RefWait { get; set; } = TimeSpan.FromSeconds(900);

    /// <summary>
    /// Simultaneous control connections; more are refused at once. Room for a measurement mesh whose peers (perfSONAR's
    /// twping and powstream) open one connection per session: 2 000 sessions from 32 hosts (README, "Limits and fairness").
    /// A connection costs a socket and a few KiB, no thread.
    /// </summary>
    public int MaxConnections { get; set; } = 2048;

    /// <summary>Sessions one control connection may request.</summary>
    public int MaxSessionsPerConnection { get; set; } = 16;

    /// <summary>Packets one OWAMP session may schedule; received records are kept in memory up to this.</summary>
    public uint MaxPacketsPerSession { get; set; } = 1_000_000;

    /// <summary>
    /// Where completed OWAMP receive sessions are stored (<c>&lt;SID&gt;.owp</c>, mode 0600) for Fetch-Session,
    /// also from later control connections; null keeps them in memory until the control connection closes.
    /// </summary>
    public string? DataDirectory { get; set; }

    /// <summary>Size limit of <see cref="DataDirectory"/>: the oldest files are deleted to make room.</summary>
    public long DataDirectoryLimitBytes { get; set; } = 1L << 30;

    /// <summary>
    /// Packets all OWAMP sessions of the whole server may schedule at once: every scheduled packet costs memory
    /// (its send offset, and its record when received). Above it, Request-Session gets Accept=5.
    /// </summary>
    public long MaxScheduledPackets { get; set; } = 8_000_000;

    /// <summary>
    /// Let a client name test addresses other than its own control address (a reflector or sender for a third host).
    /// Off by default: an OWAMP server would otherwise send test streams at any address an anonymous client names.
    /// </summary>
    public bool AllowThirdPartyTestAddresses { get; set; }

    /// <summary>Fetch-Session responses the server prepares at once (each holds a session's records in memory).</summary>
    public int MaxConcurrentFetches { get; set; } = 4;

    private PacketBudget? _packetBudget;
    private SemaphoreSlim? _fetchSlots;

    internal SemaphoreSlim FetchSlots => LazyInitializer.EnsureInitialized(ref _fetchSlots, () => new SemaphoreSlim(Math.Max(1, MaxConcurrentFetches)));

    /// <summary>The server-wide account of <see cref="MaxScheduledPackets"/>.</summary>
    internal PacketBudget PacketBudget => LazyInitializer.EnsureInitialized(ref _packetBudget, () => new PacketBudget(MaxScheduledPackets));

    /// <summary>Schedule slots one OWAMP Request-Session may carry.</summary>
    public uint MaxScheduleSlots { get; set; } = 1024;

    /// <summary>Largest Padding Length accepted: a test packet must fit a UDP datagram.</summary>
    public uint MaxPaddingLength { get; set; } = 65000;

    /// <summary>Largest Timeout a client may ask for (how long a reflector lingers after Stop-Sessions).</summary>
    public TimeSpan MaxSessionTimeout { get; set; } = TimeSpan.FromSeconds(60);

    // Limits and fairness: per-source shares of the server-wide limits (README, "Limits and fairness").

    /// <summary>
    /// Control connections one source address may hold; null: a sixteenth of <see cref="MaxConnections"/>, at least 4
    /// (128 by default: as many as <see cref="MaxSessionsPerSource"/>, so a peer opening one connection per session is
    /// held by its session share, and sixteen addresses are needed to fill the server).
    /// </summary>
    public int? MaxConnectionsPerSource { get; set; }

    internal int EffectiveMaxConnectionsPerSource => MaxConnectionsPerSource ?? Math.Max(4, MaxConnections / 16);

    /// <summary>Test sessions (TWAMP reflectors, OWAMP sessions) one source address may hold over all its connections.</summary>
    public int MaxSessionsPerSource { get; set; } = 128;

    /// <summary>Reflector buffer memory one source address may hold over all its sessions, in octets.</summary>
    public long MaxMemoryPerSource { get; set; } = 64L << 20;

    /// <summary>
    /// OWAMP packets one source address (or, on authenticated connections, one identity) may schedule at once;
    /// null: a quarter of <see cref="MaxScheduledPackets"/>.
    /// </summary>
    public long? MaxScheduledPacketsPerSource { get; set; }

    internal long EffectiveMaxScheduledPacketsPerSource => MaxScheduledPacketsPerSource ?? Math.Max(1, MaxScheduledPackets / 4);

    /// <summary>How far in the future an OWAMP session's Start Time may be; later ones get Accept=4.</summary>
    public TimeSpan MaxStartDelay { get; set; } = TimeSpan.FromSeconds(300);

    /// <summary>How far ahead an OWAMP session's last scheduled packet may be (start delay included); later ones get Accept=4.</summary>
    public TimeSpan MaxSessionDuration { get; set; } = TimeSpan.FromDays(1);

    /// <summary>An open-mode (unauthenticated) control connection is closed after this long, whatever it does.</summary>
    public TimeSpan OpenModeLifetime { get; set; } = TimeSpan.FromSeconds(3600);

    /// <summary>While the server holds 3/4 of <see cref="MaxConnections"/>, an idle open-mode connection is closed after this instead of SERVWAIT.</summary>
    public TimeSpan OpenModeIdleUnderPressure { get; set; } = TimeSpan.FromSeconds(30);

    private Fairness.ServerShares? _shares;

    /// <summary>The per-source accounts of these options' limits (one per server).</summary>
    internal Fairness.ServerShares Shares => LazyInitializer.EnsureInitialized(ref _shares, () => new Fairness.ServerShares(this));
}
