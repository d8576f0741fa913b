"""The generated LiteLLM config on disk: atomic writes, metadata, bounded history, rollback."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gwops import __version__
from gwops.config.pipeline import Compiled
from gwops.errors import OpsError, UsageError
from gwops.fsutil import atomic_write
from gwops.project import Project

HISTORY_KEEP = 10


def _git_commit(root: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


@dataclass
class Staleness:
    stale: bool
    hand_edited: bool
    missing: bool

    @property
    def ok(self) -> bool:
        return not (self.stale or self.hand_edited or self.missing)


def read_meta(project: Project) -> dict | None:
    try:
        return json.loads(project.litellm_meta.read_text())
    except (OSError, ValueError):
        return None


def check(project: Project, compiled: Compiled) -> Staleness:
    path = project.litellm_config
    if not path.exists():
        return Staleness(stale=True, hand_edited=False, missing=True)
    current = path.read_bytes()
    meta = read_meta(project) or {}
    edited = hashlib.sha256(current).hexdigest() != meta.get("config_sha256")
    return Staleness(stale=current != compiled.text.encode(), hand_edited=edited, missing=False)


def write(project: Project, compiled: Compiled) -> bool:
    """Write config + meta atomically; keep the previous version in history. False if unchanged."""
    path = project.litellm_config
    if path.exists() and path.read_bytes() == compiled.text.encode() and read_meta(project):
        return False
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    meta = {
        "generator": "gwops",
        "version": __version__,
        "generated_at": now.isoformat(),
        "git_commit": _git_commit(project.root),
        "sources": compiled.sources,
        "config_sha256": compiled.sha256,
    }
    # the config is mounted read-only into a non-root container: world-readable, no secrets inside
    atomic_write(path, compiled.text, mode=0o644)
    atomic_write(project.litellm_meta, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    hist = project.history_dir
    atomic_write(hist / f"{stamp}-{compiled.sha256[:12]}.yaml", compiled.text)
    versions = sorted(hist.glob("*.yaml"))
    for old in versions[:-HISTORY_KEEP]:
        old.unlink(missing_ok=True)
    return True


def publish_version(project: Project, text: str) -> str:
    """An immutable copy of a generated config, named by its content; returns the version."""
    version = hashlib.sha256(text.encode()).hexdigest()[:12]
    path = project.state_dir / "versions" / f"{version}.yaml"
    if not path.exists():
        atomic_write(path, text, mode=0o444)
    return version


def version_path(project: Project, version: str) -> Path:
    return project.state_dir / "versions" / f"{version}.yaml"


def versions(project: Project) -> list[Path]:
    return sorted(project.history_dir.glob("*.yaml")) if project.history_dir.exists() else []


def rollback(project: Project, version: str | None) -> Path:
    """Restore an earlier generated version (default: the one before the current)."""
    vs = versions(project)
    current = project.litellm_config.read_bytes() if project.litellm_config.exists() else b""
    if version:
        match = [v for v in vs if version in v.stem]
        if len(match) != 1:
            raise UsageError(
                f"no single generated version matches `{version}`", hint="list them with `bin/ops config versions`"
            )
        target = match[0]
    else:
        older = [v for v in vs if v.read_bytes() != current]
        if not older:
            raise OpsError(
                "there is no earlier generated version to roll back to", hint="list them with `bin/ops config versions`"
            )
        target = older[-1]
    text = target.read_text()
    meta = read_meta(project) or {}
    meta.update({"config_sha256": hashlib.sha256(text.encode()).hexdigest(), "rolled_back_from_history": target.name})
    atomic_write(project.litellm_config, text, mode=0o644)
    atomic_write(project.litellm_meta, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return target
