namespace Ippm.Sessions.Control;

/// <summary>What a twping or owping run asked for, carried into its report (JSON <c>request</c>).</summary>
/// <param name="Count">Test packets (per direction for OWAMP).</param>
/// <param name="Schedule">The -i text as understood: seconds with e (exponential) or f (fixed), comma-separated slots for OWAMP.</param>
/// <param name="Padding">Padding octets per test packet actually requested.</param>
/// <param name="Dscp">DSCP of the test packets.</param>
/// <param name="Timeout">Loss timeout (-L).</param>
/// <param name="IntervalSeconds">Mean seconds between packets (OWAMP: the mean of the slots).</param>
public sealed record MeasurementRequest(int Count, string Schedule, int Padding, byte Dscp, TimeSpan Timeout, double IntervalSeconds);
