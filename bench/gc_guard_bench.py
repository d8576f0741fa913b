#!/usr/bin/env python3
"""What the local gateway image's collection guard (src/gwops/components/gateway/image/gwops_entry.py) costs and saves.

Brings up a throwaway stack, then runs one extra gateway container at a time next to it (same
image, config, networks and secrets), with the guard on (GWOPS_GC_GUARD=1) and off (0), and sends
it RATE requests/s (20% streaming) directly for SECONDS. Prints, for each: failed requests, p50
and p99, CPU per request and memory of its processes (from /proc), and how many workers died of
SIGSEGV (the CPython 3.11 crash the guard prevents; crashes are rare, so longer runs tell more).
Run: .venv/bin/python bench/gc_guard_bench.py [RATE] [SECONDS] [ROUNDS]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src")]
from _stack import env_value, free_port, master_key, run, stack_copy  # noqa: E402

from gwops.loadgen import run_load  # noqa: E402
from gwops.poll import poll  # noqa: E402
from gwops.project import Project  # noqa: E402
from gwops.projectname import resolve  # noqa: E402
from gwops.settings import load_settings  # noqa: E402


def proc_figures(pids: list[str]) -> tuple[float, list[int]]:
    """CPU seconds of these processes together, and each one's resident memory in MiB."""
    cpu, rss = 0.0, []
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu += (int(stat[11]) + int(stat[12])) / 100  # utime + stime, in clock ticks
        status = Path(f"/proc/{pid}/status").read_text()
        rss.append(int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1]) // 1024)
    return cpu, rss


def one(root: Path, guard: str, rate: float, seconds: float) -> str:
    settings = load_settings(root / "config/stack.yaml")
    project = resolve(Project(root), settings)
    key, port = master_key(root), free_port()
    version = max((root / "state/versions").glob("*.yaml"), key=lambda p: p.stat().st_mtime)
    name = f"{project}-gcbench"
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    # secrets go in through the environment of `docker run`, never its arguments
    env = {"LITELLM_MASTER_KEY": key, "REDIS_PASSWORD": env_value(root, "REDIS_PASSWORD"), "PATH": "/usr/bin:/bin"}
    subprocess.run(
        [
            "docker",
            "run",
            "-d",
            "--name",
            name,
            "--network",
            f"{project}_egress",
            "-p",
            f"127.0.0.1:{port}:4000",
            "-e",
            "LITELLM_MASTER_KEY",
            "-e",
            "REDIS_PASSWORD",
            "-e",
            f"GWOPS_GC_GUARD={guard}",
            "-e",
            "LITELLM_LOCAL_MODEL_COST_MAP=True",
            "-v",
            f"{version}:/app/config.yaml:ro",
            settings.images.gateway.local,
            "--config",
            "/app/config.yaml",
            "--port",
            "4000",
            "--num_workers",
            str(settings.gateway.workers),
            "--run_gunicorn",
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    try:
        subprocess.run(["docker", "network", "connect", f"{project}_backend", name], check=True, capture_output=True)
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool | None:
            try:
                return urllib.request.urlopen(f"{url}/health/readiness", timeout=2).status == 200 or None
            except OSError:
                return None

        poll(ready, 180, 0.5)
        run_load(url, key, rate=rate, duration=10)  # warm-up, not measured
        pids = subprocess.run(["docker", "top", name, "-o", "pid"], capture_output=True, text=True).stdout.split()[1:]
        cpu0, rss0 = proc_figures(pids)
        res = run_load(url, key, rate=rate, duration=seconds, stream_share=0.2)
        logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True)
        crashes = (logs.stdout + logs.stderr).count("was sent SIGSEGV")
        alive = [p for p in pids if Path(f"/proc/{p}").exists()]
        cpu1, rss1 = proc_figures(alive)
        cpu_note = (
            f"{1000 * (cpu1 - cpu0) / len(res.outcomes):.2f} ms CPU/request"
            if len(alive) == len(pids)
            else "CPU n/a (a worker was replaced)"
        )
        return (
            f"guard {'on ' if guard == '1' else 'off'}: {res.summary()}; {cpu_note}; "
            f"RSS MiB {rss0} -> {rss1}; workers died of SIGSEGV: {crashes}"
        )
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def main() -> None:
    rate = float(sys.argv[1]) if len(sys.argv) > 1 else 50
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 120
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    with tempfile.TemporaryDirectory() as tmp, stack_copy(tmp) as (root, env, _):
        run(root, env, "up")
        for _ in range(rounds):
            for guard in ("1", "0"):
                print(one(root, guard, rate, seconds), flush=True)


if __name__ == "__main__":
    main()
