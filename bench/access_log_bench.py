#!/usr/bin/env python3
"""What logging every request costs (issue 24 figures), on a temporary copy of the repo (images
present: `bin/ops images build`):
  1. gateway latency at RATE requests/s (default 20, 20% streaming) through the front proxy, in
     turns with its access log as shipped (one JSON line per request) and as it was before (only
     abnormal requests: `option dontlog-normal`, applied by HAProxy's own graceful reload),
     ROUNDS rounds of SECONDS each (defaults 3 x 30 s): p50 and p99 of each side (target: at most
     3 % more with every request logged), with a 90% interval from resampling the rounds, and the
     host's busy CPU on each side;
  2. the bytes Docker's log file of the proxy grew per 1,000 requests (before compression: the
     rotated files are gzipped);
  3. the CPU `bin/ops requests -f` takes while it follows the proxy's log at RATE requests/s
     (/proc/<pid>/stat of the process, after its start; target: under 2 % of a core).
Run: GWOPS_VENV=.venv .venv/bin/python bench/access_log_bench.py [RATE] [ROUNDS] [SECONDS]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from _stack import container, master_key, run, stack_copy, standby_ready, wait_quiet  # noqa: E402
from monitoring_bench import CORES, busy, percentiles, report  # noqa: E402

from gwops.loadgen import Background, run_load  # noqa: E402


def log_bytes(container: str) -> int:
    path = subprocess.run(
        ["docker", "inspect", "-f", "{{.LogPath}}", container], capture_output=True, text=True, check=True
    ).stdout.strip()
    return os.path.getsize(path)


def set_logging(root: Path, container: str, every_request: bool) -> None:
    """The generated haproxy.cfg with or without `option dontlog-normal` in its defaults, then
    HAProxy's graceful reload (the master starts a new worker on the new file)."""
    cfg = root / "state/proxy/haproxy.cfg"
    text = cfg.read_text()
    quiet = "    option dontlognull\n    option dontlog-normal\n"
    text = text.replace(quiet, "    option dontlognull\n")
    if not every_request:
        text = text.replace("    option dontlognull\n", quiet, 1)
    cfg.write_text(text)
    subprocess.run(["docker", "kill", "--signal", "USR2", container], check=True, capture_output=True)


def main() -> None:
    rate = float(sys.argv[1]) if len(sys.argv) > 1 else 20
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 30
    with tempfile.TemporaryDirectory() as tmp, stack_copy(tmp) as (root, env, st):
        project = st["project_name"]
        note = wait_quiet(project)
        run(root, env, "up")
        url, key = f"http://127.0.0.1:{st['gateway']['port']}", master_key(root)
        standby_ready(root, env, project)
        proxy = container(project, "proxy")
        run_load(url, key, rate=rate, duration=10)  # warm-up
        sides: dict[str, list] = {"every": [], "abnormal": []}
        cpu = {"every": [0, 0], "abnormal": [0, 0]}
        written, logged = 0, 0
        for i in range(rounds):
            for side in ("every", "abnormal") if i % 2 == 0 else ("abnormal", "every"):
                set_logging(root, proxy, side == "every")
                run_load(url, key, rate=rate, duration=3)  # the new worker serves; the old one has left
                wait_quiet(project)
                size0, b0 = log_bytes(proxy), busy()
                res = run_load(url, key, rate=rate, duration=seconds)
                b1, size1 = busy(), log_bytes(proxy)
                if side == "every":
                    written += size1 - size0
                    logged += len(res.outcomes)
                cpu[side][0] += b1[0] - b0[0]
                cpu[side][1] += b1[1] - b0[1]
                sides[side].append(res)
                p50, p99, failed = percentiles(res)
                print(
                    f"  round {i + 1}, {side} request logged: p50 {p50:.1f} ms, p99 {p99:.1f} ms, {failed} failed, "
                    f"log +{size1 - size0} bytes, host busy {CORES * 100 * (b1[0] - b0[0]) / (b1[1] - b0[1]):.1f}% of a core"
                )
        report(sides, cpu, rate, "{side} request logged", f"with every request logged (target: at most 3%) {note}")
        print(
            f"proxy log written: {written / max(logged, 1) * 1000 / 1024:.0f} KiB per 1,000 requests ({logged} requests)"
        )
        set_logging(root, proxy, True)
        follower_cpu(root, env, url, key, rate, seconds)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def follower_cpu(root: Path, env: dict, url: str, key: str, rate: float, seconds: float) -> None:
    follower = subprocess.Popen(
        [str(root / "bin/ops"), "requests", "-f", "--json"], env=env, cwd=root, stdout=subprocess.PIPE, text=True
    )
    try:
        assert follower.stdout is not None
        with Background(url, key, rate=rate) as bg:
            follower.stdout.readline()  # the first request it printed: its start is behind it
            threading.Thread(target=lambda: [None for _ in follower.stdout], daemon=True).start()
            c0, t0 = cpu_seconds(follower.pid), time.monotonic()
            time.sleep(seconds)  # the measurement window
            used = (cpu_seconds(follower.pid) - c0) / (time.monotonic() - t0)
        print(
            f"`bin/ops requests -f` following {len(bg.result.outcomes)} requests at {rate:g} req/s: "
            f"{100 * used:.2f}% of a core (target: under 2%)"
        )
    finally:
        follower.terminate()
        follower.wait(30)


if __name__ == "__main__":
    main()
