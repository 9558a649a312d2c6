namespace Ippm.Service;

/// <summary>One setting read from a file: an <c>ippm server</c> flag name (without <c>--</c>) and its value.</summary>
/// <param name="Value">Null for a switch given without a value.</param>
public sealed record ConfigEntry(string Key, string? Value, string File, int Line)
{
    public string Where => $"{File}:{Line}";
}
