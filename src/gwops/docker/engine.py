"""The engine through its CLI: does it answer, which Compose v2 runs (asked before any client is
made: gwops.host installs and starts what is missing), and `docker save` / `docker load` as
streams (gwops.bundle: one archive of every image, for a site without a registry)."""

from __future__ import annotations

import shutil
import subprocess


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def engine_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return _run(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=15).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def compose_answers() -> str | None:
    """The version of `docker compose` (None: it does not answer)."""
    try:
        out = _run(["docker", "compose", "version", "--short"], timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def save_process(refs: list[str], command: list[str] | None = None) -> subprocess.Popen:
    """`docker save` of `refs` writing the images to its stdout (`command`: another writer)."""
    return subprocess.Popen(command or ["docker", "save", *refs], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def load_process(command: list[str] | None = None) -> subprocess.Popen:
    """`docker load` reading images on its stdin (`command`: another reader); output on stdout."""
    return subprocess.Popen(
        command or ["docker", "load", "-q"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
