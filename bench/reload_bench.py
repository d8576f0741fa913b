#!/usr/bin/env python3
"""Reload wall time under load: N reloads while the load harness runs at RATE requests/s (20%
streaming, half on new connections) through the public port. For each reload prints its wall
time, the new gateway's start time, the drain, and what is left (the switch, the watch window and
stopping the old gateway). Targets: wall <= start + 5 s + drain, with 0 failed requests (issue 5);
the slowest reload under load <= 1.5x an idle reload's gateway start, and p99 during the reloads
<= 1.5x the steady p99 of the same load without a reload, measured first (issue 12).
The idle slot waits as a standby (gateway.standby): the bench waits for it before each reload
(reloads minutes apart, as an operator's are) and says how long that took. The reference is a
cold start on the idle machine (the standbys removed first), as the issue measures it.
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
from _stack import idle_slot, master_key, run, stack_copy, standby_ready  # noqa: E402

from gwops.loadgen import Background, run_load  # noqa: E402


def reload_once(root, env, tag: str) -> dict:
    """Change the config and reload; the reload's JSON report plus its wall time."""
    (root / "config/providers.yaml").write_text(
        f"providers:\n  lab:\n    type: mock\n    models: [gwops-echo, {tag}]\n"
    )
    t0 = time.monotonic()
    r = subprocess.run(
        [str(root / "bin/ops"), "reload", "--json"], env=env, cwd=root, capture_output=True, text=True, timeout=900
    )
    if r.returncode != 0:
        sys.exit(f"reload `{tag}` failed ({r.returncode}):\n{r.stderr}")
    rep = json.loads(r.stdout)
    rep["wall"] = time.monotonic() - t0
    return rep


def p99(res, windows: list[tuple[float, float]] | None = None) -> float:
    """p99 in ms of the successful requests (sent within one of `windows`, when given)."""
    lat = sorted(
        o.latency for o in res.outcomes if o.ok and (windows is None or any(a <= o.sent <= b for a, b in windows))
    ) or [0.0]
    return lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1000


def main() -> None:
    rate = float(sys.argv[1]) if len(sys.argv) > 1 else 20
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    weight = int(sys.argv[3]) if len(sys.argv) > 3 else None
    with tempfile.TemporaryDirectory() as tmp, stack_copy(tmp) as (root, env, st):
        if weight is not None:  # `gateway.start_cpu_weight`: the trade between old and new
            st["gateway"]["start_cpu_weight"] = weight
            (root / "config/stack.yaml").write_text(yaml.safe_dump(st))
            print(f"new gateways start at CPU weight {weight}")
        run(root, env, "up")
        project = st["project_name"]
        key = master_key(root)
        url = f"http://127.0.0.1:{st['gateway']['port']}"
        # the reference: a cold start on the idle machine (the idle slot's standbys removed first)
        standby_ready(root, env, project)
        subprocess.run(["docker", "rm", "-f", *idle_slot(root, env, project)[1]], capture_output=True, check=True)
        cold = reload_once(root, env, "bench-cold")
        print(
            f"idle machine, cold start (no standby): reload {cold['seconds']:.1f} s, start {cold['start_seconds']:.1f} s"
        )
        standby_ready(root, env, project)
        warm = reload_once(root, env, "bench-idle")
        print(
            f"idle machine, standby: reload {warm['seconds']:.1f} s, start {warm['start_seconds']:.1f} s, "
            f"last scrape {warm.get('last_look_seconds', 0):.1f} s"
        )
        standby_ready(
            root, env, project
        )  # the slot drained by the warm reload imports again: wait, or it weighs on the steady run
        steady = run_load(url, key, rate=rate, duration=30, stream_share=0.2)  # p99 without a reload
        reports, standby_windows, reload_windows = [], [], []
        with Background(url, key, rate=rate, stream_share=0.2) as bg:
            for i in range(n):
                t0 = time.monotonic()
                waited = standby_ready(root, env, project)  # the old slot's replicas back as standbys
                standby_windows.append((t0, time.monotonic()))
                rep = reload_once(root, env, f"bench-{i}")
                reload_windows.append((time.monotonic() - rep["wall"], time.monotonic()))
                reports.append(rep)
                rest = rep["seconds"] - rep["start_seconds"] - rep["drain_seconds"] - rep.get("last_look_seconds", 0)
                print(
                    f"reload {i + 1}: {rep['seconds']:5.1f} s (command {rep['wall']:.1f} s) = start "
                    f"{rep['start_seconds']:4.1f} s + drain {rep['drain_seconds']:.1f} s + last scrape "
                    f"{rep.get('last_look_seconds', 0):.1f} s + {rest:.1f} s (switch, watch, stop, standby); "
                    f"standby ready {waited:.1f} s before it",
                    flush=True,
                )
    res = bg.result
    slowest = max(r["seconds"] for r in reports)
    slowest_start = max(r["start_seconds"] for r in reports)
    print(
        f"{n} reloads at {rate:g} req/s: {len(res.failures)} failed of {len(res.outcomes)} requests, "
        f"{res.switches()} switches"
    )
    print(
        f"slowest reload under load {slowest:.1f} s = {slowest / cold['start_seconds']:.2f}x the cold start on an "
        f"idle machine ({cold['start_seconds']:.1f} s) (target <= 1.5); its new gateway's start {slowest_start:.1f} s "
        f"= {slowest_start / warm['start_seconds']:.2f}x the standby's start on an idle machine"
    )
    print(
        f"p99 steady {p99(steady):.0f} ms ({len(steady.failures)} failed of {len(steady.outcomes)}); "
        f"p99 during reloads {p99(res):.0f} ms = {p99(res) / max(p99(steady), 1e-9):.2f}x (target <= 1.5): "
        f"{p99(res, reload_windows):.0f} ms while a reload command ran, {p99(res, standby_windows):.0f} ms while "
        f"the standbys started"
    )
    print(res.summary())


if __name__ == "__main__":
    main()
