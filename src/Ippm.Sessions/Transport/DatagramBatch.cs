using System.Runtime.InteropServices;
using Ippm.Wire;

namespace Ippm.Sessions.Transport;

/// <summary>
/// Pre-allocated native buffers for recvmmsg/sendmmsg: <see cref="Capacity"/> slots of <see cref="SlotSize"/>
/// octets, each with its iovec, msghdr and ancillary-data space. Nothing is allocated per packet.
/// </summary>
public sealed unsafe class DatagramBatch : IDisposable
{
    internal const int ControlSize = 128; // timestamp (32) + TTL (24) + TOS (24) cmsgs, with room to spare

    /// <summary>Ancillary space of an addressed batch: timestamp, TTL, TOS and packet info together.</summary>
    internal const int AddressedControlSize = 192;

    /// <summary>sockaddr_in6 is the largest address a UDP test socket sees; sockaddr_in fits in it.</summary>
    public const int AddressSize = 28;

    private readonly byte* _data;
    private readonly UdpTestSocket.IoVec* _iov;
    private readonly UdpTestSocket.MMsgHdr* _headers;
    private readonly byte* _control;
    private readonly int[] _lengths;
    private readonly NtpTimestamp[] _times;
    private readonly byte[] _ttls;
    private readonly bool[] _truncated;
    private readonly short[] _tos;
    private readonly int _controlSize;
    private readonly byte* _names;
    private readonly uint[]? _nameLengths;
    private readonly short[]? _trafficClass;
    private readonly short[]? _sendTrafficClass;
    private readonly byte[]? _localAddresses;

    public DatagramBatch(int capacity, int slotSize)
        : this(capacity, slotSize, addressed: false)
    {
    }

    /// <param name="addressed">
    /// Each slot also carries its peer's address (recvmmsg fills it, sendmmsg sends to it), the received
    /// TOS / Traffic Class and local address, and an optional per-datagram TOS to send with: what a reflector
    /// serving many senders on one unconnected socket needs (STAMP, TWAMP-Light).
    /// </param>
    public DatagramBatch(int capacity, int slotSize, bool addressed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(slotSize, 1);
        Capacity = capacity;
        SlotSize = slotSize;
        _data = (byte*)NativeMemory.AllocZeroed((nuint)capacity * (nuint)slotSize);
        _iov = (UdpTestSocket.IoVec*)NativeMemory.AllocZeroed((nuint)capacity, (nuint)sizeof(UdpTestSocket.IoVec));
        _headers = (UdpTestSocket.MMsgHdr*)NativeMemory.AllocZeroed((nuint)capacity, (nuint)sizeof(UdpTestSocket.MMsgHdr));
        _controlSize = addressed ? AddressedControlSize : ControlSize;
        _control = (byte*)NativeMemory.AllocZeroed((nuint)capacity * (nuint)_controlSize);
        if (addressed)
        {
            _names = (byte*)NativeMemory.AllocZeroed((nuint)capacity * AddressSize);
            _nameLengths = new uint[capacity];
            _trafficClass = new short[capacity];
            _sendTrafficClass = new short[capacity];
            Array.Fill(_sendTrafficClass, (short)-1);
            _localAddresses = new byte[capacity * 17];
        }
        _lengths = new int[capacity];
        _times = new NtpTimestamp[capacity];
        _ttls = new byte[capacity];
        _truncated = new bool[capacity];
        _tos = new short[capacity];
    }

    public int Capacity { get; }

    /// <summary>
    /// Octets a receive accepts per slot (at most <see cref="SlotSize"/>): a larger datagram arrives truncated
    /// (MSG_TRUNC). Lets a session borrow a larger shared batch and still see its own size limit.
    /// </summary>
    public int ReceiveLength
    {
        get => _receiveLength == 0 ? SlotSize : _receiveLength;
        set => _receiveLength = Math.Clamp(value, 1, SlotSize);
    }

    private int _receiveLength;

    public bool Addressed => _names != null;
    public int SlotSize { get; }

    /// <summary>The whole slot, to fill before sending or to read after receiving.</summary>
    public Span<byte> Slot(int index) => new(_data + (long)index * SlotSize, SlotSize);

    /// <summary>The received datagram (or the length set for sending).</summary>
    public Span<byte> Datagram(int index) => new(_data + (long)index * SlotSize, _lengths[index]);

    public int Length(int index) => _lengths[index];

