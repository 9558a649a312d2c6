using System.Text;

namespace Ippm.Policy;

/// <summary>
/// The line discipline of perfSONAR's configuration files (owampd.limits(5), owampd.conf(5)): blank lines and lines whose
/// first non-blank character is <c>#</c> are comments; a <c>\</c> immediately before the newline continues the line and
/// is the only place a backslash may appear. Each logical line carries the number of the physical line it starts on.
/// </summary>
public static class ConfLines
{
    public readonly record struct Line(int Number, string Text);

    public static List<Line> Read(string text, string file)
    {
        var lines = new List<Line>();
        string[] physical = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        var current = new StringBuilder();
        int start = 0;
        for (int i = 0; i < physical.Length; i++)
        {
            string raw = physical[i];
            int number = i + 1;
            if (current.Length == 0)
            {
                string trimmed = raw.TrimStart();
                if (trimmed.Length == 0 || trimmed[0] == '#')
                {
                    continue;
                }
                start = number;
            }
            bool continues = raw.EndsWith('\\');
            string body = continues ? raw[..^1] : raw;
            if (body.Contains('\\', StringComparison.Ordinal))
            {
                throw new PolicyFormatException(file, number, "'\\' is only allowed at the end of a line, to continue it");
            }
            current.Append(body).Append(' ');
            if (!continues)
            {
                lines.Add(new Line(start, current.ToString().Trim()));
                current.Clear();
            }
        }
        if (current.Length > 0)
        {
            throw new PolicyFormatException(file, physical.Length, "the file ends inside a continued line");
        }
        return lines;
    }

    /// <summary>Splits on whitespace; <c>"…"</c> keeps an identity with blanks (an ippm extension for IKE names).</summary>
    public static List<string> Words(string text, string file, int line)
    {
        var words = new List<string>();
        int i = 0;
        while (i < text.Length)
        {
            if (char.IsWhiteSpace(text[i]))
            {
                i++;
                continue;
            }
            if (text[i] == '"')
            {
                int end = text.IndexOf('"', i + 1);
                if (end < 0)
                {
                    throw new PolicyFormatException(file, line, "unterminated '\"'");
                }
                words.Add(text[(i + 1)..end]);
                i = end + 1;
                continue;
            }
            int start = i;
            while (i < text.Length && !char.IsWhiteSpace(text[i]))
            {
                i++;
            }
            words.Add(text[start..i]);
        }
        return words;
    }
}
