#!/usr/bin/env python3
"""Reload wall time under load: N reloads while the load harness runs at RATE requests/s (20%
streaming, half on new connections) through the public port. For each reload prints its wall
time, the new gateway's start time, the drain, and what is left (the switch, the watch window and
stopping the old gateway). Targets: wall <= start + 5 s + drain, with 0 failed requests (issue 5);
the slowest reload under load <= 1.5x an idle reload's gateway start, and p99 during the reloads
<= 1.5x the steady p99 of the same load without a reload, measured first (issue 12).
Run: .venv/bin/python bench/reload_bench.py [RATE] [N] [START_CPU_WEIGHT]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src")]
from _stack import master_key, run, stack_copy  # noqa: E402

from gwops.loadgen import Background, run_load  # noqa: E402


def reload_once(root, env, tag: str) -> dict:
    """Change the config and reload; the reload's JSON report plus its wall time."""
    (root / "config/providers.yaml").write_text(f"providers:\n  lab:\n    type: mock\n    models: [gwops-echo, {tag}]\n")
    t0 = time.monotonic()
    r = subprocess.run([str(root / "bin/ops"), "reload", "--json"], env=env, cwd=root,
                       capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        sys.exit(f"reload `{tag}` failed ({r.returncode}):\n{r.stderr}")
    rep = json.loads(r.stdout)
    rep["wall"] = time.monotonic() - t0
    return rep


def p99(res) -> float:
    lat = sorted(o.latency for o in res.outcomes if o.ok) or [0.0]
    return lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1000


def main() -> None:
    rate = float(sys.argv[1]) if len(sys.argv) > 1 else 50
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    weight = int(sys.argv[3]) if len(sys.argv) > 3 else None
    with tempfile.TemporaryDirectory() as tmp, stack_copy(tmp) as (root, env, st):
        if weight is not None:  # `gateway.start_cpu_weight`: the trade between old and new
            st["gateway"]["start_cpu_weight"] = weight
            (root / "config/stack.yaml").write_text(yaml.safe_dump(st))
            print(f"new gateways start at CPU weight {weight}")
        run(root, env, "up")
        key = master_key(root)
        url = f"http://127.0.0.1:{st['gateway']['port']}"
        idle = reload_once(root, env, "bench-idle")  # the new gateway's start with no load
        steady = run_load(url, key, rate=rate, duration=30, stream_share=0.2)  # p99 without a reload
        reports = []
        with Background(url, key, rate=rate, stream_share=0.2) as bg:
            for i in range(n):
                rep = reload_once(root, env, f"bench-{i}")
                reports.append(rep)
                rest = rep["seconds"] - rep["start_seconds"] - rep["drain_seconds"]
                print(f"reload {i + 1}: {rep['seconds']:5.1f} s (command {rep['wall']:.1f} s) = start "
                      f"{rep['start_seconds']:4.1f} s + drain {rep['drain_seconds']:.1f} s + {rest:.1f} s "
                      f"(switch, watch, stop)", flush=True)
    res = bg.result
    worst = max(r["seconds"] - r["start_seconds"] - r["drain_seconds"] for r in reports)
    slowest = max(r["seconds"] for r in reports)
    print(f"{n} reloads at {rate:g} req/s: {len(res.failures)} failed of {len(res.outcomes)} requests, "
          f"{res.switches()} switches; wall - start - drain: at most {worst:.1f} s (target <= 5 s)")
    print(f"idle reload: start {idle['start_seconds']:.1f} s, wall {idle['seconds']:.1f} s; slowest reload under "
          f"load {slowest:.1f} s = {slowest / idle['start_seconds']:.2f}x the idle start (target <= 1.5)")
    print(f"p99 steady {p99(steady):.0f} ms ({len(steady.failures)} failed of {len(steady.outcomes)}); "
          f"p99 during reloads {p99(res):.0f} ms = {p99(res) / max(p99(steady), 1e-9):.2f}x (target <= 1.5)")
    print(res.summary())


if __name__ == "__main__":
    main()
