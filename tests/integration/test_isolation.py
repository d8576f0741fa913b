"""Isolation on one host: a Postgres volume that does not take the password in `.env` is named as
such everywhere, two checkouts run two stacks that survive each other, and deleting a checkout
does not break the Compose plugin of the other."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from gwops import projectname
from tests.integration.conftest import make_copy, master_key, ops, remove_stack

pytestmark = pytest.mark.integration
MISMATCH = "postgres rejects the password in `.env`: the volume was initialised with another one"


def env_value(root: Path, key: str) -> str:
    return next(
        line.split("=", 1)[1] for line in (root / ".env").read_text().splitlines() if line.startswith(f"{key}=")
    )


def set_env_value(root: Path, key: str, value: str) -> None:
    lines = [
        f"{key}={value}" if line.startswith(f"{key}=") else line for line in (root / ".env").read_text().splitlines()
    ]
    (root / ".env").write_text("\n".join(lines) + "\n")


def volumes(project: str) -> list[str]:
    return sorted(
        subprocess.run(
            ["docker", "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={project}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    )


def psql(project: str, sql: str) -> str:
    """Run `sql` in this project's Postgres (unix socket, as the stack's user)."""
    cid = subprocess.run(
        [
            "docker",
            "ps",
            "-q",
            "--filter",
            f"label=com.docker.compose.project={project}",
            "--filter",
            "label=com.docker.compose.service=postgres",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[0]
    res = subprocess.run(
        ["docker", "exec", cid, "psql", "-X", "-U", "litellm", "-d", "litellm", "-tAc", sql],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def chat(root: Path) -> str:
    port = yaml.safe_load((root / "config/stack.yaml").read_text())["gateway"]["port"]
    r = httpx.post(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        timeout=30,
        headers={"Authorization": f"Bearer {master_key(root)}"},
        json={"model": "gwops-echo", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert r.status_code == 200, r.text
    return r.json()["choices"][0]["message"]["content"]


def test_a_volume_with_another_password_is_named_in_up_status_backup_and_down(copy):
    root, env = copy
    project = yaml.safe_load((root / "config/stack.yaml").read_text())["project_name"]
    first = ops(root, env, "up", "--skip-route-checks")
    assert first.returncode == 0, first.stderr
    assert ops(root, env, "down").returncode == 0  # volumes kept
    set_env_value(root, "POSTGRES_PASSWORD", secrets.token_urlsafe(32))

    t0 = time.monotonic()
    up = ops(root, env, "up", "--skip-route-checks")
    took = time.monotonic() - t0
    assert up.returncode == 4, up.stderr
    assert MISMATCH in up.stderr and 'password authentication failed for user "litellm"' in up.stderr
    assert "\\password litellm" in up.stderr and "--no-backup" in up.stderr and "Traceback" not in up.stderr
    assert took < 60, f"the mismatch took {took:.0f} s to be named"  # at the first healthcheck, not its retries

    st = ops(root, env, "status", "--json")
    assert st.returncode == 1, st.stdout + st.stderr
    status = json.loads(st.stdout)
    pg = next(s for s in status["services"] if s["service"] == "postgres")
    assert status["overall"] == "degraded" and pg["health"] == "unhealthy"
    assert MISMATCH in pg["problem"] and "POSTGRES_PASSWORD" in pg["next"]
    text = ops(root, env, "status")
    assert f"postgres: {MISMATCH}" in text.stdout

    backup = ops(root, env, "backup")
    assert backup.returncode == 4 and MISMATCH in backup.stderr and "Traceback" not in backup.stderr

    refused = ops(root, env, "down", "--volumes", "--yes")
    assert refused.returncode == 4, refused.stderr
    assert "backup taken before deleting the volumes cannot run" in refused.stderr and MISMATCH in refused.stderr
    assert "--volumes --no-backup" in refused.stderr and "Traceback" not in refused.stderr
    assert len(volumes(project)) == 2  # nothing deleted

    gone = ops(root, env, "down", "--volumes", "--yes", "--no-backup")
    assert gone.returncode == 0, gone.stderr
    assert "without a backup" in gone.stderr and volumes(project) == []


def test_two_checkouts_are_two_stacks_and_outlive_each_other(tmp_path, local_images):
    import compose

    docker_config = tmp_path / "docker-config"  # the machine's own plugin is never touched
    roots = [tmp_path / side / "gwops" for side in ("a", "b")]  # same directory name, other paths
    envs = [make_copy(root, None, DOCKER_CONFIG=str(docker_config)) for root in roots]
    try:
        for root, env in zip(roots, envs, strict=True):
            res = ops(root, env, "up", "--skip-route-checks")
            assert res.returncode == 0, res.stderr
        names = [env_value(root, "COMPOSE_PROJECT_NAME") for root in roots]
        assert names == [projectname.derive(root) for root in roots] and names[0] != names[1]
        assert all(n.startswith("gwops-") for n in names)
        for root in roots:
            assert "gwops gateway" in chat(root)
        vols = [volumes(n) for n in names]
        assert len(vols[0]) == len(vols[1]) == 2 and not set(vols[0]) & set(vols[1])
        link = docker_config / "cli-plugins/docker-compose"
        assert link.resolve().parent == docker_config / "cli-plugins/gwops"  # a copy, in no checkout

        psql(names[1], "CREATE TABLE keep_me (x int); INSERT INTO keep_me VALUES (42)")
        down = ops(roots[0], envs[0], "down", "--volumes", "--yes")
        assert down.returncode == 0, down.stderr
        assert volumes(names[0]) == [] and len(volumes(names[1])) == 2
        assert psql(names[1], "SELECT x FROM keep_me") == "42"

        # the old layout: the plugin linked into checkout a's own .venv; then checkout a is deleted
        venv_binary = roots[0] / ".venv/lib/python3.11/site-packages/compose/docker-compose"
        (roots[0] / ".venv").unlink()
        venv_binary.parent.mkdir(parents=True)
        venv_binary.symlink_to(Path(compose.__file__).parent / "docker-compose")
        link.unlink()
        link.symlink_to(venv_binary)
        shutil.rmtree(roots[0])
        assert link.is_symlink() and not link.exists()

        again = ops(roots[1], envs[1], "up", "--skip-route-checks")
        assert again.returncode == 0, again.stderr
        assert "repaired the Compose v2 plugin" in again.stderr
        assert link.resolve().parent == docker_config / "cli-plugins/gwops" and os.access(link, os.X_OK)
        assert "gwops gateway" in chat(roots[1]) and psql(names[1], "SELECT x FROM keep_me") == "42"
    finally:
        for root, env in zip(roots, envs, strict=True):
            remove_stack(root, env)
