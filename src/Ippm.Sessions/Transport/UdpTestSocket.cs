using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Ippm.Sessions.Time;
using Ippm.Wire;

namespace Ippm.Sessions.Transport;

/// <summary>
/// A UDP socket for test packets. On Linux it receives with recvmsg(2) so that it can read the
/// kernel receive timestamp (SO_TIMESTAMPNS), the TTL / Hop Limit (IP_RECVTTL, IPV6_RECVHOPLIMIT) and the
/// TOS / Traffic Class octet (IP_RECVTOS, IPV6_RECVTCLASS; RFC 7750) that the .NET socket API does not expose; elsewhere it falls back to Socket.Receive.
/// Receives block for at most the poll interval so dedicated loops can notice a stop request.
/// </summary>
public sealed unsafe partial class UdpTestSocket : IDisposable
{
    private const int SolSocket = 1;
    private const int IpProtoIp = 0;
    private const int IpTos = 1;
    private const int IpTtl = 2;
    private const int IpProtoIpv6 = 41;
    private const int Ipv6Tclass = 67;
    private const int MsgTrunc = 0x20;
    private const int EAgain = 11;
    private const int EIntr = 4;
    private const int ControlBufferSize = 128;

    private readonly Socket _socket;
    private readonly bool _native;
    private readonly int _fd;
    private readonly byte[] _control = new byte[ControlBufferSize];

    public UdpTestSocket(IPEndPoint localEndPoint, TimeSpan pollInterval)
        : this(localEndPoint, pollInterval, dualMode: false)
    {
    }

