namespace Ippm.Policy;

/// <summary>A configuration or limits file that does not parse: the message starts with <c>file:line:</c>.</summary>
public sealed class PolicyFormatException : Exception
{
    public PolicyFormatException(string file, int line, string problem)
        : base($"{file}:{line}: {problem}")
    {
        File = file;
        Line = line;
        Problem = problem;
    }

    public PolicyFormatException()
    {
        File = "";
        Problem = "";
    }

    public PolicyFormatException(string message)
        : base(message)
    {
        File = "";
        Problem = message;
    }

    public PolicyFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
        File = "";
        Problem = message;
    }

    public string File { get; }

    public int Line { get; }

    public string Problem { get; }
}
