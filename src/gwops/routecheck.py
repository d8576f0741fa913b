"""The routes a gateway gate checks, and which of them may fail without failing it."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from gwops.fsutil import atomic_write


@dataclass
class RouteChecks:
    """The routes a gateway gate checks, one completion each (an embedding for a route that only
    embeds). A route whose providers are all
    optional (`required: false` in providers.yaml, the default) does not fail the gate when its
    check fails: it is recorded in `degraded` (route -> reason), so that one dead backend does not
    freeze the configuration. A route with a required provider fails the gate."""

    names: list[str] = field(default_factory=list)
    optional: frozenset[str] = frozenset()
    degraded: dict[str, str] = field(default_factory=dict)
    embeddings: frozenset[str] = frozenset()  # routes that only embed: checked with an embedding

    def first_working(self) -> str | None:
        """A chat route that passed its check (a warm-up streams completions through it)."""
        return next((r for r in self.names if r not in self.degraded and r not in self.embeddings), None)


FILE = "route-checks.json"


def save(state_dir: Path, checks: RouteChecks, version: str) -> None:
    """What the last gate found (`up`, `reload`), for `status`: the degraded routes of the live
    config version. Nothing is written when no route was checked (`--skip-route-checks`)."""
    if not checks.names:
        return
    doc = {
        "version": version,
        "checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "routes": checks.names,
        "degraded": checks.degraded,
    }
    atomic_write(state_dir / FILE, json.dumps(doc, indent=2) + "\n")


def load(state_dir: Path, version: str | None) -> dict | None:
    """The last record for `version` (the live one), or None."""
    try:
        doc = json.loads((state_dir / FILE).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("version") == version else None