    /// <param name="dualMode">On an IPv6 socket, also serve IPv4 peers (as v4-mapped addresses): a listener on [::].</param>
    public UdpTestSocket(IPEndPoint localEndPoint, TimeSpan pollInterval, bool dualMode)
    {
        _socket = new Socket(localEndPoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (dualMode && localEndPoint.AddressFamily == AddressFamily.InterNetworkV6)
            {
                _socket.DualMode = true;
            }
            _socket.ReceiveTimeout = (int)Math.Max(1, pollInterval.TotalMilliseconds);
            SetBufferSizes(8 << 20);
            _socket.Bind(localEndPoint);
            SetTtl(255);
            _native = NativeAbi.Usable && AncillaryData.TryEnableReceive(_socket);
            _fd = (int)_socket.SafeHandle.DangerousGetHandle();
        }
        catch
        {
            _socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Large socket buffers absorb bursts at high packet rates. Root may exceed the rmem_max/wmem_max caps
    /// with SO_RCVBUFFORCE/SO_SNDBUFFORCE; everyone else gets what the caps allow.
    /// </summary>
    private void SetBufferSizes(int bytes)
    {
        _socket.ReceiveBufferSize = bytes;
        _socket.SendBufferSize = bytes;
        if (NativeAbi.Usable)
        {
            try
            {
                _socket.SetRawSocketOption(SolSocket, 33 /* SO_RCVBUFFORCE */, BitConverter.GetBytes(bytes));
                _socket.SetRawSocketOption(SolSocket, 32 /* SO_SNDBUFFORCE */, BitConverter.GetBytes(bytes));
            }
            catch (SocketException)
            {
                // Not privileged: the plain request above already applies up to the system cap.
            }
        }
    }

    public IPEndPoint LocalEndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    public Socket Socket => _socket;

    /// <summary>The file descriptor, for the session engine's epoll set.</summary>
    internal int Handle => _fd;

    /// <summary>Whether recvmmsg/sendmmsg, kernel timestamps and TTLs are in use (Linux).</summary>
    public bool IsNative => _native;

    /// <summary>Connects to the peer: the kernel then delivers only its datagrams and send() needs no address.</summary>
    public void Connect(IPEndPoint remote) => _socket.Connect(remote);

    /// <summary>O/TWAMP senders use TTL / Hop Limit 255 so receivers can count hops (RFC 4656 §4.1.2).</summary>
    public void SetTtl(int ttl)
    {
        _socket.Ttl = (short)ttl; // IP_TTL, or IPV6_UNICAST_HOPS on an IPv6 socket
        if (_socket.AddressFamily == AddressFamily.InterNetworkV6 && _socket.DualMode)
        {
            // Datagrams to v4-mapped peers leave through the IPv4 path, which reads IP_TTL, not the hop limit.
            _socket.SetRawSocketOption(IpProtoIp, IpTtl, BitConverter.GetBytes(ttl));
        }
    }

    /// <summary>Applies a DSCP to every packet sent (TOS / Traffic Class = DSCP &lt;&lt; 2).</summary>
    public void SetDscp(byte dscp) => SetTos((byte)((dscp & 0x3F) << 2));

    /// <summary>Applies a whole TOS / Traffic Class octet (DSCP &lt;&lt; 2 | ECN) to every packet sent.</summary>
    public void SetTos(byte tosOctet)
    {
        int tos = tosOctet;
        if (_socket.AddressFamily == AddressFamily.InterNetworkV6)
        {
            _socket.SetRawSocketOption(IpProtoIpv6, Ipv6Tclass, BitConverter.GetBytes(tos));
            if (_socket.DualMode)
            {
                // As for the TTL: v4-mapped peers get the IPv4 TOS.
                _socket.SetRawSocketOption(IpProtoIp, IpTos, BitConverter.GetBytes(tos));
            }
        }
        else
        {
            _socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.TypeOfService, tos);
        }
    }

    public void Send(ReadOnlySpan<byte> datagram) => _socket.Send(datagram, SocketFlags.None);

    /// <summary>
    /// Waits up to the poll interval for a datagram. Returns false on timeout. Socket errors other than a
    /// timeout (e.g. ICMP port unreachable reported on a connected socket) are reported as an empty datagram.
    /// </summary>
    public bool TryReceive(Span<byte> buffer, out ReceivedDatagram datagram)
    {
        return _native ? TryReceiveNative(buffer, out datagram) : TryReceiveManaged(buffer, out datagram);
    }

    private bool TryReceiveManaged(Span<byte> buffer, out ReceivedDatagram datagram)
    {
        try
        {
            int length = _socket.Receive(buffer, SocketFlags.None);
            datagram = new ReceivedDatagram(length, SystemClock.Instance.Now(), null, false);
            return true;
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock)
        {
            datagram = default;
            return false;
        }
        catch (SocketException)
        {
            datagram = new ReceivedDatagram(0, SystemClock.Instance.Now(), null, false);
            return true;
        }
    }

    private bool TryReceiveNative(Span<byte> buffer, out ReceivedDatagram datagram)
    {
        fixed (byte* data = buffer)
        fixed (byte* control = _control)
        {
            IoVec iov = new() { Base = data, Length = (nuint)buffer.Length };
            MsgHdr msg = new() { Iov = &iov, IovLength = 1, Control = control, ControlLength = ControlBufferSize };
            nint received;
            while (true)
            {
                received = recvmsg(_fd, &msg, 0);
                if (received >= 0)
                {
                    break;
                }
                int errno = Marshal.GetLastSystemError();
                if (errno == EIntr)
                {
                    continue;
                }
                if (errno == EAgain)
                {
                    datagram = default;
                    return false;
                }
                // ECONNREFUSED and friends on a connected socket: not a datagram, but not a timeout either.
                datagram = new ReceivedDatagram(0, SystemClock.Instance.Now(), null, false);
                return true;
            }
            ReceivedAncillaryData ancillary = AncillaryData.Read(control, (int)msg.ControlLength, stackalloc byte[16]);
            datagram = new ReceivedDatagram(
                (int)Math.Min(received, buffer.Length),
                ancillary.KernelTime ?? SystemClock.Instance.Now(),
                ancillary.Ttl,
                (msg.Flags & MsgTrunc) != 0,
                ancillary.Tos);
            return true;
        }
    }

    /// <summary>
    /// Also asks the kernel for each datagram's TOS / Traffic Class and local address (IP_RECVTOS, IP_PKTINFO,
    /// IPV6_RECVTCLASS, IPV6_RECVPKTINFO), which addressed batches report. Needed by the STAMP reflector
    /// (RFC 8972 Class of Service and Location TLVs). Returns false where the platform cannot.
    /// </summary>
    public bool EnableTrafficClassAndLocalAddress() => _native && AncillaryData.TryEnableLocalAddress(_socket);

    public void Dispose() => _socket.Dispose();

    /// <summary>
    /// Receives up to <paramref name="batch"/>.Capacity datagrams with one recvmmsg(2) call (waiting for the
    /// first at most the poll interval). Returns 0 on timeout. Each slot gets its kernel timestamp and TTL.
    /// </summary>
    public int ReceiveBatch(DatagramBatch batch, int max = int.MaxValue) => ReceiveBatch(batch, max, wait: true);

    /// <summary>
    /// As <see cref="ReceiveBatch(DatagramBatch, int)"/>; with <paramref name="wait"/> false (MSG_DONTWAIT, Linux only)
    /// it returns 0 at once when nothing is queued: what an event loop that already knows the socket is readable needs.
    /// </summary>
    public int ReceiveBatch(DatagramBatch batch, int max, bool wait)
    {
        int capacity = Math.Min(batch.Capacity, max);
        if (!_native)
        {
            if (!TryReceive(batch.Slot(0), out ReceivedDatagram d))
            {
                return 0;
            }
            batch.Complete(0, d.Length, d.ReceiveTime, d.Ttl ?? 0, d.Truncated, d.Tos);
            return 1;
        }
        MMsgHdr* headers = batch.PrepareReceive(capacity);
        int received;
        while (true)
        {
            received = recvmmsg(_fd, headers, (uint)capacity, wait ? MsgWaitForOne : MsgDontWait, null);
            if (received >= 0)
            {
                break;
            }
            int errno = Marshal.GetLastSystemError();
            if (errno == EIntr)
            {
                continue;
            }
            return 0;
        }
        NtpTimestamp fallbackTime = default;
        Span<byte> local = stackalloc byte[16];
        for (int i = 0; i < received; i++)
        {
            ReceivedAncillaryData ancillary = AncillaryData.Read(batch.Control(i), (int)headers[i].Header.ControlLength, local);
            if (ancillary.KernelTime is null && fallbackTime.IsZero)
            {
                fallbackTime = SystemClock.Instance.Now();
            }
            batch.Complete(i, (int)headers[i].Length, ancillary.KernelTime ?? fallbackTime, ancillary.Ttl ?? 0, (headers[i].Header.Flags & MsgTrunc) != 0, ancillary.Tos);
            if (batch.Addressed)
            {
                batch.CompleteAddressed(i, headers[i].Header.NameLength, ancillary.Tos ?? -1, ancillary.LocalAddress);
            }
        }
        return received;
    }

    /// <summary>
    /// Sends the first <paramref name="count"/> slots (each with its set length) with sendmmsg(2) and returns how
    /// many the kernel took. A datagram it refuses (ECONNREFUSED left by an earlier ICMP error, a full buffer) is
    /// skipped, not retried: the caller counts the difference as failed.
    /// </summary>
    public int SendBatch(DatagramBatch batch, int count) => SendBatch(batch, count, wait: true);

    /// <summary>
    /// As <see cref="SendBatch(DatagramBatch, int)"/>; with <paramref name="wait"/> false (MSG_DONTWAIT) a full send
    /// buffer refuses the datagram rather than blocking the caller's thread (an event loop serving other sessions).
    /// </summary>
    public int SendBatch(DatagramBatch batch, int count, bool wait) => SendBatch(batch, count, wait, []);

    /// <summary>
    /// As <see cref="SendBatch(DatagramBatch, int, bool)"/>, also marking in <paramref name="failed"/> (when it has room)
    /// each slot the kernel refused: several sessions' replies in one batch each count their own failures.
    /// </summary>
    public int SendBatch(DatagramBatch batch, int count, bool wait, Span<bool> failed)
    {
        if (!failed.IsEmpty)
        {
            failed[..Math.Min(count, failed.Length)].Clear();
        }
        if (count == 0)
        {
            return 0;
        }
        int delivered = 0;
        if (!_native)
        {
            for (int i = 0; i < count; i++)
            {
                try
                {
                    Send(batch.Datagram(i));
                    delivered++;
                }
                catch (SocketException)
                {
                    if (i < failed.Length)
                    {
                        failed[i] = true;
                    }
                }
            }
            return delivered;
        }
        MMsgHdr* headers = batch.PrepareSend(count);
        int offset = 0;
        while (offset < count)
        {
            int sent = sendmmsg(_fd, headers + offset, (uint)(count - offset), wait ? 0 : MsgDontWait);
            if (sent < 0)
            {
                int errno = Marshal.GetLastSystemError();
                if (errno == EIntr)
                {
                    continue;
                }
                if (offset < failed.Length)
                {
                    failed[offset] = true;
                }
                offset++;
                continue;
            }
            offset += sent;
            delivered += sent;
        }
        return delivered;
    }

    private const int MsgWaitForOne = 0x10000;
    private const int MsgDontWait = 0x40;

    [StructLayout(LayoutKind.Sequential)]
    internal struct MMsgHdr
    {
        public MsgHdr Header;
        public uint Length;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int recvmmsg(int socket, MMsgHdr* messages, uint length, int flags, void* timeout);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int sendmmsg(int socket, MMsgHdr* messages, uint length, int flags);

    [StructLayout(LayoutKind.Sequential)]
    internal struct IoVec
    {
        public byte* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct MsgHdr
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint recvmsg(int socket, MsgHdr* message, int flags);
}
