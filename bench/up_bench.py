#!/usr/bin/env python3
"""Cold and warm `up`, against the critical path of per-service time-to-healthy.

Runs on a temporary copy of the repo (own Compose project, free port; images must be present:
`bin/ops images build`), with empty volumes. Prints, in one run: cold `up` wall time (the
`bin/ops up` process, venv start included), the critical path (longest chain of per-service
time-to-healthy along depends_on, as measured by the health gates), their ratio, and warm `up`.
Targets (issue 2): cold <= 1.2x critical path; warm < 3 s.
Run: .venv/bin/python bench/up_bench.py
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns(".venv", ".git", "state", "logs", ".env", "compose.d", "__pycache__", ".hypothesis")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(root: Path, env: dict, *args: str) -> tuple[float, str]:
    t0 = time.monotonic()
    res = subprocess.run([str(root / "bin/ops"), *args], env=env, cwd=root, capture_output=True, text=True, timeout=900)
    wall = time.monotonic() - t0
    if res.returncode != 0:
        sys.exit(f"`bin/ops {' '.join(args)}` failed ({res.returncode}):\n{res.stderr}")
    return wall, res.stderr


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        shutil.copytree(ROOT, root, ignore=IGNORE)
        for d in ("state", "logs", "compose.d"):
            (root / d).mkdir()
        st = yaml.safe_load((root / "config/stack.yaml").read_text())
        st["project_name"] = f"gwops-bench-{uuid.uuid4().hex[:6]}"
        st["gateway"]["port"] = free_port()
        (root / "config/stack.yaml").write_text(yaml.safe_dump(st))
        env = {**os.environ, "GWOPS_VENV": str(ROOT / ".venv"), "GWOPS_ROOT": str(root)}
        try:
            cold, out = run(root, env, "up")
            gates = {m.group(1): float(m.group(2)) for m in re.finditer(r"(\w+): healthy \(([\d.]+) s\)", out)}
            critical = max(gates.get("postgres", 0), gates.get("redis", 0)) + gates.get("gateway", 0)
            warm, _ = run(root, env, "up")
        finally:
            subprocess.run([str(root / "bin/ops"), "down", "--volumes", "--yes"], env=env, cwd=root,
                           capture_output=True, timeout=300)
    print(f"per-service time-to-healthy: {', '.join(f'{k} {v:.1f} s' for k, v in gates.items())}")
    print(f"cold up {cold:.1f} s; critical path {critical:.1f} s; ratio {cold / critical:.2f} (target <= 1.2)")
    print(f"warm up {warm:.1f} s (target < 3 s)")


if __name__ == "__main__":
    main()
