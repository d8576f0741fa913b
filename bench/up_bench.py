#!/usr/bin/env python3
"""`bin/ops up` against plain `docker compose up -d --wait` on the same files, cold and warm.

Runs on a temporary copy of the repo (own Compose project, free port; images must be present:
`bin/ops images build`). In one run:
  1. a first `bin/ops up` (generates `.env` and compose.d/), then `down --volumes`;
  2. cold `docker compose up -d --wait` from empty volumes, with the environment `bin/ops env`
     prints (`.env` gives the profile), then `down --volumes`;
  3. cold `bin/ops up` from empty volumes: wall time (venv start included), per-service time to
     healthy, and the critical path (longest chain of them along depends_on);
  4. warm: `bin/ops up` and a no-op `docker compose up -d --wait`, in turns, 3 each (medians).
Before each timed step it waits for other Compose projects' containers to be quiet (<= 20% CPU,
up to BENCH_QUIET_WAIT seconds, default 120) and notes it when they were not.
Targets (issue 12): cold `up` <= 1.1x cold compose; warm `up` <= 1.2x no-op compose.
Run: GWOPS_VENV=.venv .venv/bin/python bench/up_bench.py
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import run, stack_copy, wait_quiet  # noqa: E402

QUIET_WAIT = float(os.environ.get("BENCH_QUIET_WAIT", "120"))  # seconds to wait for other projects


def compose_env(root: Path, env: dict) -> dict:
    """The environment for plain `docker compose`, from `bin/ops env` (export NAME='value' lines)."""
    out = subprocess.run(
        [str(root / "bin/ops"), "env"], env=env, cwd=root, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    pairs = [shlex.split(line.removeprefix("export "))[0] for line in out.splitlines() if line.startswith("export ")]
    return {**env, **dict(p.split("=", 1) for p in pairs)}


def compose(root: Path, env: dict, *args: str) -> float:
    t0 = time.monotonic()
    res = subprocess.run(["docker", "compose", *args], env=env, cwd=root, capture_output=True, text=True, timeout=900)
    if res.returncode != 0:
        sys.exit(f"`docker compose {' '.join(args)}` failed ({res.returncode}):\n{res.stderr}")
    return time.monotonic() - t0


def timed(project: str, notes: list[str], what: str, step):
    note = wait_quiet(project, QUIET_WAIT)
    if note:
        notes.append(f"{what}: {note}")
    return step()


def main() -> None:
    # stopped with SIGTERM (or SIGINT, ignored in a background job): still take the stack down
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped"))
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, stack_copy(tmp) as (root, env, st):
        project = st["project_name"]
        run(root, env, "up")  # generates .env and compose.d/, and warms the page cache for both
        run(root, env, "down", "--volumes", "--yes", "--no-backup")
        cenv = compose_env(root, env)
        compose_cold = timed(project, notes, "cold compose", lambda: compose(root, cenv, "up", "-d", "--wait"))
        compose(root, cenv, "down", "--volumes")
        cold, out = timed(project, notes, "cold up", lambda: run(root, env, "up"))
        gates = {m.group(1): float(m.group(2)) for m in re.finditer(r"([\w-]+): healthy \(([\d.]+) s\)", out)}
        levels = [["postgres", "proxy", "redis"], [g for g in gates if g.startswith("gateway")]]
        critical = sum(max((gates.get(s, 0) for s in lvl), default=0) for lvl in levels)
        warms, noops = [], []
        for i in range(3):
            warms.append(timed(project, notes, f"warm up {i + 1}", lambda: run(root, env, "up")[0]))
            noops.append(
                timed(project, notes, f"no-op compose {i + 1}", lambda: compose(root, cenv, "up", "-d", "--wait"))
            )
    warm, noop = statistics.median(warms), statistics.median(noops)
    print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the end")
    print(f"per-service time-to-healthy (cold up): {', '.join(f'{k} {v:.1f} s' for k, v in gates.items())}")
    print(f"cold up {cold:.1f} s; critical path {critical:.1f} s; ratio {cold / critical:.2f}")
    print(
        f"cold compose up -d --wait {compose_cold:.1f} s; cold up / compose {cold / compose_cold:.2f} (target <= 1.1)"
    )
    print(f"warm up {warm:.2f} s, median of 3: {', '.join(f'{w:.2f}' for w in warms)}")
    print(f"no-op compose up -d --wait {noop:.2f} s, median of 3: {', '.join(f'{w:.2f}' for w in noops)}")
    print(f"warm up / no-op compose {warm / noop:.2f} (target <= 1.2)")
    for n in notes:
        print(f"contaminated: {n}")


if __name__ == "__main__":
    main()
