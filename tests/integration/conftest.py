"""Fixtures for integration tests. A temporary copy of the repo with its own Compose project name and a free port, so tests
never touch a stack the operator runs; `ops` runs its bin/ops."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, free_port, unique

IGNORE = shutil.ignore_patterns(
    ".venv", ".git", "state", "logs", ".env", "compose.d", "__pycache__", ".pytest_cache", ".hypothesis", "backups"
)


def make_copy(root: Path, project_name: str | None, monitoring: bool = False, **env_extra: str) -> dict[str, str]:
    """Copy the repo to `root` with a free port; `project_name` None leaves the name to the
    checkout (derived). Monitoring is off unless asked for (tests about it share one stack:
    test_monitoring.py); with it, Prometheus and Alertmanager get free ports too. Returns the
    environment to run its bin/ops with."""
    shutil.copytree(REPO, root, ignore=IGNORE)
    for d in ("state", "logs", "compose.d"):
        (root / d).mkdir()
    (root / ".venv").symlink_to(REPO / ".venv")  # so a cron-style run (no GWOPS_VENV) needs no install
    settings = yaml.safe_load((root / "config/stack.yaml").read_text())
    settings.pop("project_name", None)
    if project_name:
        settings["project_name"] = project_name
    settings["gateway"]["port"] = free_port()
    settings["monitoring"] = (
        {"enabled": False}
        if not monitoring
        else {
            "enabled": True,
            "prometheus_port": free_port(),
            "alertmanager_port": free_port(),
            "grafana_port": free_port(),
        }
    )
    (root / "config/stack.yaml").write_text(yaml.safe_dump(settings))
    env = {
        **os.environ,
        "GWOPS_VENV": str(REPO / ".venv"),
        "GWOPS_ROOT": str(root),
        "GWOPS_CRONTAB_FILE": str(root.parent / "crontab"),
        **env_extra,
    }
    for k in ("COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "COMPOSE_PROFILES"):
        env.pop(k, None)
    return env


def remove_stack(root: Path, env: dict[str, str]) -> None:
    """Teardown: the copy's containers, networks and volumes, without a backup first."""
    if root.exists():
        subprocess.run(
            [str(root / "bin/ops"), "down", "--volumes", "--yes", "--no-backup"],
            env=env,
            cwd=root,
            capture_output=True,
            timeout=180,
        )


@pytest.fixture
def copy(tmp_path: Path, local_images) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "repo"
    env = make_copy(root, unique("gwops-e2e"))
    yield root, env
    remove_stack(root, env)


def ops(root: Path, env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(root / "bin/ops"), *args], env=env, cwd=root, capture_output=True, text=True, timeout=timeout
    )


def set_gateway(root: Path, **settings: object) -> dict:
    """Set `gateway.*` keys in a copy's config/stack.yaml; returns the whole settings document."""
    stack_file = root / "config/stack.yaml"
    doc = yaml.safe_load(stack_file.read_text())
    doc["gateway"].update(settings)
    stack_file.write_text(yaml.safe_dump(doc))
    return doc


def master_key(root: Path) -> str:
    for line in (root / ".env").read_text().splitlines():
        if line.startswith("LITELLM_MASTER_KEY="):
            return line.split("=", 1)[1]
    raise AssertionError("no LITELLM_MASTER_KEY in .env")


def armed_slots(root: Path) -> list[str]:
    """The gateway slots holding a config (state/slots/<slot>/config.yaml). Once a reload ended,
    only the serving one: the other slot's replicas wait as standbys, or are gone."""
    return sorted(p.parent.name for p in (root / "state/slots").glob("*/config.yaml"))


def container_ids(project: str, service: str | None = None) -> list[str]:
    """The project's containers (of one compose service), running or not."""
    labels = [f"label=com.docker.compose.project={project}"] + (
        [f"label=com.docker.compose.service={service}"] if service else []
    )
    return subprocess.run(
        ["docker", "ps", "-aq", *(a for lb in labels for a in ("--filter", lb))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()


def cpu_quotas(project: str) -> dict[str, set[int]]:
    """Each gateway service's CFS quotas (µs per 100 ms period; 0 or -1: no limit)."""
    ids = container_ids(project)
    out: dict[str, set[int]] = {}
    for c in json.loads(subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True, check=True).stdout):
        svc = c["Config"]["Labels"]["com.docker.compose.service"]
        if svc.startswith("gateway"):
            out.setdefault(svc, set()).add(c["HostConfig"]["CpuQuota"])
    return out


def gateway_containers(project: str) -> list[str]:
    """The service of each gateway container (one entry per replica)."""
    out = subprocess.run(
        [
            "docker",
            "ps",
            "-a",
            "--filter",
            f"label=com.docker.compose.project={project}",
            "--format",
            '{{.Label "com.docker.compose.service"}}',
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return sorted(s for s in out if s.startswith("gateway"))
