using System.Globalization;
using System.Runtime.InteropServices;

namespace Ippm.Sessions.Bench;

/// <summary>A process's CPU time, resident memory and thread count, read from /proc/PID/stat and /proc/PID/status.</summary>
/// <param name="CpuTicks">utime + stime (proc(5) fields 14 and 15), in clock ticks.</param>
/// <param name="ResidentKiB">VmRSS.</param>
/// <param name="Threads">Threads.</param>
public readonly record struct ProcessSample(long CpuTicks, long ResidentKiB, int Threads);

/// <summary>The whole machine's CPU time from the first line of /proc/stat, in clock ticks summed over all cores.</summary>
/// <param name="BusyTicks">Every column except idle and iowait.</param>
/// <param name="TotalTicks">Every column.</param>
public readonly record struct MachineSample(long BusyTicks, long TotalTicks);

/// <summary>
/// Linux procfs parsing for the load harnesses (proc(5)). Pure parsers over the files' text, so the tests can feed
/// them real and awkward contents (a command name with spaces and parentheses), plus readers for live processes.
/// </summary>
public static partial class ProcFs
{
    private const int ScClkTck = 2; // _SC_CLK_TCK in glibc's <bits/confname.h>

    private static readonly Lazy<long> s_ticksPerSecond = new(() =>
    {
        long ticks = OperatingSystem.IsLinux() ? sysconf(ScClkTck) : -1;
        return ticks > 0 ? ticks : 100;
    });

    /// <summary>USER_HZ, the unit of /proc's CPU times (100 on every common Linux build).</summary>
    public static long TicksPerSecond => s_ticksPerSecond.Value;

    /// <summary>Microseconds in <paramref name="ticks"/> clock ticks.</summary>
    public static double TicksToMicroseconds(long ticks) => ticks * 1e6 / TicksPerSecond;

    /// <summary>
    /// utime + stime from the text of /proc/PID/stat. The command name (field 2) is in parentheses and may itself hold
    /// spaces and ')' characters, so fields are counted from the last ')'.
    /// </summary>
    public static bool TryParseProcessStat(string text, out long cpuTicks)
    {
        cpuTicks = 0;
        int close = text.LastIndexOf(')');
        if (close < 0)
        {
            return false;
        }
        // After ")": field 3 (state) is the first; utime is field 14 and stime field 15, i.e. the 12th and 13th here.
        string[] fields = text[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 13
            || !long.TryParse(fields[11], NumberStyles.None, CultureInfo.InvariantCulture, out long utime)
            || !long.TryParse(fields[12], NumberStyles.None, CultureInfo.InvariantCulture, out long stime))
        {
            return false;
        }
        cpuTicks = utime + stime;
        return true;
    }

    /// <summary>VmRSS (KiB) and Threads from the text of /proc/PID/status.</summary>
    public static bool TryParseProcessStatus(string text, out long residentKiB, out int threads)
    {
        residentKiB = -1;
        threads = -1;
        foreach (string line in text.Split('\n'))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                string value = line["VmRSS:".Length..].Trim();
                if (value.EndsWith(" kB", StringComparison.Ordinal))
                {
                    value = value[..^3].TrimEnd();
                }
                if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out residentKiB))
                {
                    return false;
                }
            }
            else if (line.StartsWith("Threads:", StringComparison.Ordinal)
                && !int.TryParse(line["Threads:".Length..].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out threads))
            {
                return false;
            }
        }
        return residentKiB >= 0 && threads > 0;
    }

    /// <summary>The aggregate "cpu" line of /proc/stat: user nice system idle iowait irq softirq steal (guest time is already inside user).</summary>
    public static bool TryParseMachineStat(string text, out MachineSample sample)
    {
        sample = default;
        int end = text.IndexOf('\n');
        string first = end < 0 ? text : text[..end];
        string[] fields = first.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 5 || fields[0] != "cpu")
        {
            return false;
        }
        long total = 0, idle = 0;
        // Columns 9 and 10 (guest, guest_nice) are counted in user and nice already (proc(5)).
        for (int i = 1; i < Math.Min(fields.Length, 9); i++)
        {
            if (!long.TryParse(fields[i], NumberStyles.None, CultureInfo.InvariantCulture, out long value))
            {
                return false;
            }
            total += value;
            if (i is 4 or 5)
            {
                idle += value;
            }
        }
        sample = new MachineSample(total - idle, total);
        return true;
    }

    /// <summary>Reads a live process; null when it has gone or /proc is not there.</summary>
    public static ProcessSample? ReadProcess(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            string status = File.ReadAllText($"/proc/{pid}/status");
            return TryParseProcessStat(stat, out long cpu) && TryParseProcessStatus(status, out long rss, out int threads)
                ? new ProcessSample(cpu, rss, threads)
                : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Reads /proc/stat; null when it is not there.</summary>
    public static MachineSample? ReadMachine()
    {
        try
        {
            return TryParseMachineStat(File.ReadAllText("/proc/stat"), out MachineSample sample) ? sample : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    [LibraryImport("libc")]
    private static partial long sysconf(int name);
}
