#!/usr/bin/env python3
# The six mutants named in issue 16 (review): each is applied in turn, tests/Ippm.Statistics.Tests run, the
# source restored. Every one must be KILLED. Usage: python3 scripts/review-mutants.py (from the repository root).
import subprocess, sys
mutants = [
 ("removing reordered++", "src/Ippm.Statistics/SequenceAnalysis.cs", "                reordered++;\n", "\n"),
 ("every percentile returns the minimum", "src/Ippm.Statistics/DelayStatistics.cs", "        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];", "        return sorted[0];"),
 ("IPDV adds 0", "src/Ippm.Statistics/Ipdv.cs", "result.Add(delay - previous);", "result.Add(0);"),
 ("RTT without T3-T2", "src/Ippm.Sessions/Twamp/TwampReport.cs", "static double Rtt(TwampSample s) => NtpTimestamp.DifferenceSeconds(s.T4, s.T1) - NtpTimestamp.DifferenceSeconds(s.T3, s.T2);", "static double Rtt(TwampSample s) => NtpTimestamp.DifferenceSeconds(s.T4, s.T1);"),
 ("forward/backward swapped", "src/Ippm.Sessions/Twamp/TwampReport.cs", "static double Fwd(TwampSample s) => NtpTimestamp.DifferenceSeconds(s.T2, s.T1);\n        static double Bwd(TwampSample s) => NtpTimestamp.DifferenceSeconds(s.T4, s.T3);", "static double Fwd(TwampSample s) => NtpTimestamp.DifferenceSeconds(s.T4, s.T3);\n        static double Bwd(TwampSample s) => NtpTimestamp.DifferenceSeconds(s.T2, s.T1);"),
 ("OWAMP delay doubled", "src/Ippm.Sessions/Owamp/OwampReport.cs", "static double Delay(OwampDataRecord r) => NtpTimestamp.DifferenceSeconds(r.ReceiveTime, r.SendTime);", "static double Delay(OwampDataRecord r) => 2 * NtpTimestamp.DifferenceSeconds(r.ReceiveTime, r.SendTime);"),
]
survived = False
for name, path, old, new in mutants:
    src = open(path).read()
    assert src.count(old) == 1, (name, src.count(old))
    open(path, "w").write(src.replace(old, new))
    try:
        r = subprocess.run(["dotnet", "test", "tests/Ippm.Statistics.Tests"], capture_output=True, text=True, timeout=900)
        summary = [l for l in r.stdout.splitlines() if "Failed!" in l or "Passed!" in l or "error" in l][:2]
        print(f"{name}: {'KILLED' if r.returncode != 0 else 'SURVIVED'} {summary}", flush=True)
        survived = survived or r.returncode == 0
    finally:
        open(path, "w").write(src)
sys.exit(1 if survived else 0)
