using System.CommandLine;
using System.CommandLine.Help;
using System.Text;
using System.Text.RegularExpressions;

namespace Ippm.Cli;

/// <summary>
/// <c>ippm --help</c>. System.CommandLine lists a command's argument as <c>&lt;host&gt;</c> in the command list even when
/// it is optional (its usage line does say <c>[&lt;host&gt;]</c>); twping and owping without HOST measure against an
/// embedded server, so the list shows the host as optional and the columns are realigned.
/// </summary>
internal static partial class RootHelp
{
    public static bool IsRootHelp(ParseResult parse) => parse.Action is HelpAction && parse.CommandResult.Parent is null;

    public static int Write(ParseResult parse)
    {
        var captured = new StringWriter();
        parse.Invoke(new InvocationConfiguration { Output = captured });
        Console.Out.Write(MarkOptionalArguments(captured.ToString(), parse.RootCommandResult.Command));
        return ExitCodes.Success;
    }

    internal static string MarkOptionalArguments(string help, Command root)
    {
        string[] lines = help.Split('\n');
        int start = Array.FindIndex(lines, l => l.TrimEnd() == "Commands:");
        if (start < 0)
        {
            return help;
        }
        int end = start + 1;
        var rows = new List<(string Label, string Description)>();
        while (end < lines.Length && Row().Match(lines[end]) is { Success: true } m)
        {
            string label = m.Groups["label"].Value;
            Command? command = root.Subcommands.FirstOrDefault(c => label.StartsWith(c.Name + " ", StringComparison.Ordinal));
            foreach (Argument argument in command?.Arguments ?? [])
            {
                if (argument.Arity.MinimumNumberOfValues == 0)
                {
                    label = label.Replace($"<{argument.Name}>", $"[<{argument.Name}>]", StringComparison.Ordinal);
                }
            }
            rows.Add((label, m.Groups["description"].Value));
            end++;
        }
        int width = rows.Count == 0 ? 0 : rows.Max(r => r.Label.Length);
        var b = new StringBuilder();
        for (int i = 0; i < lines.Length; i++)
        {
            string line = i > start && i < end ? $"  {rows[i - start - 1].Label.PadRight(width)}  {rows[i - start - 1].Description}" : lines[i];
            b.Append(line);
            if (i < lines.Length - 1)
            {
                b.Append('\n');
            }
        }
        return b.ToString();
    }

    [GeneratedRegex(@"^  (?<label>\S(?:\S| (?! ))*)  +(?<description>.*)$")]
    private static partial Regex Row();
}
