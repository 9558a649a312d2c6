using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Ippm.Sessions.Bench;

/// <summary>
/// The test-packet side of <see cref="SessionsLoad"/>: many connected UDP sockets driven by two threads whatever
/// their number. One sender thread walks a single timeline of N × R packets per second, session i's k-th packet
/// due at (k + i/N)/R, so the sessions are spread evenly in phase and the load is smooth; one receiver thread
/// waits in epoll on every socket and drains the ready ones without blocking. Linux only (epoll, libc send/recv).
/// </summary>
internal sealed unsafe partial class SessionsLoadDriver : IDisposable
{
    private const int EpollIn = 0x001;
    private const int EpollCtlAdd = 1;
    private const int MsgDontWait = 0x40;
    private const int MaxEvents = 256;
    private const int ReceiveSlot = 65536;
    private const int SchedBatch = 3; // SCHED_BATCH, <linux/sched.h>

    private readonly List<Socket> _sockets = [];
    private readonly List<ClosedLoopLoad.SpanAction> _fills = [];
    private readonly int _packetLength;
    private readonly int _epoll;
    private long[] _received = [];
    private uint[] _sequence = [];
    private volatile bool _receiving;
    private Thread? _receiver;
    private bool _disposed;

    public SessionsLoadDriver(int packetLength)
    {
        _packetLength = packetLength;
        _epoll = epoll_create1(0);
        if (_epoll < 0)
        {
            throw new SocketException(Marshal.GetLastPInvokeError());
        }
    }

    public int Count => _sockets.Count;

    /// <summary>
    /// Runs the send and receive threads under SCHED_BATCH (sched(7)): a woken harness thread does not preempt the
    /// server it shares the cores with (inside its sendmmsg, say), as a load from other machines never would, so the
    /// server's CPU per packet is its own work rather than context switches the harness caused. Set before the load.
    /// </summary>
    public bool BatchScheduling { get; init; }

    /// <summary>Packets received on all sockets since <see cref="StartReceiving"/>.</summary>
    public long Received
    {
        get
        {
            long sum = 0;
            for (int i = 0; i < _received.Length; i++)
            {
                sum += Volatile.Read(ref _received[i]);
            }
            return sum;
        }
    }

