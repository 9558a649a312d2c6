#!/usr/bin/env bash
# Mutation testing with Stryker.NET (a local dotnet tool, pinned in dotnet-tools.json). Prints each target's
# mutation score and fails when one is below its threshold.
#
#   scripts/mutation.sh fast       Ippm.Statistics and the report code (TwampReport/OwampReport computation, the
#                                  perfSONAR .owp reader), from tests/Ippm.Statistics.Tests: what CI runs
#   scripts/mutation.sh wire       Ippm.Wire, from tests/Ippm.WireSecurity.Tests (the socket-free codec and
#                                  crypto tests, ~3 s a run): about 5 minutes on a busy 2-core machine; CI runs it
#   scripts/mutation.sh security   Ippm.Security, from the same project: 7-20 minutes on the same machine (the
#                                  schedule vectors draw 4 million variates for every mutant of the schedule code,
#                                  the HMAC engines hash 1500 messages per engine for every SHA-1 mutant), so CI
#                                  does not run it; run it when Ippm.Security changes
#   scripts/mutation.sh all        every target
#   Targets may be combined: scripts/mutation.sh fast wire
#
# Thresholds (issue 16): 85 % for statistics and reports, 70 % for Wire and Security. Reports go to
# artifacts/mutation/<target>/reports (HTML and JSON). STRYKER_CONCURRENCY sets parallel test runs (default 2).
#
# Coverage analysis is Stryker's default, perTest: each mutant runs only the tests that reached it.
# Not mutated, because they are not computation (stryker config below and the --mutate exclusions):
#   - the arguments of exception constructors (*Exception.ctor): message text for people; that the right
#     exception is thrown, and for which argument, stays mutated and tested;
#   - ErrorEstimate.ToString and NtpTimestamp.ToString: debugging text (test failure messages, the debugger),
#     no report or log prints them.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
targets=" ${*:-fast} "
targets=${targets/ fast / statistics reports }
targets=${targets/ all / statistics reports wire security }
want() { [[ "$targets" == *" $1 "* ]]; }
concurrency=${STRYKER_CONCURRENCY:-2}
dotnet tool restore >/dev/null
mkdir -p "$root/artifacts/mutation"
config="$root/artifacts/mutation/stryker-config.json"
cat > "$config" <<'JSON'
{ "stryker-config": { "coverage-analysis": "perTest", "ignore-methods": ["*Exception.ctor"] } }
JSON

# Character spans (Stryker's {start..end}) of the computation in a report file: from the first line matching
# START up to the first line matching END after it. Text output and JSON layout are not mutated here: they are
# the CLI's, checked by the CLI tests, and change with it.
span() {
  python3 - "$1" "$2" "$3" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8-sig", newline="").read()
start = re.search(sys.argv[2], text, re.M)
end = re.compile(sys.argv[3], re.M).search(text, start.end())
print("{%d..%d}" % (start.start(), end.start()))
PY
}

failed=0
run() { # name threshold test-project project [mutate patterns...] [-- extra stryker args]
  local name=$1 threshold=$2 testproject=$3 project=$4
  shift 4
  local args=()
  while [ $# -gt 0 ]; do
    if [ "$1" = "--" ]; then shift; args+=("$@"); break; fi
    args+=(--mutate "$1"); shift
  done
  local out="$root/artifacts/mutation/$name"
  rm -rf "$out"
  mkdir -p "$root/artifacts/mutation"
  echo "mutation: $name (threshold $threshold %) ..."
  ( cd "$testproject" && dotnet stryker --config-file "$config" --project "$project" --concurrency "$concurrency" --skip-version-check \
      --reporter json --reporter html --reporter progress --output "$out" "${args[@]}" ) > "$out.log" 2>&1 || true
  local score
  score=$(grep -oE 'final mutation score is [0-9.]+' "$out.log" | grep -oE '[0-9.]+$' || true)
  if [ -z "$score" ]; then
    echo "mutation: $name did not finish; see $out.log" >&2
    tail -n 20 "$out.log" >&2 || true
    failed=1
    return
  fi
  python3 - "$out/reports/mutation-report.json" "$name" "$score" <<'PY'
import json, sys
report, name, score = sys.argv[1], sys.argv[2], sys.argv[3]
counts = {}
survivors = []
for path, f in json.load(open(report))["files"].items():
    lines = f["source"].split("\n")
    for m in f["mutants"]:
        counts[m["status"]] = counts.get(m["status"], 0) + 1
        if m["status"] in ("Survived", "NoCoverage"):
            line = m["location"]["start"]["line"]
            survivors.append(f"    {path.split('/')[-1]}:{line} {m['status']} {m['mutatorName']}: {lines[line - 1].strip()[:100]}")
print(f"mutation score {name}: {score} %  ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})")
print("\n".join(survivors))
PY
  if ! python3 -c "import sys; sys.exit(0 if float('$score') >= $threshold else 1)"; then
    echo "mutation: $name scored $score %, below $threshold %" >&2
    failed=1
  fi
}

if want statistics; then
  run statistics 85 tests/Ippm.Statistics.Tests Ippm.Statistics.csproj
fi
if want reports; then
  twamp=src/Ippm.Sessions/Twamp/TwampReport.cs
  owamp=src/Ippm.Sessions/Owamp/OwampReport.cs
  run reports 85 tests/Ippm.Statistics.Tests Ippm.Sessions.csproj \
    "**/Twamp/TwampReport.cs$(span $twamp '^    public static TwampReport Create\(' '^    private static string Ms\(')" \
    "**/Owamp/OwampReport.cs$(span $owamp '^    public double LossRatio' '^    public void WriteJson\(')" \
    "**/Owamp/OwampReport.cs$(span $owamp '^    public static OwampReport Create\(' '^    public void WriteJson\(')" \
    "**/SessionFiles/PerfsonarOwpFile.cs"
fi
if want wire; then
  run wire 70 tests/Ippm.WireSecurity.Tests Ippm.Wire.csproj "**/*.cs" \
    "!**/ErrorEstimate.cs$(span src/Ippm.Wire/ErrorEstimate.cs '^    public override string ToString\(' '^}')" \
    "!**/NtpTimestamp.cs$(span src/Ippm.Wire/NtpTimestamp.cs '^    public override string ToString\(' '^}')"
fi
if want security; then
  run security 70 tests/Ippm.WireSecurity.Tests Ippm.Security.csproj
fi
exit "$failed"
