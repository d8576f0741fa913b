#!/usr/bin/env python3
"""What monitoring costs (issue 13 targets), on temporary copies of the repo (images present:
`bin/ops images build`):
  1. cold `bin/ops up` from empty volumes with monitoring off, then on (another copy): the
     difference (target: at most 3 s more);
  2. on the monitoring stack, gateway latency at RATE requests/s (default 20, 20% streaming), in
     turns with the monitoring containers running and stopped (`docker compose stop` of them),
     ROUNDS rounds of SECONDS each (defaults 3 x 30 s): p50 and p99 of each side (target: under 2%
     difference);
  3. memory of the monitoring containers (`docker stats --no-stream`; target under 400 MB
     without Grafana), with Prometheus' scrape interval at its default (15 s).
Before each timed step it waits for other Compose projects' containers to be quiet, for the
idle slot's standbys to have loaded, and for the restarted monitoring containers to settle.
Run: GWOPS_VENV=.venv .venv/bin/python bench/monitoring_bench.py [RATE] [ROUNDS] [SECONDS]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from _stack import master_key, run, stack_copy, standby_ready, wait_quiet, wait_settled  # noqa: E402

from gwops.loadgen import run_load  # noqa: E402

MONITORING = ["prometheus", "alertmanager", "node-exporter", "postgres-exporter", "redis-exporter"]


def compose(root: Path, env: dict, *args: str) -> None:
    files = subprocess.run([str(root / "bin/ops"), "env"], env=env, cwd=root, capture_output=True, text=True,
                           check=True).stdout
    cenv = dict(env)
    for line in files.splitlines():
        if line.startswith("export "):
            k, _, v = line.removeprefix("export ").partition("=")
            cenv[k] = v.strip("'")
    subprocess.run(["docker", "compose", "--project-directory", str(root), *args], env=cenv, cwd=root,
                   check=True, capture_output=True, timeout=300)


def percentiles(res) -> tuple[float, float, int]:
    lat = sorted(o.latency for o in res.outcomes if o.ok)
    return lat[len(lat) // 2] * 1000, lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1000, len(res.failures)


def memory(project: str) -> dict[str, float]:
    out = subprocess.run(["docker", "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}"],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    mib = {}
    for line in out.splitlines():
        name, used = line.split(" ", 1)
        if name.startswith(f"{project}-") and any(f"-{m}-" in name for m in MONITORING):
            value = used.split("/")[0].strip()
            factor = {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024}[value[-3:]]
            mib[name] = float(value[:-3]) * factor
    return mib


def main() -> None:
    rate = float(sys.argv[1]) if len(sys.argv) > 1 else 20
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 30
    cold = {}
    with tempfile.TemporaryDirectory() as t1, stack_copy(t1, monitoring=False) as (root, env, st):
        note = wait_quiet(st["project_name"])
        cold["off"], _ = run(root, env, "up")
        print(f"cold up, monitoring off: {cold['off']:.1f} s {note}")
    with tempfile.TemporaryDirectory() as t2, stack_copy(t2, monitoring=True) as (root, env, st):
        project = st["project_name"]
        note = wait_quiet(project)
        cold["on"], _ = run(root, env, "up")
        print(f"cold up, monitoring on:  {cold['on']:.1f} s {note}")
        print(f"  difference: {cold['on'] - cold['off']:+.1f} s (target: at most +3 s)")
        mem = memory(project)
        for name, v in sorted(mem.items()):
            print(f"  memory {name}: {v:.0f} MiB")
        print(f"memory of the monitoring containers: {sum(mem.values()):.0f} MiB (target: under 400 MB)")
        url, key = f"http://127.0.0.1:{st['gateway']['port']}", master_key(root)
        standby_ready(root, env, project)  # the idle slot's standbys load after `up`: not in any round
        run_load(url, key, rate=rate, duration=10)  # warm-up
        sides: dict[str, list] = {"on": [], "off": []}
        for i in range(rounds):
            for side in ("on", "off") if i % 2 == 0 else ("off", "on"):
                compose(root, env, "start" if side == "on" else "stop", *MONITORING)
                wait_quiet(project)
                wait_settled(project, MONITORING)  # started again: Prometheus replays its WAL first
                res = run_load(url, key, rate=rate, duration=seconds)
                sides[side].append(res)
                p50, p99, failed = percentiles(res)
                print(f"  round {i + 1}, monitoring {side}: p50 {p50:.1f} ms, p99 {p99:.1f} ms, {failed} failed")
        for side, results in sides.items():
            merged = type(results[0])(outcomes=[o for r in results for o in r.outcomes])
            p50, p99, failed = percentiles(merged)
            sides[side] = [p50, p99, failed]  # type: ignore[list-item]
            print(f"monitoring {side}: p50 {p50:.1f} ms, p99 {p99:.1f} ms, {failed} failed ({rate:g} req/s)")
        on, off = sides["on"], sides["off"]
        print(f"  p50 {100 * (on[0] / off[0] - 1):+.1f}%, p99 {100 * (on[1] / off[1] - 1):+.1f}% with monitoring "
              f"(target: under 2%)")
        compose(root, env, "start", *MONITORING)


if __name__ == "__main__":
    main()