    /// <summary>Takes a connected UDP socket and the function that writes its session's packet <c>seq</c>.</summary>
    public void Add(Socket socket, ClosedLoopLoad.SpanAction fill)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_receiving)
        {
            throw new InvalidOperationException("sockets are added before the load starts");
        }
        int index = _sockets.Count;
        byte* ev = stackalloc byte[16];
        WriteEvent(ev, EpollIn, (ulong)index);
        if (epoll_ctl(_epoll, EpollCtlAdd, (int)socket.Handle, ev) < 0)
        {
            throw new SocketException(Marshal.GetLastPInvokeError());
        }
        _sockets.Add(socket);
        _fills.Add(fill);
    }

    /// <summary>Starts counting replies (the receive thread); counts restart from zero.</summary>
    public void StartReceiving()
    {
        if (_receiving)
        {
            return;
        }
        _received = new long[_sockets.Count];
        if (_sequence.Length != _sockets.Count)
        {
            Array.Resize(ref _sequence, _sockets.Count);
        }
        _receiving = true;
        _receiver = new Thread(ReceiveLoop) { IsBackground = true, Name = "bench sessions receive" };
        _receiver.Start();
    }

    /// <summary>Stops the receive thread; the counts stay readable.</summary>
    public void StopReceiving()
    {
        _receiving = false;
        _receiver?.Join();
        _receiver = null;
    }

    /// <summary>
    /// Sends <paramref name="rate"/> packets per second on every socket for <paramref name="duration"/> (bounded: at most
    /// duration × rate packets per socket). Returns packets handed to the kernel and those it refused (buffer full).
    /// </summary>
    public (long Sent, long SendFailed) Send(double rate, TimeSpan duration, CancellationToken cancellationToken)
    {
        int n = _sockets.Count;
        if (n == 0)
        {
            return (0, 0);
        }
        if (_sequence.Length != n)
        {
            Array.Resize(ref _sequence, n);
        }
        double totalRate = n * rate;
        long total = (long)Math.Floor(duration.TotalSeconds * rate) * n;
        byte[] packet = new byte[_packetLength];
        long next = 0, sent = 0, failed = 0;
        var clock = Stopwatch.StartNew();
        // The wall bound is the schedule's length plus a margin: a starved thread catches up, it never runs on.
        long deadlineTicks = (long)((duration.TotalSeconds + 5) * Stopwatch.Frequency);
        fixed (byte* buffer = packet)
        {
            while (next < total && !cancellationToken.IsCancellationRequested && clock.ElapsedTicks < deadlineTicks)
            {
                double now = clock.Elapsed.TotalSeconds;
                long due = Math.Min(total, (long)(now * totalRate) + 1);
                for (; next < due; next++)
                {
                    int session = (int)(next % n);
                    uint seq = _sequence[session]++;
                    _fills[session](packet, seq);
                    if (send((int)_sockets[session].Handle, buffer, _packetLength, MsgDontWait) == _packetLength)
                    {
                        sent++;
                    }
                    else
                    {
                        failed++;
                    }
                }
                // Nothing more due: sleep a millisecond rather than spin (the machine is the server's too). At 20 k/s
                // that sends bursts of about 20 packets a millisecond apart, spread over all sessions.
                if (next / totalRate > clock.Elapsed.TotalSeconds)
                {
                    Thread.Sleep(1);
                }
            }
        }
        return (sent, failed);
    }

    /// <summary><see cref="Send"/> on a thread of its own (its scheduling policy must not leak into the thread pool).</summary>
    public Task<(long Sent, long SendFailed)> SendAsync(double rate, TimeSpan duration, CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource<(long, long)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                ApplyScheduling();
                done.SetResult(Send(rate, duration, cancellationToken));
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        })
        { IsBackground = true, Name = "bench sessions send" };
        thread.Start();
        return done.Task;
    }

    private void ApplyScheduling()
    {
        int priority = 0;
        // pid 0 is the calling thread; refused only by a seccomp filter or an old kernel, when the default policy stays.
        if (BatchScheduling)
        {
            _ = sched_setscheduler(0, SchedBatch, &priority);
        }
    }

    private void ReceiveLoop()
    {
        ApplyScheduling();
        int stride = EventSize;
        byte* events = (byte*)NativeMemory.Alloc((nuint)(MaxEvents * stride));
        byte* buffer = (byte*)NativeMemory.Alloc(ReceiveSlot);
        try
        {
            while (_receiving)
            {
                int ready = epoll_wait(_epoll, events, MaxEvents, 50);
                for (int e = 0; e < ready; e++)
                {
                    int index = (int)ReadEventData(events + e * stride);
                    int fd = (int)_sockets[index].Handle;
                    // Drain the socket; a bounded number of reads so one busy socket cannot starve the rest.
                    for (int k = 0; k < 64 && recv(fd, buffer, ReceiveSlot, MsgDontWait) > 0; k++)
                    {
                        _received[index]++;
                    }
                }
            }
        }
        finally
        {
            NativeMemory.Free(events);
            NativeMemory.Free(buffer);
        }
    }

    // struct epoll_event is packed on x86-64 (12 octets: events at 0, data at 4) and naturally aligned elsewhere (16: data at 8).
    private static int EventSize => RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;

    private static int DataOffset => RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    private static void WriteEvent(byte* ev, uint events, ulong data)
    {
        new Span<byte>(ev, 16).Clear();
        *(uint*)ev = events;
        Unsafe.WriteUnaligned(ev + DataOffset, data);
    }

    private static ulong ReadEventData(byte* ev) => Unsafe.ReadUnaligned<ulong>(ev + DataOffset);

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        StopReceiving();
        foreach (Socket socket in _sockets)
        {
            socket.Dispose();
        }
        _sockets.Clear();
        close(_epoll);
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_create1(int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_ctl(int epfd, int op, int fd, byte* ev);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_wait(int epfd, byte* events, int maxEvents, int timeout);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint send(int socket, byte* buffer, nint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint recv(int socket, byte* buffer, nint length, int flags);

    [LibraryImport("libc")]
    private static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int sched_setscheduler(int pid, int policy, int* param);
}
