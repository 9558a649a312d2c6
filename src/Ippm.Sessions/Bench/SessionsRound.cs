namespace Ippm.Sessions.Bench;

/// <summary>One round of <see cref="SessionsLoad"/>: set-up, idle, drive, teardown.</summary>
public sealed record SessionsRound
{
    public required int Round { get; init; }
    public required int SessionsSetUp { get; init; }
    public required int Connections { get; init; }
    public required int SessionsPerConnection { get; init; }

    /// <summary>Why sessions or connections were refused, with counts ("Accept=5", "connection: …").</summary>
    public required IReadOnlyDictionary<string, int> Refusals { get; init; }

    public required double SetupSeconds { get; init; }
    public required long Sent { get; init; }
    public required long SendFailed { get; init; }
    public required long Received { get; init; }
    public long Lost => Math.Max(0, Sent - Received);
    public required double DriveSeconds { get; init; }

    /// <summary>Server CPU (utime + stime of its process) over the driven interval, per reflected packet.</summary>
    public double? ServerCpuMicrosecondsPerPacket { get; init; }

    /// <summary>The whole machine's busy time (/proc/stat) less this client's own, per packet: includes anything else running.</summary>
    public double? MachineCpuMicrosecondsPerPacket { get; init; }

    /// <summary>This client's CPU per packet (sending and receiving): shows whether the load itself was cheap.</summary>
    public double? ClientCpuMicrosecondsPerPacket { get; init; }

    /// <summary>Server CPU with every session started and no packets, in percent of one core.</summary>
    public double? IdleCpuPercentOfCore { get; init; }

    public ProcessSample? Before { get; init; }
    public ProcessSample? Idle { get; init; }
    public ProcessSample? Driven { get; init; }
    public ProcessSample? After { get; init; }

    /// <summary>The same load on the kernel's floor right after this round (<see cref="SessionsLoadOptions.FloorEcho"/>).</summary>
    public FloorDrive? Floor { get; init; }

    /// <summary>Server CPU per packet over the floor's (1: as cheap as a bare echo).</summary>
    public double? ServerCpuOverFloor => ServerCpuMicrosecondsPerPacket is double server && Floor?.CpuMicrosecondsPerPacket is double floor && floor > 0 ? server / floor : null;

    /// <summary>(idle − before) resident memory over the sessions set up.</summary>
    public double? KiBPerIdleSession => Before is { } b && Idle is { } i && SessionsSetUp > 0 ? (double)(i.ResidentKiB - b.ResidentKiB) / SessionsSetUp : null;
}

/// <summary>The kernel-floor drive of a round: the same load on a plain UDP echo.</summary>
public sealed record FloorDrive
{
    public required long Sent { get; init; }
    public required long Received { get; init; }
    public long Lost => Math.Max(0, Sent - Received);

    /// <summary>The echo's CPU (utime + stime) over the drive, per echoed packet.</summary>
    public double? CpuMicrosecondsPerPacket { get; init; }
}
