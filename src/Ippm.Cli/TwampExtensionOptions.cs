using System.CommandLine;
using System.Globalization;
using Ippm.Sessions.Twamp;
using Ippm.Wire;

namespace Ippm.Cli;

/// <summary>
/// twping's flags for the TWAMP extensions (RFC 5938 sessions, RFC 6038 reflect octets and symmetrical size, RFC 7750
/// ECN): defined apart from twping's own flags, each used only when the server offers the feature.
/// </summary>
internal sealed class TwampExtensionOptions
{
    public Option<int> Sessions { get; } = new("--sessions") { Description = "Test sessions on the one control connection; with RFC 5938 each is started and stopped on its own.", DefaultValueFactory = _ => 1 };
    public Option<double> Stagger { get; } = new("--stagger") { Description = "Seconds between the starts of consecutive sessions (RFC 5938).", DefaultValueFactory = _ => 0.0 };
    public Option<string?> SessionDscps { get; } = new("--session-dscp") { Description = "Comma list of DSCPs, one per session (others use -D)." };
    public Option<string?> SessionPaddings { get; } = new("--session-padding") { Description = "Comma list of padding lengths, one per session (others use -s)." };
    public Option<bool> Symmetrical { get; } = new("--symmetrical-size") { Description = "Ask for RFC 6038 Symmetrical Size: the sender's header grows to the reflector's." };
    public Option<int> ReflectOctets { get; } = new("--reflect-octets") { Description = "RFC 6038: octets of the padding the reflector returns at the start of its padding." };
    public Option<int> ReflectPadding { get; } = new("--reflect-padding") { Description = "RFC 6038: padding length of the reflector's replies." };
    public Option<int> Ecn { get; } = new("--ecn") { Description = "ECN codepoint of test packets: 0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE." };
    public Option<bool> NoFeatures { get; } = new("--no-extensions") { Description = "Ask for no TWAMP feature bit (behave as RFC 5357 twping)." };

    public void AddTo(Command command)
    {
        foreach (Option option in new Option[] { Sessions, Stagger, SessionDscps, SessionPaddings, Symmetrical, ReflectOctets, ReflectPadding, Ecn, NoFeatures })
        {
            command.Add(option);
        }
    }

    /// <summary>Applies the flags; returns an error message for bad values.</summary>
    public string? Apply(ParseResult parse, TwpingOptions options, out TwpingOptions applied)
    {
        applied = options;
        int sessions = parse.GetValue(Sessions);
        if (sessions is < 1 or > 16)
        {
            return "--sessions must be between 1 and 16.";
        }
        double stagger = parse.GetValue(Stagger);
        if (!(stagger >= 0 && stagger <= 3600))
        {
            return "--stagger must be between 0 and 3600 seconds.";
        }
        if (!TryList(parse.GetValue(SessionDscps), 63, out List<int>? dscps))
        {
            return "--session-dscp: comma list of DSCPs 0-63.";
        }
        if (!TryList(parse.GetValue(SessionPaddings), 65000, out List<int>? paddings))
        {
            return "--session-padding: comma list of padding lengths 0-65000.";
        }
        int reflect = parse.GetValue(ReflectOctets), reflectPadding = parse.GetValue(ReflectPadding), ecn = parse.GetValue(Ecn);
        if (reflect is < 0 or > 65000 || reflectPadding is < 0 or > 65000)
        {
            return "--reflect-octets and --reflect-padding must be between 0 and 65000.";
        }
        if (ecn is < 0 or > 3)
        {
            return "--ecn must be 0, 1, 2 or 3.";
        }
        uint features = parse.GetValue(NoFeatures) ? 0 : options.WantedFeatures;
        if (parse.GetValue(Symmetrical))
        {
            features |= (uint)TwampModes.SymmetricalSize;
        }
        applied = options with
        {
            Sessions = sessions,
            Stagger = TimeSpan.FromSeconds(stagger),
            SessionDscps = dscps?.Select(d => (byte)d).ToArray(),
            SessionPaddings = paddings,
            WantedFeatures = features,
            ReflectOctets = (ushort)reflect,
            PaddingToReflect = (ushort)reflectPadding,
            Ecn = (byte)ecn,
        };
        return null;
    }

    private static bool TryList(string? text, int max, out List<int>? values)
    {
        values = null;
        if (text is null)
        {
            return true;
        }
        values = [];
        foreach (string part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int v) || v > max)
            {
                return false;
            }
            values.Add(v);
        }
        return values.Count > 0;
    }
}
