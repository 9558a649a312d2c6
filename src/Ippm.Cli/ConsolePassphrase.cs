using System.Text;

namespace Ippm.Cli;

/// <summary>
/// A passphrase from the user, as raw UTF-8 octets (pfstore and owping hex-encode or use strlen() octets): typed without
/// echo on a terminal, else the first line of standard input (for scripts).
/// </summary>
internal static class ConsolePassphrase
{
    /// <summary>Null when nothing was given (end of input or an empty line); <paramref name="error"/> says why.</summary>
    public static byte[]? Read(string prompt, bool confirm, out string? error)
    {
        error = null;
        string? text;
        if (Console.IsInputRedirected)
        {
            text = Console.In.ReadLine();
        }
        else
        {
            text = Prompt(prompt);
            if (confirm && text is not null && Prompt("again: ") != text)
            {
                error = "the passphrases differ";
                return null;
            }
        }
        if (string.IsNullOrEmpty(text))
        {
            error = "empty passphrase";
            return null;
        }
        return Encoding.UTF8.GetBytes(text);
    }

    private static string? Prompt(string prompt)
    {
        Console.Error.Write(prompt);
        var typed = new StringBuilder();
        while (true)
        {
            ConsoleKeyInfo key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter)
            {
                Console.Error.WriteLine();
                return typed.ToString();
            }
            if (key.Key == ConsoleKey.Backspace)
            {
                if (typed.Length > 0)
                {
                    typed.Length--;
                }
            }
            else if (!char.IsControl(key.KeyChar))
            {
                typed.Append(key.KeyChar);
            }
        }
    }
}
