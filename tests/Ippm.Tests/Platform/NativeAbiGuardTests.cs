using System.Net;
using System.Runtime.InteropServices;
using Ippm.Sessions.Engine;
using Ippm.Sessions.Transport;
using Ippm.Sessions.Twamp;
using Ippm.Tests.Loopback;
using Ippm.Wire;
using Microsoft.Extensions.Logging;

namespace Ippm.Tests.Platform;

/// <summary>Pretending another architecture changes a process-wide decision: nothing else may run meanwhile.</summary>
[CollectionDefinition(nameof(NativeAbiCollection), DisableParallelization = true)]
public sealed class NativeAbiCollection
{
}

/// <summary>
/// <see cref="NativeAbi"/>: the native Linux path (whose layouts <see cref="NativeLayoutTests"/> checks with gcc on
/// x86-64 and arm64) is used only on those architectures; elsewhere sockets take the portable path, sessions keep a
/// thread each, the server says why once, and measurements still work end to end.
/// </summary>
[Collection(nameof(NativeAbiCollection))]
public sealed class NativeAbiGuardTests
{
    [Theory]
    [InlineData(Architecture.X64, true)]
    [InlineData(Architecture.Arm64, true)]
    [InlineData(Architecture.X86, false)]
    [InlineData(Architecture.Arm, false)]
    [InlineData(Architecture.Armv6, false)]
    [InlineData(Architecture.S390x, false)]
    [InlineData(Architecture.Ppc64le, false)]
    [InlineData(Architecture.LoongArch64, false)]
    [InlineData(Architecture.RiscV64, false)]
    [InlineData(Architecture.Wasm, false)]
    public void OnLinux_OnlyTheCheckedArchitecturesUseTheNativePath(Architecture architecture, bool usable)
    {
        Assert.Equal(usable, NativeAbi.IsUsable(linux: true, architecture, out string? whyNot));
        if (usable)
        {
            Assert.Null(whyNot);
        }
        else
        {
            Assert.Contains($"checked for x86-64 and arm64, not for {architecture.ToString().ToLowerInvariant()}", whyNot, StringComparison.Ordinal);
            Assert.Contains("portable socket path", whyNot, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void OffLinux_NeverNative_AndNothingToSay()
    {
        Assert.False(NativeAbi.IsUsable(linux: false, Architecture.X64, out string? whyNot));
        Assert.Null(whyNot);
    }

    [Fact]
    public async Task UncheckedArchitecture_PortablePath_NoEngine_LoggedOnce_MeasurementStillComplete()
    {
        Assert.True(OperatingSystem.IsLinux(), "the guard decides between the native and the portable path on Linux");
        using (var native = new UdpTestSocket(new IPEndPoint(IPAddress.Loopback, 0), TimeSpan.FromMilliseconds(100)))
        {
            Assert.True(native.IsNative, "this host is x86-64 or arm64: the native path is on");
        }
        Architecture real = NativeAbi.Architecture;
        NativeAbi.Architecture = Architecture.S390x;
        NativeAbi.ForgetLogged();
        try
        {
            Assert.False(NativeAbi.Usable);
            Assert.False(SessionEngine.IsSupported);
            Assert.Throws<PlatformNotSupportedException>(() => new SessionEngine(1, TimeProvider.System));
            using (var portable = new UdpTestSocket(new IPEndPoint(IPAddress.Loopback, 0), TimeSpan.FromMilliseconds(100)))
            {
                Assert.False(portable.IsNative);
            }

            await using var server = new TestServer();
            await using var second = new TestServer();
            TwampSessionResult result = await TwampMeasurement.RunAsync(
                new TwpingOptions { Server = server.TwampEndPoint, Count = 30, Schedule = new SendSchedule(0.005, Exponential: false), Timeout = TimeSpan.FromSeconds(2) },
                CancellationToken.None).DefaultTimeout();

            Assert.Equal(SecurityMode.Open, result.Mode);
            Assert.Equal(30, result.Sent);
            Assert.Equal(30, result.Replies.Count);
            Assert.Equal(Enumerable.Range(0, 30).Select(i => (uint)i), result.Replies.Select(r => r.SenderSequence).Order());
            // Said once per process, as a warning naming the architecture: the first server said it, the second did not.
            var said = server.LoggerFactory.Entries.Where(e => e.Message.Contains("not for s390x", StringComparison.Ordinal)).ToList();
            Assert.Equal(LogLevel.Warning, Assert.Single(said).Level);
            Assert.DoesNotContain(second.LoggerFactory.Entries, e => e.Message.Contains("not for s390x", StringComparison.Ordinal));
        }
        finally
        {
            NativeAbi.Architecture = real;
        }
    }
}
