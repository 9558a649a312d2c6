using System.CommandLine;
using System.CommandLine.Parsing;
using Ippm.Policy;
using Ippm.Service;

namespace Ippm.Cli;

/// <summary>
/// Merges <c>--config FILE</c> and <c>--perfsonar-config DIR</c> into the command line: each setting becomes the flag of
/// the same name unless that flag was given, so flags override the ippm file, which overrides the perfSONAR directory.
/// The merged arguments are parsed again by the same command, so a file value is checked exactly as a flag would be.
/// Called again on every reload.
/// </summary>
internal sealed class ServerConfigSources(
    Command command, ParseResult original, Option<FileInfo?> config, Option<DirectoryInfo?> perfsonar,
    Option<FileInfo?> pfs, Option<FileInfo?> owampLimits, Option<FileInfo?> twampLimits)
{
    private static readonly string[] s_notInFile = ["config", "perfsonar-config", "help"];

    /// <returns>Null, or the reason (with file:line) the files cannot be used.</returns>
    public string? TryMerge(out ParseResult merged, out IReadOnlyList<string> notes)
    {
        merged = original;
        var said = new List<string>();
        notes = said;
        FileInfo? configFile = original.GetValue(config);
        DirectoryInfo? perfsonarDirectory = original.GetValue(perfsonar);
        if (configFile is null && perfsonarDirectory is null)
        {
            return null;
        }
        List<string> args = [.. original.Tokens.Where(t => t.Type != TokenType.Command).Select(t => t.Value)];
        var given = new HashSet<string>(command.Options.Where(o => original.GetResult(o) is { Implicit: false }).Select(o => o.Name.TrimStart('-')), StringComparer.Ordinal);
        try
        {
            if (configFile is not null)
            {
                foreach (ConfigEntry entry in ServerConfigFile.Load(configFile.FullName))
                {
                    if (Add(entry, args, given) is string error)
                    {
                        return error;
                    }
                }
            }
            if (perfsonarDirectory is not null)
            {
                PerfsonarDirectory directory = PerfsonarDirectory.Load(perfsonarDirectory.FullName);
                foreach (ConfigEntry entry in directory.Entries)
                {
                    if (Add(entry, args, given) is string error)
                    {
                        return error;
                    }
                }
                AddPath(pfs, directory.KeyFiles.FirstOrDefault(), args, given);
                AddPath(owampLimits, directory.OwampLimits, args, given);
                AddPath(twampLimits, directory.TwampLimits, args, given);
                if (directory.KeyFiles.Count > 1)
                {
                    said.Add($"perfSONAR: using {directory.KeyFiles[0]}; also present and not read: {string.Join(", ", directory.KeyFiles.Skip(1))}");
                }
                foreach (ConfigEntry ignored in directory.Ignored)
                {
                    said.Add($"{ignored.Where}: '{ignored.Key}' is a daemon setting systemd takes care of for ippm; ignored");
                }
            }
        }
        catch (PolicyFormatException e)
        {
            return e.Message;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return e.Message;
        }
        merged = command.Parse(args);
        if (merged.Errors.Count > 0)
        {
            return string.Join("; ", merged.Errors.Select(e => e.Message));
        }
        return null;
    }

    private string? Add(ConfigEntry entry, List<string> args, HashSet<string> given)
    {
        Option? option = command.Options.FirstOrDefault(o => o.Name == "--" + entry.Key);
        if (option is null || Array.IndexOf(s_notInFile, entry.Key) >= 0)
        {
            return $"{entry.Where}: unknown key '{entry.Key}' (keys are the flags of 'ippm server --help' without '--')";
        }
        if (!given.Add(entry.Key))
        {
            return null;
        }
        if (option.ValueType == typeof(bool))
        {
            switch (entry.Value?.ToLowerInvariant())
            {
                case "true" or "on" or "yes":
                    args.Add(option.Name);
                    break;
                case "false" or "off" or "no":
                    break;
                default:
                    return $"{entry.Where}: '{entry.Key}' expects true or false, found '{entry.Value}'";
            }
            return null;
        }
        args.Add(option.Name);
        args.Add(entry.Value ?? "");
        // Check the value now, so that the error names the file and line rather than a flag the user never typed.
        ParseResult check = command.Parse([option.Name, entry.Value ?? ""]);
        ParseError? error = check.Errors.FirstOrDefault(e => e.Message.Contains(option.Name, StringComparison.Ordinal) || e.Message.Contains(entry.Value ?? "\0", StringComparison.Ordinal));
        return error is null ? null : $"{entry.Where}: {entry.Key}: {error.Message}";
    }

    private static void AddPath(Option option, string? path, List<string> args, HashSet<string> given)
    {
        if (path is not null && given.Add(option.Name.TrimStart('-')))
        {
            args.Add(option.Name);
            args.Add(path);
        }
    }
}
