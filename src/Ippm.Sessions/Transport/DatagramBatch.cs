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

    private readonly byte* _data;
    private readonly UdpTestSocket.IoVec* _iov;
    private readonly UdpTestSocket.MMsgHdr* _headers;
    private readonly byte* _control;
    private readonly int[] _lengths;
    private readonly NtpTimestamp[] _times;
    private readonly byte[] _ttls;
    private readonly bool[] _truncated;
    private readonly short[] _tos;

    public DatagramBatch(int capacity, int slotSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(slotSize, 1);
        Capacity = capacity;
        SlotSize = slotSize;
        _data = (byte*)NativeMemory.AllocZeroed((nuint)capacity * (nuint)slotSize);
        _iov = (UdpTestSocket.IoVec*)NativeMemory.AllocZeroed((nuint)capacity, (nuint)sizeof(UdpTestSocket.IoVec));
        _headers = (UdpTestSocket.MMsgHdr*)NativeMemory.AllocZeroed((nuint)capacity, (nuint)sizeof(UdpTestSocket.MMsgHdr));
        _control = (byte*)NativeMemory.AllocZeroed((nuint)capacity * ControlSize);
        _lengths = new int[capacity];
        _times = new NtpTimestamp[capacity];
        _ttls = new byte[capacity];
        _truncated = new bool[capacity];
        _tos = new short[capacity];
    }

    public int Capacity { get; }
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
            _iov[i] = new UdpTestSocket.IoVec { Base = _data + (long)i * SlotSize, Length = (nuint)SlotSize };
            _headers[i] = new UdpTestSocket.MMsgHdr
            {
                Header = new UdpTestSocket.MsgHdr { Iov = &_iov[i], IovLength = 1, Control = _control + (long)i * ControlSize, ControlLength = ControlSize },
            };
        }
        return _headers;
    }

    internal UdpTestSocket.MMsgHdr* PrepareSend(int count)
    {
        for (int i = 0; i < count; i++)
        {
            _iov[i] = new UdpTestSocket.IoVec { Base = _data + (long)i * SlotSize, Length = (nuint)_lengths[i] };
            _headers[i] = new UdpTestSocket.MMsgHdr { Header = new UdpTestSocket.MsgHdr { Iov = &_iov[i], IovLength = 1 } };
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

    internal byte* Control(int index) => _control + (long)index * ControlSize;

    public void Dispose()
    {
        NativeMemory.Free(_data);
        NativeMemory.Free(_iov);
        NativeMemory.Free(_headers);
        NativeMemory.Free(_control);
        GC.SuppressFinalize(this);
    }

    ~DatagramBatch()
    {
        NativeMemory.Free(_data);
        NativeMemory.Free(_iov);
        NativeMemory.Free(_headers);
        NativeMemory.Free(_control);
    }
}
