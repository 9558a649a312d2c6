using System.Net;
using Ippm.Wire;

namespace Ippm.Sessions.Bench;

/// <summary>What <see cref="SessionsLoad"/> sets up and drives.</summary>
public sealed record SessionsLoadOptions
{
    public required IPEndPoint Server { get; init; }

    /// <summary>TWAMP test sessions to set up.</summary>
    public required int Sessions { get; init; }

    /// <summary>Test packets per second on each session.</summary>
    public required double Rate { get; init; }

    /// <summary>Source addresses, used in turn by the control connections (and their test sockets).</summary>
    public required IReadOnlyList<IPAddress> Sources { get; init; }

    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long the started sessions are left without packets while the server's idle CPU is measured.</summary>
    public TimeSpan IdleDuration { get; init; } = TimeSpan.FromSeconds(3);

    public SecurityMode Mode { get; init; } = SecurityMode.Open;

    public string? Identity { get; init; }

    public byte[]? Secret { get; init; }

    /// <summary>Sessions asked for on one control connection; lowered when the server refuses more (Accept=4).</summary>
    public int MaxSessionsPerConnection { get; init; } = 16;

    /// <summary>The server's process, for its CPU time, memory and threads (/proc); null: loss figures only.</summary>
    public int? ServerPid { get; init; }

    /// <summary>Set-up, drive and teardown repeated on the same server.</summary>
    public int Rounds { get; init; } = 1;

    /// <summary>Control connections set up at once.</summary>
    public int ParallelConnections { get; init; } = 8;

    /// <summary>
    /// A plain UDP echo (the kernel's floor: <c>../shared/tools/udp-floor/udpecho.c</c>) driven after each round with
    /// the same load — as many flows as sessions were set up, from the same sources, at the same rate for as long —
    /// so the server's CPU per packet can be read against what the kernel alone costs in the same run. Null: none.
    /// </summary>
    public FloorEchoTarget? FloorEcho { get; init; }

    /// <summary>The harness's threads under SCHED_BATCH (<see cref="SessionsLoadDriver.BatchScheduling"/>).</summary>
    public bool BatchScheduling { get; init; } = true;
}

/// <summary>A running UDP echo process: where it listens and its process id (for its CPU time).</summary>
public readonly record struct FloorEchoTarget(IPEndPoint EndPoint, int Pid);
