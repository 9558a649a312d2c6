using System.Runtime.InteropServices;

namespace Ippm.Cli;

/// <summary>
/// SIGINT (Ctrl+C) and SIGTERM for the whole process. The first signal cancels <see cref="Token"/>: a measurement
/// then stops sending, ends its sessions with Stop-Sessions and reports what it measured; a server stops accepting
/// and ends its sessions. A second signal ends the process at once with 130, for a user who does not want to wait.
/// </summary>
internal sealed class Interruption : IDisposable
{
    private readonly CancellationTokenSource _cancel = new();
    private readonly PosixSignalRegistration _interrupt;
    private readonly PosixSignalRegistration _terminate;
    private int _signals;

    public Interruption()
    {
        _interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        _terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
    }

    public CancellationToken Token => _cancel.Token;

    private void OnSignal(PosixSignalContext context)
    {
        // Keep the runtime from ending the process: the commands wind down on their own.
        context.Cancel = true;
        if (Interlocked.Increment(ref _signals) > 1)
        {
            Environment.Exit(ExitCodes.Cancelled);
        }
        _cancel.Cancel();
    }

    public void Dispose()
    {
        _interrupt.Dispose();
        _terminate.Dispose();
        _cancel.Dispose();
    }
}
