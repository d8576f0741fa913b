#!/usr/bin/env python3
"""The Docker engine itself restarts under load: how long the gateway is away, and whether the
stack comes back without a manual step.

A bench, not a test: it stops the engine, so every container on the machine stops with it (run it
on a machine with nothing else going). On a stack copy under the load harness (RATE requests/s,
20% streaming), `dockerd` is stopped with SIGTERM and started again the way `bin/ops` starts it
(`systemctl restart docker` where systemd runs). Prints the failed requests, the first and last
failure relative to the restart, when the public port answered again, and `bin/ops status` after.
Run: .venv/bin/python bench/engine_restart_bench.py [RATE]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src")]
from _stack import master_key, run, stack_copy  # noqa: E402

from gwops import host  # noqa: E402
from gwops.loadgen import Background  # noqa: E402
from gwops.poll import poll  # noqa: E402


def restart_engine(logs: Path) -> None:
    if Path("/run/systemd/system").is_dir():
        subprocess.run(["systemctl", "restart", "docker"], check=True, timeout=300)
        return
    subprocess.run(["pkill", "-TERM", "-x", "dockerd"], check=False)
    poll(lambda: True if subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True).returncode else None, 120, 0.2)
    host.ensure_engine(logs, print)


def main() -> None:
    rate = float(sys.argv[1]) if len(sys.argv) > 1 else 20
    with tempfile.TemporaryDirectory() as tmp, stack_copy(tmp) as (root, env, st):
        run(root, env, "up")
        url = f"http://127.0.0.1:{st['gateway']['port']}"
        with Background(url, master_key(root), rate=rate, stream_share=0.2, timeout=10) as bg:
            t_hold = time.monotonic()
            poll(lambda: True if time.monotonic() - t_hold > 5 else None, 10, 0.2)
            t0 = time.monotonic()
            restart_engine(HERE.parent / "logs")  # dockerd outlives the copy: its log stays in the repo
            engine = time.monotonic() - t0

            def serving() -> bool | None:
                ok = (
                    subprocess.run(
                        [
                            "curl",
                            "-sf",
                            "-o",
                            "/dev/null",
                            "-H",
                            f"Authorization: Bearer {master_key(root)}",
                            f"{url}/v1/models",
                        ],
                        timeout=10,
                    ).returncode
                    == 0
                )
                return True if ok else None

            poll(serving, 300, 0.2)
            back = time.monotonic() - t0
            t_hold = time.monotonic()
            poll(lambda: True if time.monotonic() - t_hold > 5 else None, 10, 0.2)
        res = bg.result
        assert res is not None
        status = subprocess.run(
            [str(root / "bin/ops"), "status", "--json"], env=env, cwd=root, capture_output=True, text=True, timeout=120
        )
        overall = json.loads(status.stdout)["overall"] if status.stdout else f"exit {status.returncode}"
    late = [o for o in res.failures if o.sent - t0 > back + 1]
    times = [o.sent - t0 for o in res.failures]
    print(res.summary())
    print(f"engine back after {engine:.1f} s; public port serving again after {back:.1f} s")
    if times:
        print(f"failed requests sent from {min(times):.1f} s to {max(times):.1f} s after the restart began")
    print(f"failed after the port served again: {len(late)} (target 0); status after: {overall} (no manual step taken)")


if __name__ == "__main__":
    main()
