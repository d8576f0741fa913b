#!/usr/bin/env python3
"""What monitoring costs (issue 13 targets), on temporary copies of the repo (images present:
`bin/ops images build`):
  1. cold `bin/ops up` from empty volumes with monitoring off, then on (another copy): the
     difference (target: at most 3 s more);
  2. on the monitoring stack, gateway latency at RATE requests/s (default 20, 20% streaming), in
     turns with the monitoring containers running and stopped (`docker compose stop` of them),
     ROUNDS rounds of SECONDS each (defaults 3 x 30 s): p50 and p99 of each side (target: under 2%
     difference), with a 90% interval from resampling the rounds (what the noise allows to say),
     and the host's busy CPU on each side (/proc/stat: containers, dockerd and healthchecks);
  3. memory of the monitoring containers (`docker stats --no-stream`; target under 400 MB
     without Grafana), with Prometheus' scrape interval at its default (15 s).
Before each timed step it waits for other Compose projects' containers to be quiet, for the
idle slot's standbys to have loaded, and for the restarted monitoring containers to settle.
Run: GWOPS_VENV=.venv .venv/bin/python bench/monitoring_bench.py [RATE] [ROUNDS] [SECONDS]
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from _stack import master_key, run, stack_copy, standby_ready, wait_quiet, wait_settled  # noqa: E402

from gwops.loadgen import run_load  # noqa: E402

CORES = os.cpu_count() or 1  # busy shares of all cores -> % of one core
MONITORING = ["prometheus", "alertmanager", "node-exporter", "postgres-exporter", "redis-exporter"]


def compose(root: Path, env: dict, *args: str) -> None:
    files = subprocess.run(
        [str(root / "bin/ops"), "env"], env=env, cwd=root, capture_output=True, text=True, check=True
    ).stdout
    cenv = dict(env)
    for line in files.splitlines():
        if line.startswith("export "):
            k, _, v = line.removeprefix("export ").partition("=")
            cenv[k] = v.strip("'")
    subprocess.run(
        ["docker", "compose", "--project-directory", str(root), *args],
        env=cenv,
        cwd=root,
        check=True,
        capture_output=True,
        timeout=300,
    )


def percentiles(res) -> tuple[float, float, int]:
    lat = sorted(o.latency for o in res.outcomes if o.ok)
    return lat[len(lat) // 2] * 1000, lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1000, len(res.failures)


def busy() -> tuple[int, int]:
    """The host's busy and total CPU time so far (jiffies, all cores)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]  # guest time is already in user and nice
    return sum(v) - v[3] - v[4], sum(v)


def interval(on: list, off: list, which: int, n: int = 2000) -> tuple[float, float]:
    """A 90% interval of the on/off difference (%) of percentile `which` (0: p50, 1: p99),
    resampling each side's rounds with replacement."""
    rng = random.Random(13)
    diffs = []
    for _ in range(n):
        a = percentiles(merge([rng.choice(on) for _ in on]))[which]
        b = percentiles(merge([rng.choice(off) for _ in off]))[which]
        diffs.append(100 * (a / b - 1))
    diffs.sort()
    return diffs[int(0.05 * n)], diffs[int(0.95 * n)]


def merge(results: list):
    return type(results[0])(outcomes=[o for r in results for o in r.outcomes])


def report(sides: dict[str, list], cpu: dict[str, list[int]], rate: float, label: str, target: str) -> None:
    """Each side's p50, p99, failures and host CPU, then the first side against the second: the
    difference (%) of p50 and p99 with a 90% interval. `label` names a side (`{side}`)."""
    figures = {}
    for side, results in sides.items():
        figures[side] = percentiles(merge(results))
        p50, p99, failed = figures[side]
        print(
            f"{label.format(side=side)}: p50 {p50:.1f} ms, p99 {p99:.1f} ms, {failed} failed ({rate:g} req/s), "
            f"host busy {CORES * 100 * cpu[side][0] / cpu[side][1]:.1f}% of a core"
        )
    (a, b), (fa, fb) = sides.values(), figures.values()
    lo50, hi50 = interval(a, b, 0)
    lo99, hi99 = interval(a, b, 1)
    print(
        f"  p50 {100 * (fa[0] / fb[0] - 1):+.1f}% (90% interval {lo50:+.1f} to {hi50:+.1f}), "
        f"p99 {100 * (fa[1] / fb[1] - 1):+.1f}% (90% interval {lo99:+.1f} to {hi99:+.1f}) {target}"
    )


def memory(project: str) -> dict[str, float]:
    out = subprocess.run(
        ["docker", "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
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
        cpu = {"on": [0, 0], "off": [0, 0]}
        for i in range(rounds):
            for side in ("on", "off") if i % 2 == 0 else ("off", "on"):
                compose(root, env, "start" if side == "on" else "stop", *MONITORING)
                wait_quiet(project)
                wait_settled(project, MONITORING)  # started again: Prometheus replays its WAL first
                b0 = busy()
                res = run_load(url, key, rate=rate, duration=seconds)
                b1 = busy()
                cpu[side][0] += b1[0] - b0[0]
                cpu[side][1] += b1[1] - b0[1]
                sides[side].append(res)
                p50, p99, failed = percentiles(res)
                print(
                    f"  round {i + 1}, monitoring {side}: p50 {p50:.1f} ms, p99 {p99:.1f} ms, {failed} failed, "
                    f"host busy {CORES * 100 * (b1[0] - b0[0]) / (b1[1] - b0[1]):.1f}% of a core"
                )
        report(sides, cpu, rate, "monitoring {side}", "with monitoring (target: under 2%)")
        print(
            f"  host CPU with monitoring: {CORES * 100 * (cpu['on'][0] / cpu['on'][1] - cpu['off'][0] / cpu['off'][1]):+.2f}% "
            f"of a core"
        )
        compose(root, env, "start", *MONITORING)


if __name__ == "__main__":
    main()
