"""The Compose project name of a checkout: every container, network and volume carries it.

One function decides it, for every command: an explicit `project_name` in config/stack.yaml,
else the name already in `.env` (an existing stack keeps its name), else one derived from the
checkout (its directory name plus a short hash of its absolute path), which `up` then writes into
`.env`. So two checkouts on one host never share containers, networks or volumes.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from gwops import envfile
from gwops.errors import UsageError
from gwops.project import Project
from gwops.settings import StackSettings

ENV_KEY = "COMPOSE_PROJECT_NAME"
VALID = re.compile(r"[a-z0-9][a-z0-9_-]*")  # Compose's rule for project names
FALLBACK = "gwops"
MAX_STEM = 40


def derive(root: Path) -> str:
    """`<directory name, sanitised>-<8 hex of sha256(absolute path)>`: stable for a checkout,
    different for two checkouts even when their directories have the same name."""
    path = root.resolve()
    stem = re.sub(r"[^a-z0-9_-]+", "-", path.name.lower())
    stem = re.sub(r"-{2,}", "-", stem).lstrip("-_")[:MAX_STEM].rstrip("-_") or FALLBACK
    return f"{stem}-{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"


def resolve(project: Project, settings: StackSettings) -> str:
    """stack.yaml `project_name` > `COMPOSE_PROJECT_NAME` in `.env` > derived from the checkout."""
    if settings.project_name:
        return settings.project_name
    existing = envfile.read(project.env_file).get(ENV_KEY)
    if existing:
        if not VALID.fullmatch(existing):
            raise UsageError(
                f"`{ENV_KEY}={existing}` in `.env` is not a Compose project name",
                hint="use lowercase letters, digits, `-` or `_` (starting with a letter or digit), "
                "or delete the line to use the name derived from this checkout",
            )
        return existing
    return derive(project.root)
