using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using Ippm.Sessions.Transport;

namespace Ippm.Tests.Platform;

/// <summary>
/// The Linux structures and constants <see cref="UdpTestSocket"/> passes to recvmmsg/sendmmsg/recvmsg/setsockopt are
/// declared in C# for LP64 Linux (x86_64, arm64). The oracle is the C compiler of the machine the tests run on: a
/// small program prints sizeof/offsetof and the constants from the system headers, and the C# declarations must
/// agree, so a port to an architecture where they differ fails here rather than corrupting memory.
/// </summary>
public sealed class NativeLayoutTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ippm-layout-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const string Program = """
        #define _GNU_SOURCE
        #include <errno.h>
        #include <netinet/in.h>
        #include <stddef.h>
        #include <stdio.h>
        #include <sys/socket.h>
        #include <sys/uio.h>
        int main(void) {
            printf("msghdr %zu %zu %zu %zu %zu %zu %zu %zu\n", sizeof(struct msghdr),
                offsetof(struct msghdr, msg_name), offsetof(struct msghdr, msg_namelen), offsetof(struct msghdr, msg_iov),
                offsetof(struct msghdr, msg_iovlen), offsetof(struct msghdr, msg_control),
                offsetof(struct msghdr, msg_controllen), offsetof(struct msghdr, msg_flags));
            printf("mmsghdr %zu %zu\n", sizeof(struct mmsghdr), offsetof(struct mmsghdr, msg_len));
            printf("iovec %zu %zu\n", sizeof(struct iovec), offsetof(struct iovec, iov_len));
            printf("SolSocket %d\nSoTimestampNs %d\nIpProtoIp %d\nIpTtl %d\nIpRecvTtl %d\nIpTos %d\nIpRecvTos %d\n",
                SOL_SOCKET, SO_TIMESTAMPNS, IPPROTO_IP, IP_TTL, IP_RECVTTL, IP_TOS, IP_RECVTOS);
            printf("Ipv6RecvTclass %d\nIpv6Tclass %d\nIpProtoIpv6 %d\nIpv6RecvHopLimit %d\nIpv6HopLimit %d\n",
                IPV6_RECVTCLASS, IPV6_TCLASS, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, IPV6_HOPLIMIT);
            printf("MsgTrunc %d\nEAgain %d\nEIntr %d\nMsgWaitForOne %d\n", MSG_TRUNC, EAGAIN, EINTR, MSG_WAITFORONE);
            printf("IpPktInfo %d\nIpv6RecvPktInfo %d\nIpv6PktInfo %d\n", IP_PKTINFO, IPV6_RECVPKTINFO, IPV6_PKTINFO);
            printf("HeaderLength %zu\nTrafficClassLength %zu\n", (size_t)CMSG_LEN(0), (size_t)CMSG_SPACE(sizeof(int)));
            printf("InPktInfoLength %zu\nInPktInfoAddrOffset %zu\nIn6PktInfoLength %zu\n",
                sizeof(struct in_pktinfo), offsetof(struct in_pktinfo, ipi_addr), sizeof(struct in6_pktinfo));
            return 0;
        }
        """;

    private async Task<Dictionary<string, long[]>> CompilerSaysAsync()
    {
        string source = Path.Combine(_dir, "layout.c");
        string binary = Path.Combine(_dir, "layout");
        await File.WriteAllTextAsync(source, Program);
        await RunAsync("gcc", "-o", binary, source);
        string output = await RunAsync(binary);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' '))
            .ToDictionary(words => words[0], words => words[1..].Select(long.Parse).ToArray());
    }

    private static async Task<string> RunAsync(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        using Process process = Process.Start(info)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(120));
        Assert.True(process.ExitCode == 0, $"{file} exited {process.ExitCode}: {await stderr}");
        return await stdout;
    }

    private static long Offset<T>(string field) => Marshal.OffsetOf<T>(field).ToInt64();

    [Fact]
    public async Task StructLayouts_MatchTheSystemHeaders()
    {
        Assert.True(OperatingSystem.IsLinux(), "the native transport is Linux-only; these tests run where it does");
        Dictionary<string, long[]> c = await CompilerSaysAsync();

        Assert.Equal(c["msghdr"], new long[]
        {
            Marshal.SizeOf<UdpTestSocket.MsgHdr>(),
            Offset<UdpTestSocket.MsgHdr>(nameof(UdpTestSocket.MsgHdr.Name)),
            Offset<UdpTestSocket.MsgHdr>(nameof(UdpTestSocket.MsgHdr.NameLength)),
            Offset<UdpTestSocket.MsgHdr>(nameof(UdpTestSocket.MsgHdr.Iov)),
            Offset<UdpTestSocket.MsgHdr>(nameof(UdpTestSocket.MsgHdr.IovLength)),
            Offset<UdpTestSocket.MsgHdr>(nameof(UdpTestSocket.MsgHdr.Control)),
            Offset<UdpTestSocket.MsgHdr>(nameof(UdpTestSocket.MsgHdr.ControlLength)),
            Offset<UdpTestSocket.MsgHdr>(nameof(UdpTestSocket.MsgHdr.Flags)),
        });
        Assert.Equal(c["mmsghdr"], new long[] { Marshal.SizeOf<UdpTestSocket.MMsgHdr>(), Offset<UdpTestSocket.MMsgHdr>(nameof(UdpTestSocket.MMsgHdr.Length)) });
        Assert.Equal(c["iovec"], new long[] { Marshal.SizeOf<UdpTestSocket.IoVec>(), Offset<UdpTestSocket.IoVec>(nameof(UdpTestSocket.IoVec.Length)) });
    }

    [Fact]
    public async Task Constants_MatchTheSystemHeaders()
    {
        Dictionary<string, long[]> c = await CompilerSaysAsync();
        // The socket's own constants, and the ancillary data's (cmsg levels and types, cmsghdr and pktinfo layouts).
        Type ancillary = typeof(UdpTestSocket).Assembly.GetType("Ippm.Sessions.Transport.AncillaryData", throwOnError: true)!;
        (Type Type, string[] Names)[] checks =
        [
            (typeof(UdpTestSocket), ["SolSocket", "IpProtoIp", "IpTtl", "IpTos", "Ipv6Tclass", "IpProtoIpv6", "MsgTrunc", "EAgain", "EIntr", "MsgWaitForOne"]),
            (ancillary, ["SolSocket", "SoTimestampNs", "IpProtoIp", "IpTtl", "IpRecvTtl", "IpTos", "IpRecvTos", "Ipv6RecvTclass", "Ipv6Tclass",
                "IpProtoIpv6", "Ipv6RecvHopLimit", "Ipv6HopLimit", "IpPktInfo", "Ipv6RecvPktInfo", "Ipv6PktInfo",
                "HeaderLength", "TrafficClassLength", "InPktInfoLength", "InPktInfoAddrOffset", "In6PktInfoLength"]),
        ];
        foreach ((Type type, string[] names) in checks)
        {
            foreach (string name in names)
            {
                FieldInfo? field = type.GetField(name, BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.Static);
                Assert.True(field is { IsLiteral: true }, $"{type.Name}.{name}: the constant this test checks is gone or renamed; check the new one against the headers");
                Assert.True(Convert.ToInt64(field!.GetRawConstantValue(), System.Globalization.CultureInfo.InvariantCulture) == c[name][0], $"{type.Name}.{name}: ippm says {field.GetRawConstantValue()}, the headers {c[name][0]}");
            }
        }
    }
}
