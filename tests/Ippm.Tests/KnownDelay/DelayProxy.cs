using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Ippm.Sessions.Stamp;
using Ippm.Sessions.Time;
using Ippm.Sessions.Transport;
using Ippm.Wire;

namespace Ippm.Tests.KnownDelay;

/// <summary>
/// A userspace UDP delay line on loopback (no netem here): datagrams from the client reaching <see cref="ClientFacing"/>
/// leave <see cref="ServerFacing"/> for the server no sooner than <c>forward</c> later; datagrams reaching
/// <see cref="ServerFacing"/> leave <see cref="ClientFacing"/> for the client no sooner than <c>backward</c> later.
/// Every hold is stamped on ippm's own clock (arrival, departure, and the sequence number the caller reads from
/// the packet), so a test can check timestamps against what the proxy actually did, not only what it was told.
/// Arrival is the kernel's receive timestamp (SO_TIMESTAMPNS, through ippm's transport), not the moment the proxy's
/// thread woke up: on a busy machine the proxy's own lateness is part of the hold it reports, never mistaken
/// for time ippm added.
/// The server's address is read at every send, so it may be learnt after the proxy is up. Bounded: at most <see cref="MaxDatagrams"/> per direction, then it drops.
/// </summary>
internal sealed class DelayProxy : IDisposable
{
    public const int MaxDatagrams = 10_000;

    private readonly UdpTestSocket _clientFacing = Bind();
    private readonly UdpTestSocket _serverFacing = Bind();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Thread> _threads = [];
    private volatile EndPoint? _client;

    public DelayProxy(Func<IPEndPoint?> server, TimeSpan forward, TimeSpan backward, Func<byte[], uint> forwardSeq, Func<byte[], uint> backwardSeq)
    {
        Start(_clientFacing, _serverFacing, server, forward, forwardSeq, Forward, learnClient: true);
        Start(_serverFacing, _clientFacing, () => _client, backward, backwardSeq, Backward, learnClient: false);
    }

    public IPEndPoint ClientFacing => _clientFacing.LocalEndPoint;
    public IPEndPoint ServerFacing => _serverFacing.LocalEndPoint;

    /// <summary>Holds done toward the server: sequence number → (arrived at proxy, left proxy).</summary>
    public ConcurrentDictionary<uint, (NtpTimestamp In, NtpTimestamp Out)> Forward { get; } = new();

    /// <summary>Holds done toward the client.</summary>
    public ConcurrentDictionary<uint, (NtpTimestamp In, NtpTimestamp Out)> Backward { get; } = new();

    private static UdpTestSocket Bind() => new(new IPEndPoint(IPAddress.Loopback, 0), TimeSpan.FromMilliseconds(50));

    private void Start(UdpTestSocket from, UdpTestSocket to, Func<EndPoint?> destination, TimeSpan hold, Func<byte[], uint> seqOf,
        ConcurrentDictionary<uint, (NtpTimestamp, NtpTimestamp)> log, bool learnClient)
    {
        var queue = new BlockingCollection<(byte[] Data, NtpTimestamp In, long ReleaseTicks)>(MaxDatagrams);
        var receive = new Thread(() =>
        {
            using var batch = new DatagramBatch(16, 9216, addressed: true);
            try
            {
                while (!_stop.IsCancellationRequested)
                {
                    int n = from.ReceiveBatch(batch);
                    for (int i = 0; i < n; i++)
                    {
                        NtpTimestamp arrived = batch.ReceiveTime(i);
                        long release = DateTime.UtcNow.Ticks + hold.Ticks;
                        ReadOnlySpan<byte> peer = batch.Address(i);
                        ReadOnlySpan<byte> address = StampKeyStore.AddressOf(peer);
                        if (learnClient && address.Length is 4 or 16)
                        {
                            // (A datagram without a source address, seen once under load, teaches nothing.)
                            _client = new IPEndPoint(new IPAddress(address), StampKeyStore.PortOf(peer));
                        }
                        queue.TryAdd((batch.Datagram(i).ToArray(), arrived, release));
                    }
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
            }
            finally
            {
                queue.CompleteAdding();
            }
        }) { IsBackground = true, Name = "delay-proxy-in" };
        var send = new Thread(() =>
        {
            try
            {
                // Same hold for all: FIFO order is release order.
                foreach ((byte[] data, NtpTimestamp arrived, long release) in queue.GetConsumingEnumerable(_stop.Token))
                {
                    long wait;
                    while ((wait = release - DateTime.UtcNow.Ticks) > 0)
                    {
                        if (wait > TimeSpan.TicksPerMillisecond * 2)
                        {
                            Thread.Sleep(TimeSpan.FromTicks(wait - TimeSpan.TicksPerMillisecond));
                        }
                        else
                        {
                            Thread.SpinWait(50);
                        }
                    }
                    if (destination() is EndPoint to1)
                    {
                        NtpTimestamp left = SystemClock.Instance.Now();
                        // Logged before the send: the receiver may read the log as soon as the datagram arrives.
                        log.TryAdd(seqOf(data), (arrived, left));
                        to.Socket.SendTo(data, to1);
                    }
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }) { IsBackground = true, Name = "delay-proxy-out" };
        _threads.Add(receive);
        _threads.Add(send);
        receive.Start();
        send.Start();
    }

    /// <summary>Sequence number of an open-mode sender packet (RFC 4656 §4.1.2: first 4 octets).</summary>
    public static uint SenderSeq(byte[] packet) => BinaryPrimitives.ReadUInt32BigEndian(packet);

    /// <summary>Sender Sequence Number echoed in an open-mode TWAMP reflector packet (RFC 5357 §4.2.1, octet 24).</summary>
    public static uint ReflectedSenderSeq(byte[] packet) => BinaryPrimitives.ReadUInt32BigEndian(packet.AsSpan(24));

    public void Dispose()
    {
        _stop.Cancel();
        _clientFacing.Dispose();
        _serverFacing.Dispose();
        foreach (Thread t in _threads)
        {
            t.Join(TimeSpan.FromSeconds(5));
        }
        _stop.Dispose();
    }
}
