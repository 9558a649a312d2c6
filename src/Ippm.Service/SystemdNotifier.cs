using System.Net.Sockets;
using System.Text;

namespace Ippm.Service;

/// <summary>
/// sd_notify(3) without libsystemd: one datagram per state change to the socket systemd names in
/// <c>$NOTIFY_SOCKET</c> (a path, or <c>@name</c> for the abstract namespace). Without the variable every call is a
/// no-op, so the same binary runs by hand and under <c>Type=notify</c>.
/// </summary>
public sealed class SystemdNotifier
{
    private readonly string? _socketPath;

    public SystemdNotifier(string? socketPath = null)
    {
        _socketPath = socketPath ?? Environment.GetEnvironmentVariable("NOTIFY_SOCKET");
        if (_socketPath is { Length: > 0 } && _socketPath[0] == '@')
        {
            _socketPath = "\0" + _socketPath[1..];
        }
    }

    public bool Enabled => !string.IsNullOrEmpty(_socketPath);

    public void Ready(string status) => Send($"READY=1\nSTATUS={status}\nMAINPID={Environment.ProcessId}");

    /// <summary>RELOADING=1 with the CLOCK_MONOTONIC time systemd 253+ asks for; older ones ignore the extra field.</summary>
    public void Reloading() => Send($"RELOADING=1\nMONOTONIC_USEC={MonotonicMicroseconds()}");

    public void Stopping() => Send("STOPPING=1");

    public void Status(string status) => Send($"STATUS={status}");

    private void Send(string message)
    {
        if (!Enabled)
        {
            return;
        }
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            socket.Connect(new UnixDomainSocketEndPoint(_socketPath!));
            socket.Send(Encoding.UTF8.GetBytes(message));
        }
        catch (SocketException)
        {
            // systemd not listening (e.g. the unit was restarted): notification is best effort, as in sd_notify.
        }
    }

    private static long MonotonicMicroseconds() => Environment.TickCount64 * 1000;
}