    public void SetLength(int index, int length)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, SlotSize);
        _lengths[index] = length;
    }

    public NtpTimestamp ReceiveTime(int index) => _times[index];

    /// <summary>TTL / Hop Limit, 0 when unknown.</summary>
    public byte Ttl(int index) => _ttls[index];

    public bool Truncated(int index) => _truncated[index];

    /// <summary>The TOS / Traffic Class octet as received (DSCP &lt;&lt; 2 | ECN), null when the platform cannot tell.</summary>
    public byte? Tos(int index) => _tos[index] < 0 ? null : (byte)_tos[index];

    internal UdpTestSocket.MMsgHdr* PrepareReceive(int count)
    {
        for (int i = 0; i < count; i++)
        {
            _iov[i] = new UdpTestSocket.IoVec { Base = _data + (long)i * SlotSize, Length = (nuint)ReceiveLength };
            _headers[i] = new UdpTestSocket.MMsgHdr
            {
                Header = new UdpTestSocket.MsgHdr { Iov = &_iov[i], IovLength = 1, Control = _control + (long)i * _controlSize, ControlLength = (nuint)_controlSize },
            };
            if (_names != null)
            {
                _headers[i].Header.Name = _names + (long)i * AddressSize;
                _headers[i].Header.NameLength = AddressSize;
                _trafficClass![i] = -1;
                _localAddresses![i * 17] = 0;
            }
        }
        return _headers;
    }

    internal UdpTestSocket.MMsgHdr* PrepareSend(int count)
    {
        for (int i = 0; i < count; i++)
        {
            _iov[i] = new UdpTestSocket.IoVec { Base = _data + (long)i * SlotSize, Length = (nuint)_lengths[i] };
            _headers[i] = new UdpTestSocket.MMsgHdr { Header = new UdpTestSocket.MsgHdr { Iov = &_iov[i], IovLength = 1 } };
            if (_names != null)
            {
                _headers[i].Header.Name = _names + (long)i * AddressSize;
                _headers[i].Header.NameLength = _nameLengths![i];
                if (_sendTrafficClass![i] >= 0)
                {
                    byte* control = _control + (long)i * _controlSize;
                    _headers[i].Header.Control = control;
                    _headers[i].Header.ControlLength = (nuint)AncillaryData.WriteTrafficClass(control, ipv6: _nameLengths[i] > 16, _sendTrafficClass[i]);
                }
            }
        }
        return _headers;
    }

    internal void Complete(int index, int length, NtpTimestamp time, byte ttl, bool truncated, byte? tos = null)
    {
        _tos[index] = tos is byte b ? b : (short)-1;
        _lengths[index] = length;
        _times[index] = time;
        _ttls[index] = ttl;
        _truncated[index] = truncated;
    }

    internal byte* Control(int index) => _control + (long)index * _controlSize;

    /// <summary>The peer's raw sockaddr (sockaddr_in or sockaddr_in6), of an addressed batch.</summary>
    public ReadOnlySpan<byte> Address(int index) => new(_names + (long)index * AddressSize, (int)_nameLengths![index]);

    /// <summary>Sets where slot <paramref name="index"/> goes: a raw sockaddr as <see cref="Address"/> gives it.</summary>
    public void SetAddress(int index, ReadOnlySpan<byte> sockaddr)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(sockaddr.Length, AddressSize);
        sockaddr.CopyTo(new Span<byte>(_names + (long)index * AddressSize, AddressSize));
        _nameLengths![index] = (uint)sockaddr.Length;
    }

    /// <summary>Received TOS / Traffic Class octet (DSCP and ECN), -1 when the kernel did not say.</summary>
    public int TrafficClass(int index) => _trafficClass![index];

    /// <summary>TOS / Traffic Class to send slot <paramref name="index"/> with, -1 for the socket's default.</summary>
    public void SetSendTrafficClass(int index, int trafficClass) => _sendTrafficClass![index] = (short)trafficClass;

    /// <summary>The local (destination) address the datagram arrived at, when the kernel said (IP_PKTINFO).</summary>
    public ReadOnlySpan<byte> LocalAddress(int index)
    {
        int length = _localAddresses![index * 17];
        return _localAddresses.AsSpan((index * 17) + 1, length);
    }

    internal void CompleteAddressed(int index, uint nameLength, int trafficClass, ReadOnlySpan<byte> localAddress)
    {
        _nameLengths![index] = nameLength;
        _trafficClass![index] = (short)trafficClass;
        _localAddresses![index * 17] = (byte)localAddress.Length;
        localAddress.CopyTo(_localAddresses.AsSpan((index * 17) + 1));
    }

    public void Dispose()
    {
        NativeMemory.Free(_data);
        NativeMemory.Free(_iov);
        NativeMemory.Free(_headers);
        NativeMemory.Free(_control);
        NativeMemory.Free(_names);
        GC.SuppressFinalize(this);
    }

    ~DatagramBatch()
    {
        NativeMemory.Free(_data);
        NativeMemory.Free(_iov);
        NativeMemory.Free(_headers);
        NativeMemory.Free(_control);
        NativeMemory.Free(_names);
    }
}
