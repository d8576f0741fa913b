"""Render the compose overrides in compose.d/ (jinja2, strict, deterministic, atomic)."""

from __future__ import annotations

from dataclasses import dataclass

import jinja2

from gwops import constants as C
from gwops.fsutil import atomic_write
from gwops.project import Project


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("gwops", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


@dataclass(frozen=True)
class ImageChoice:
    service: str
    image: str
    kind: str  # "local" or "official"
    how: str  # "present", "pulled", "built"


def render_overrides(project: Project, *, choices: list[ImageChoice], bind: str, port: int,
                     config_sha256: str, provider_env: list[str], database: bool,
                     database_reason: str) -> list[str]:
    """Write compose.d/ overrides; returns the files that changed."""
    env = _env()
    summary = ", ".join(f"{c.service}: {c.kind}" for c in choices)
    outputs = {
        C.OVERRIDE_FILES[0]: env.get_template("10-images.yml.j2").render(
            services=[{"name": c.service, "image": c.image} for c in choices], summary=summary),
        C.OVERRIDE_FILES[1]: env.get_template("20-gateway.yml.j2").render(
            bind=bind, port=port, config_sha256=config_sha256, provider_env=sorted(provider_env),
            database=database, database_reason=database_reason),
    }
    changed = []
    for rel, text in outputs.items():
        if atomic_write(project.root / rel, text):
            changed.append(rel)
    return changed
