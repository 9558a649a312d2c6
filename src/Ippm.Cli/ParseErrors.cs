using System.CommandLine;
using System.CommandLine.Parsing;

namespace Ippm.Cli;

/// <summary>
/// Command-line mistakes as one line and a hint (<c>see ippm twping --help</c>), instead of System.CommandLine's
/// message followed by the whole help page, and in the words of the option that was wrong.
/// </summary>
internal static class ParseErrors
{
    /// <summary>Reports the first mistake and returns <see cref="ExitCodes.Usage"/>, or null when there is none.</summary>
    public static int? TryReport(ParseResult parse)
    {
        string? message = FindUnknownOption(parse) ?? (parse.Errors.Count > 0 ? Describe(parse.Errors[0]) : null);
        if (message is null)
        {
            return null;
        }
        int code = CliErrors.Fail(message, ExitCodes.Usage);
        Console.Error.WriteLine($"see {CommandPath(parse.CommandResult)} --help");
        return code;
    }

    /// <summary>
    /// System.CommandLine takes a token such as <c>--bogus</c> for the HOST argument when it matches no option;
    /// no host name starts with '-', so such a token is an unknown option.
    /// </summary>
    private static string? FindUnknownOption(ParseResult parse)
    {
        IEnumerable<string> candidates = parse.UnmatchedTokens.Concat(
            parse.CommandResult.Children.OfType<ArgumentResult>().SelectMany(a => a.Tokens).Select(t => t.Value));
        string? unknown = candidates.FirstOrDefault(t => t.Length > 1 && t[0] == '-');
        return unknown is null ? null : $"unknown option '{unknown}'";
    }

    private static string Describe(ParseError error)
    {
        OptionResult? option = null;
        for (SymbolResult? s = error.SymbolResult; s is not null && option is null; s = s.Parent)
        {
            option = s as OptionResult;
        }
        if (option is null)
        {
            return FirstLine(error.Message);
        }
        string name = option.IdentifierToken?.Value ?? option.Option.Name;
        string? value = option.Tokens.Count > 0 ? option.Tokens[0].Value : null;
        if (value is null)
        {
            return $"{name} expects a value";
        }
        Type type = Nullable.GetUnderlyingType(option.Option.ValueType) ?? option.Option.ValueType;
        string? expected = type == typeof(int) || type == typeof(uint) || type == typeof(long) || type == typeof(byte) || type == typeof(ushort)
            ? "a whole number"
            : type == typeof(double) ? "a number"
            : type.IsEnum ? "one of " + string.Join(", ", Enum.GetNames(type))
            : null;
        return expected is null ? $"{name} '{value}': {FirstLine(error.Message)}" : $"{name} expects {expected}, not '{value}'";
    }

    private static string FirstLine(string text)
    {
        int newline = text.IndexOf('\n', StringComparison.Ordinal);
        return (newline < 0 ? text : text[..newline]).TrimEnd();
    }

    private static string CommandPath(CommandResult command)
    {
        var names = new List<string>();
        for (SymbolResult? s = command; s is not null; s = s.Parent)
        {
            if (s is CommandResult c)
            {
                names.Add(c.Parent is null ? "ippm" : c.Command.Name);
            }
        }
        names.Reverse();
        return string.Join(' ', names);
    }
}
