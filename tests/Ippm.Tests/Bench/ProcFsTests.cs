using System.Diagnostics;
using Ippm.Sessions.Bench;

namespace Ippm.Tests.Bench;

/// <summary>The /proc parsers of the load harnesses, on texts in proc(5)'s layout and on this live process.</summary>
public sealed class ProcFsTests
{
    // A real /proc/PID/stat line (fields 1-52) whose command name holds spaces and a ')': utime 4711, stime 815.
    private const string StatWithAwkwardName =
        "12345 (ippm (a) b) S 1 12345 12345 0 -1 4194560 5309 0 0 0 4711 815 0 0 20 0 17 0 20933 3249913856 42596 " +
        "18446744073709551615 1 1 0 0 0 0 0 4096 17630 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

    private const string Status =
        "Name:\tdotnet\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t12345\nVmPeak:\t 3255056 kB\nVmSize:\t 3173744 kB\n" +
        "VmHWM:\t  180004 kB\nVmRSS:\t  173224 kB\nRssAnon:\t  130000 kB\nThreads:\t2015\nSigQ:\t0/95612\n";

    private const string MachineStat =
        "cpu  10132153 290696 3084719 46828483 16683 0 25195 7 11 13\ncpu0 1393280 32966 572056 13343292 6130 0 17875 0 0 0\nintr 1\n";

    [Fact]
    public void ProcessStat_CommandNameWithSpacesAndParentheses_UtimePlusStime()
    {
        Assert.True(ProcFs.TryParseProcessStat(StatWithAwkwardName, out long ticks));
        Assert.Equal(4711 + 815, ticks);
    }

    [Theory]
    [InlineData("")]
    [InlineData("12345 (ippm S 1 2 3")]
    [InlineData("12345 (ippm) S 1 12345 12345 0 -1 4194560 5309 0 0 0")]
    [InlineData("12345 (ippm) S 1 12345 12345 0 -1 4194560 5309 0 0 0 x 815 0")]
    public void ProcessStat_TruncatedOrGarbled_Refused(string text) => Assert.False(ProcFs.TryParseProcessStat(text, out _));

    [Fact]
    public void ProcessStatus_VmRssAndThreads()
    {
        Assert.True(ProcFs.TryParseProcessStatus(Status, out long rss, out int threads));
        Assert.Equal(173224, rss);
        Assert.Equal(2015, threads);
    }

    [Theory]
    [InlineData("Name:\tx\nThreads:\t3\n")] // a kernel thread has no VmRSS line
    [InlineData("VmRSS:\t 12 kB\n")]
    [InlineData("VmRSS:\t lots kB\nThreads:\t3\n")]
    public void ProcessStatus_MissingOrGarbled_Refused(string text) => Assert.False(ProcFs.TryParseProcessStatus(text, out _, out _));

    [Fact]
    public void MachineStat_BusyIsEverythingButIdleAndIowait_GuestNotCountedTwice()
    {
        Assert.True(ProcFs.TryParseMachineStat(MachineStat, out MachineSample sample));
        long total = 10132153 + 290696 + 3084719 + 46828483 + 16683 + 0 + 25195 + 7;
        Assert.Equal(total, sample.TotalTicks);
        Assert.Equal(total - 46828483 - 16683, sample.BusyTicks);
    }

    [Theory]
    [InlineData("cpu0 1 2 3 4 5\n")]
    [InlineData("cpu 1 2\n")]
    [InlineData("cpu 1 2 -3 4 5\n")]
    public void MachineStat_NotTheAggregateLine_Refused(string text) => Assert.False(ProcFs.TryParseMachineStat(text, out _));

    [Fact]
    public void LiveProcess_AgreesWithTheRuntimesOwnAccounting()
    {
        using var self = Process.GetCurrentProcess();
        // Burn some CPU so the counters are well above one tick.
        var spin = Stopwatch.StartNew();
        while (spin.ElapsedMilliseconds < 200)
        {
        }
        ProcessSample first = ProcFs.ReadProcess(Environment.ProcessId)!.Value;
        self.Refresh();
        TimeSpan runtime = self.TotalProcessorTime;
        long workingSet = self.WorkingSet64;
        ProcessSample second = ProcFs.ReadProcess(Environment.ProcessId)!.Value;

        // The runtime reads getrusage (microseconds), /proc counts ticks the kernel accounts its own way: they agree to a
        // few ticks and percent, while a wrong field (utime alone, a neighbour) would be off by far more.
        double firstUs = ProcFs.TicksToMicroseconds(first.CpuTicks), secondUs = ProcFs.TicksToMicroseconds(second.CpuTicks);
        Assert.InRange(runtime.TotalMicroseconds, firstUs * 0.97 - 50_000, secondUs * 1.03 + 50_000);
        Assert.InRange(first.ResidentKiB * 1024.0, workingSet * 0.8, workingSet * 1.25);
        Assert.True(first.Threads >= 2, $"{first.Threads} threads");
        Assert.True(ProcFs.ReadMachine()!.Value.BusyTicks >= second.CpuTicks, "the machine has been busier than this process");
    }

    [Fact]
    public void GoneProcess_Null() => Assert.Null(ProcFs.ReadProcess(int.MaxValue));
}
