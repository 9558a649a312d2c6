using System.Runtime.InteropServices;

namespace Ippm.Service;

/// <summary>
/// The signals of a long-running ippm service (<c>ippm server</c>, <c>ippm agent</c>): SIGTERM and SIGINT stop it
/// gracefully, SIGHUP reloads its configuration on a thread-pool thread (the signal handler never waits for it).
/// </summary>
public static class ServiceSignals
{
    /// <summary>
    /// Handles the signals, calls <paramref name="started"/> once they are in place, and returns when SIGTERM/SIGINT
    /// arrives or <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    public static async Task RunUntilStoppedAsync(Action started, Func<Task> reload, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            try
            {
                stop.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // Already stopped.
            }
        }
        using PosixSignalRegistration term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using PosixSignalRegistration interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using PosixSignalRegistration hup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            context.Cancel = true;
            _ = Task.Run(reload, CancellationToken.None);
        });
        started();
        try
        {
            await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
