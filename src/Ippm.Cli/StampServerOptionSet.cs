using System.CommandLine;
using Ippm.Security;
using Ippm.Sessions.Stamp;
using Ippm.Wire.Stamp;
using Microsoft.Extensions.Logging;

namespace Ippm.Cli;

/// <summary>The <c>ippm server</c> flags of the STAMP / TWAMP-Light Session-Reflector (RFC 8762, RFC 8972, RFC 5357 Appendix I).</summary>
internal sealed class StampServerOptionSet
{
    public Option<string?> Listen { get; } = new("--stamp-listen") { Description = "STAMP / TWAMP-Light reflector UDP address ADDR:PORT (port 862 by default, e.g. 127.0.0.1:862, [::1]:862, :862 for all)." };
    public Option<FileInfo?> Keys { get; } = new("--stamp-keys") { Description = "STAMP keys: lines 'PEER hex-key', PEER an address, a prefix or * (.pfs format). Matching peers use authenticated mode." };
    public Option<bool> Stateless { get; } = new("--stamp-stateless") { Description = "Copy each sender's sequence numbers instead of keeping per-session state (RFC 8762 §4.3.1)." };
    public Option<bool> AnswerShort { get; } = new("--stamp-answer-short") { Description = "Answer packets shorter than 44 octets with a 44-octet base packet as RFC 8762 §4.6 says (sends more than arrived). Off: counted and dropped." };
    public Option<bool> Ptp { get; } = new("--stamp-ptp") { Description = "Reflector timestamps in PTPv2 truncated format (Z = 1, RFC 8762 §4.2.1) instead of NTP format." };
    public Option<int> MaxSessions { get; } = new("--stamp-max-sessions") { Description = "Sessions the stateful reflector keeps at once; packets of further sessions are answered statelessly.", DefaultValueFactory = _ => 65536 };

    public void AddTo(Command command)
    {
        command.Add(Listen);
        command.Add(Keys);
        command.Add(Stateless);
        command.Add(AnswerShort);
        command.Add(MaxSessions);
        command.Add(Ptp);
    }

    public bool Requested(ParseResult parse) => parse.GetValue(Listen) is not null;

    /// <summary>Starts the reflector, or returns an error message. The caller disposes what it gets.</summary>
    public string? TryStart(ParseResult parse, ILoggerFactory logs, out StampReflector? reflector, out StampKeyStore? keys)
    {
        reflector = null;
        keys = null;
        string text = parse.GetValue(Listen)!;
        if (!EndpointParser.TryParseListen(text, StampLayout.DefaultPort, out System.Net.IPEndPoint? endPoint))
        {
            return $"--stamp-listen '{text}' is not ADDR:PORT.";
        }
        if (parse.GetValue(MaxSessions) < 1)
        {
            return "--stamp-max-sessions must be at least 1.";
        }
        if (parse.GetValue(Keys) is FileInfo file)
        {
            try
            {
                using KeyFile keyFile = KeyFile.Load(file.FullName);
                keys = new StampKeyStore(keyFile);
            }
            catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
            {
                return $"cannot read STAMP key file: {e.Message}";
            }
        }
        try
        {
            reflector = new StampReflector(
                new StampReflectorOptions
                {
                    Listen = endPoint!,
                    Keys = keys,
                    Stateful = !parse.GetValue(Stateless),
                    AnswerShortPackets = parse.GetValue(AnswerShort),
                    MaxSessions = parse.GetValue(MaxSessions),
                    PtpTimestamps = parse.GetValue(Ptp),
                },
                logs.CreateLogger("Ippm.Stamp"));
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or PlatformNotSupportedException)
        {
            keys?.Dispose();
            keys = null;
            return $"cannot listen for STAMP on {endPoint}: {e.Message}";
        }
        reflector.Start();
        logs.CreateLogger("Ippm.Stamp").LogInformation("STAMP / TWAMP-Light reflector listening on {EndPoint} ({Mode})", reflector.LocalEndPoint, parse.GetValue(Stateless) ? "stateless" : "stateful");
        return null;
    }
}
