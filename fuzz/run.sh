#!/usr/bin/env bash
# Coverage-guided fuzzing of ippm's parsers: SharpFuzz-instrumented assemblies under AFL++ (Debian's afl++).
#
#   fuzz/run.sh [SECONDS] [TARGET...]     each target for SECONDS (default 40); all targets by default
#
# Targets: control-server, control-client, test-packet, ike, pfs (fuzz/Ippm.Fuzz/FuzzTargets.cs). Seeds: the
# perfSONAR captures in ../shared/vectors plus generated IKE and .pfs files. Output under fuzz/out/ (ignored by
# git). Prints executions and crashes per target; exits 1 when any target crashed, listing the crashing inputs
# (reproduce one with: dotnet fuzz/out/bin/Ippm.Fuzz.dll TARGET FILE).
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-40}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(control-server control-client test-packet ike pfs)
vectors=../../shared/vectors/perfsonar

if ! command -v afl-fuzz >/dev/null 2>&1; then
  echo "fuzz: installing afl++"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends afl++
fi
dotnet tool restore >/dev/null

rm -rf out && mkdir -p out
dotnet publish Ippm.Fuzz/Ippm.Fuzz.csproj -c Release -o out/bin --nologo -v quiet
python3 seeds_from_pcaps.py "$vectors" out/seeds >/dev/null
# Generated seeds come from the build before instrumentation: instrumented code runs only under afl-fuzz.
dotnet out/bin/Ippm.Fuzz.dll --seeds out/seeds

# Instrument ippm's own assemblies (not the runtime, not SharpFuzz): AFL sees their branch coverage.
for dll in Ippm.Wire Ippm.Security Ippm.Ikev2 Ippm.Sessions; do
  dotnet sharpfuzz "out/bin/$dll.dll" >/dev/null
done

export AFL_SKIP_BIN_CHECK=1 AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
export DOTNET_TieredPGO=0
failed=0
printf '%-16s %12s %10s %8s %8s\n' target executions exec/s paths crashes
for t in "${targets[@]}"; do
  afl-fuzz -i "out/seeds/$t" -o "out/$t" -V "$seconds" -t 10000 -m none -- dotnet out/bin/Ippm.Fuzz.dll "$t" >"out/$t.log" 2>&1 || true
  stats="out/$t/default/fuzzer_stats"
  if [ ! -f "$stats" ]; then
    echo "fuzz: $t did not start; see fuzz/out/$t.log" >&2
    tail -n 20 "out/$t.log" >&2
    failed=1
    continue
  fi
  get() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
  crashes=$(get saved_crashes); crashes=${crashes:-$(get unique_crashes)}
  printf '%-16s %12s %10s %8s %8s\n' "$t" "$(get execs_done)" "$(get execs_per_sec)" "$(get corpus_count)" "$crashes"
  if [ "${crashes:-0}" != "0" ]; then
    failed=1
    ls "out/$t/default/crashes/" | grep -v README | sed "s|^|  crash: fuzz/out/$t/default/crashes/|"
  fi
done
exit $failed
