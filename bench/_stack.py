"""A throwaway copy of the repo with its own Compose project and a free port, for benchmarks."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns(
    ".venv", ".git", "state", "logs", ".env", "compose.d", "__pycache__", ".hypothesis", "backups"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ops(root: Path, env: dict, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    """`bin/ops ARGS` in the copy, its output kept (text)."""
    return subprocess.run(
        [str(root / "bin/ops"), *args], env=env, cwd=root, capture_output=True, text=True, timeout=timeout
    )


def run(root: Path, env: dict, *args: str) -> tuple[float, str]:
    t0 = time.monotonic()
    res = subprocess.run([str(root / "bin/ops"), *args], env=env, cwd=root, capture_output=True, text=True, timeout=900)
    if res.returncode != 0:
        sys.exit(f"`bin/ops {' '.join(args)}` failed ({res.returncode}):\n{res.stderr}")
    return time.monotonic() - t0, res.stderr


def pct_in(res, q: float, window: tuple[float, float]) -> float:
    """The `q` quantile in ms of a load result's answered requests sent within `window`."""
    lat = sorted(o.latency for o in res.outcomes if o.ok and window[0] <= o.sent <= window[1]) or [0.0]
    return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000


def container(project: str, service: str) -> str:
    """The ID of the project's (first) running container of `service`."""
    return subprocess.run(
        [
            "docker",
            "ps",
            "-q",
            "--filter",
            f"label=com.docker.compose.project={project}",
            "--filter",
            f"label=com.docker.compose.service={service}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[0]


def idle_slot(root, env, project: str) -> tuple[str, list[str]]:
    st = json.loads(
        subprocess.run(
            [str(root / "bin/ops"), "status", "--json"], env=env, cwd=root, capture_output=True, text=True
        ).stdout
    )
    slot = "green" if st["gateway"]["active_slot"] == "blue" else "blue"
    ids = subprocess.run(
        [
            "docker",
            "ps",
            "-aq",
            "--filter",
            f"label=com.docker.compose.project={project}",
            "--filter",
            f"label=com.docker.compose.service=gateway-{slot}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return slot, ids


def standby_ready(root, env, project: str, timeout: float = 300) -> float:
    """Seconds until every replica of the idle slot logged that it waits as a standby. The slot's
    containers are looked up once (a `bin/ops status` every half second costs the serving gateway
    more than the standby does), then only their logs are read, once a second."""
    import docker

    t0 = time.monotonic()
    _slot, ids = idle_slot(root, env, project)
    if not ids:
        sys.exit("the idle slot has no standby replica")
    client = docker.from_env()
    while time.monotonic() - t0 < timeout:
        logs = [client.containers.get(i).logs(stderr=True, stdout=True).decode(errors="replace") for i in ids]
        if all("gwops: standby: LiteLLM imported" in log.split("is there: starting")[-1] for log in logs):
            return time.monotonic() - t0
        time.sleep(1)  # polling the containers' logs, with a deadline
    sys.exit(f"the idle slot's standby replicas were not ready within {timeout:g} s")


def wait_settled(project: str, services: list[str], limit: float = 5.0, timeout: float = 120.0) -> float:
    """Seconds until each of the project's containers of `services` uses under `limit` % CPU (a
    container that just started, as Prometheus replaying its WAL, would weigh on a timed run)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        out = subprocess.run(
            ["docker", "stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}}"],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        busy = [
            line
            for line in out.splitlines()
            if line.startswith(f"{project}-")
            and any(f"-{s}-" in line for s in services)
            and float(line.rpartition(" ")[2].rstrip("%") or 0) > limit
        ]
        if not busy:
            return time.monotonic() - t0
    sys.exit(f"{', '.join(services)} still busy after {timeout:g} s")


def others_busy(project: str, limit: float = 20.0) -> dict[str, float]:
    """Containers of other Compose projects using more than `limit` % CPU now (a load test of
    another stack would distort timings on a small machine)."""
    out = subprocess.run(
        ["docker", "stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}}"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    busy = {}
    for line in out.splitlines():
        name, _, cpu = line.rpartition(" ")
        if not name.startswith(f"{project}-") and float(cpu.rstrip("%") or 0) > limit:
            busy[name] = float(cpu.rstrip("%"))
    return busy


def wait_quiet(project: str, timeout: float = 300.0) -> str:
    """Wait (up to `timeout` s) until no other project's container is busy; "" when quiet, else a
    note naming what was busy, to print next to the figure it may have distorted."""
    deadline = time.monotonic() + timeout
    while True:
        busy = others_busy(project)
        if not busy or time.monotonic() > deadline:
            return "" if not busy else "busy: " + ", ".join(f"{n} {c:.0f}%" for n, c in sorted(busy.items()))
        time.sleep(5)  # another engineer's load test: nothing to poll but the clock


def env_value(root: Path, name: str) -> str:
    """A value from the copy's generated `.env`."""
    return next(
        line.split("=", 1)[1] for line in (root / ".env").read_text().splitlines() if line.startswith(f"{name}=")
    )


def master_key(root: Path) -> str:
    return env_value(root, "LITELLM_MASTER_KEY")


@contextmanager
def stack_copy(tmp: str, monitoring: bool = False):
    root = Path(tmp) / "repo"
    shutil.copytree(ROOT, root, ignore=IGNORE)
    for d in ("state", "logs", "compose.d"):
        (root / d).mkdir()
    st = yaml.safe_load((root / "config/stack.yaml").read_text())
    st["project_name"] = f"gwops-bench-{uuid.uuid4().hex[:6]}"
    st["gateway"]["port"] = free_port()
    st["monitoring"] = {
        "enabled": monitoring,
        "prometheus_port": free_port(),
        "alertmanager_port": free_port(),
        "grafana_port": free_port(),
    }
    (root / "config/stack.yaml").write_text(yaml.safe_dump(st))
    env = {**os.environ, "GWOPS_VENV": os.environ.get("GWOPS_VENV") or str(ROOT / ".venv"), "GWOPS_ROOT": str(root)}
    for k in ("COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "COMPOSE_PROFILES"):
        env.pop(k, None)
    try:
        yield root, env, st
    finally:
        subprocess.run(
            [str(root / "bin/ops"), "down", "--volumes", "--yes", "--no-backup"],
            env=env,
            cwd=root,
            capture_output=True,
            timeout=300,
        )
