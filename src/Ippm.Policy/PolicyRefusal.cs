namespace Ippm.Policy;

/// <summary>Which limit of which class refused a request; <see cref="Reason"/> is a bounded metric label.</summary>
public sealed record PolicyRefusal(string ClassName, string Limit, string Detail)
{
    /// <summary>One of allow_open_mode, bandwidth, disk, test_sessions.</summary>
    public string Reason => Limit;

    public override string ToString() => $"class '{ClassName}' limit {Limit}: {Detail}";
}
