using System.Text.Json;

namespace Ippm.Cli;

/// <summary>
/// How a command reports a failure: one line <c>ippm: …</c> on standard error and, when <c>--json</c> was asked
/// for, also one JSON object on standard output, so a pipeline reading JSON never sees empty output:
/// <c>{"error": {"message": …, "kind": …}, "exit_code": N}</c> (docs/json-report.md).
/// </summary>
internal static class CliErrors
{
    /// <summary>Set once from the command line: whether errors also go to standard output as JSON.</summary>
    public static bool Json { get; set; }

    public static int Fail(string message, int exitCode)
    {
        Console.Error.WriteLine($"ippm: {message}");
        if (Json)
        {
            WriteJson(message, exitCode);
        }
        return exitCode;
    }

    /// <summary>The word for an exit code in <c>error.kind</c>.</summary>
    public static string Kind(int exitCode) => exitCode switch
    {
        ExitCodes.Usage => "usage",
        ExitCodes.Refused => "refused",
        ExitCodes.Unreachable => "unreachable",
        ExitCodes.Cancelled => "interrupted",
        _ => "error",
    };

    private static void WriteJson(string message, int exitCode)
    {
        using var stream = Console.OpenStandardOutput();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            writer.WriteStartObject("error");
            writer.WriteString("message", message);
            writer.WriteString("kind", Kind(exitCode));
            writer.WriteEndObject();
            writer.WriteNumber("exit_code", exitCode);
            writer.WriteEndObject();
        }
        stream.Write("\n"u8);
    }
}
