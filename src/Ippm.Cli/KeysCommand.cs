using System.CommandLine;
using System.Security.Cryptography;
using System.Text;
using Ippm.Security;

namespace Ippm.Cli;

/// <summary>
/// <c>ippm keys add -f FILE IDENTITY</c>: perfSONAR's <c>pfstore</c>. Writes the identity's line
/// (<c>identity TAB hex-of-passphrase LF</c>, as I2util's I2WritePFLine) into a <c>.pfs</c> file, in place of an
/// existing line for the same identity, keeping every other line as it was. The new file is written under a
/// temporary name created exclusively with mode 0600 and renamed over the old one, so a reader never sees half a file.
/// </summary>
internal static class KeysCommand
{
    public static Command Create()
    {
        var file = new Option<FileInfo>("-f", "--file") { Description = "The .pfs key file to create or update.", Required = true };
        var identity = new Argument<string>("identity") { Description = "The identity (KeyID, at most 80 octets of UTF-8) whose passphrase to store." };
        var add = new Command("add", "Store IDENTITY's passphrase in a .pfs file (perfSONAR pfstore): asked for on the terminal, or read as the first line of standard input.") { file, identity };
        add.SetAction(parse => Add(parse.GetValue(file)!, parse.GetValue(identity)!));
        return new Command("keys", "Manage perfSONAR .pfs key files.") { add };
    }

    private static int Add(FileInfo file, string identity)
    {
        if (identity.Length == 0 || identity.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c == '#') || Encoding.UTF8.GetByteCount(identity) > 80)
        {
            return CliErrors.Fail($"identity '{identity}': use at most 80 octets, no whitespace or '#' (a .pfs line is 'identity hex').", ExitCodes.Usage);
        }
        byte[]? passphrase = ConsolePassphrase.Read($"passphrase for {identity}: ", confirm: true, out string? error);
        if (passphrase is null)
        {
            return CliErrors.Fail($"{error}; nothing stored.", ExitCodes.Usage);
        }
        try
        {
            string text = file.Exists ? File.ReadAllText(file.FullName) : "";
            // Refuse to rewrite a file ippm could not read back: its other lines would be kept as they are.
            KeyFile.Parse(text, file.FullName).Dispose();
            string updated = Replace(text, identity, KeyFile.FormatLine(identity, passphrase));
            WriteAtomically(file.FullName, updated);
            Console.Error.WriteLine($"ippm: stored the passphrase of '{identity}' in {file.FullName}");
            return ExitCodes.Success;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return CliErrors.Fail($"cannot update {file.FullName}: {e.Message}", ExitCodes.Usage);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(passphrase);
        }
    }

    /// <summary>The file with <paramref name="line"/> in place of the identity's line (or appended), other lines untouched.</summary>
    internal static string Replace(string text, string identity, string line)
    {
        var lines = new List<string>(text.Length == 0 ? [] : text.TrimEnd('\n').Split('\n'));
        int at = lines.FindIndex(l => IdentityOf(l) == identity);
        if (at < 0)
        {
            lines.Add(line);
        }
        else
        {
            lines[at] = line;
            // A file may name an identity twice (the last line wins when read); keep only the new one.
            for (int i = lines.Count - 1; i > at; i--)
            {
                if (IdentityOf(lines[i]) == identity)
                {
                    lines.RemoveAt(i);
                }
            }
        }
        return string.Join('\n', lines) + "\n";
    }

    private static string? IdentityOf(string line)
    {
        int hash = line.IndexOf('#', StringComparison.Ordinal);
        string[] fields = (hash >= 0 ? line[..hash] : line).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        return fields.Length > 0 ? fields[0] : null;
    }

    private static void WriteAtomically(string path, string text)
    {
        string directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        string temporary = Path.Combine(directory, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{RandomNumberGenerator.GetHexString(8, lowercase: true)}.tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        try
        {
            using (var stream = new FileStream(temporary, options))
            {
                stream.Write(Encoding.UTF8.GetBytes(text));
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }
}
