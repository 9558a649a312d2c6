#!/usr/bin/env python3
"""Records recorded.jsonl, the archive the plot tests draw: real twping/owping --json reports (measured against
ippm's embedded loopback server) wrapped into archive lines with the members the agent writes (archive format
version 1, README "ippm plot"). Run from the repository root after `dotnet build src/Ippm.Cli`:
    python3 tests/Ippm.Tests/Plots/Fixtures/record.py src/Ippm.Cli/bin/Debug/net10.0/ippm.dll
"""
import datetime, json, subprocess, sys, os

ippm = sys.argv[1]
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "recorded.jsonl")

def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

def run(test, target, protocol, args):
    start = now()
    p = subprocess.run(["dotnet", ippm] + args + ["--json"], capture_output=True, text=True, timeout=120)
    end = now()
    report = json.loads(p.stdout)
    if p.returncode != 0:
        raise SystemExit(f"ippm {' '.join(args)}: exit {p.returncode}: {p.stderr}")
    line = {"archive_version": 1, "test": test, "target": target, "protocol": protocol, "mode": report["mode"],
            "start_time": start, "end_time": end, "outcome": "ok", "error": None}
    line.update(report)
    return line

lines = []
for i in range(6):
    lines.append(run("loopback-twamp", "127.0.0.1:862", "twamp", ["twping", "-A", "A", "-c", "50", "-i", "0.01f"]))
for i in range(4):
    lines.append(run("loopback-owamp", "127.0.0.1:861", "owamp", ["owping", "-c", "30", "-i", "0.01f"]))
with open(out, "w") as f:
    for line in lines:
        f.write(json.dumps(line, separators=(",", ":")) + "\n")
print(f"wrote {len(lines)} lines to {out}")
