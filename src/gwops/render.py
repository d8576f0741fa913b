"""Render the compose overrides in compose.d/ and the proxy's files (jinja2, strict,
deterministic, atomic)."""

from __future__ import annotations

from dataclasses import dataclass

import jinja2

from gwops import constants as C
from gwops.fsutil import atomic_write
from gwops.project import Project
from gwops.settings import Gateway


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
    service: str  # image key: postgres, redis, gateway, proxy
    image: str
    kind: str  # "local" or "official"
    how: str  # "present", "pulled", "built"


def compose_services(choices: list[ImageChoice]) -> list[dict[str, str]]:
    """Image key -> compose services (the gateway image serves both slots)."""
    out = []
    for c in choices:
        names = [C.gateway_service(s) for s in C.SLOTS] if c.service == C.GATEWAY_SERVICE else [c.service]
        out += [{"name": n, "image": c.image} for n in names]
    return out


def render_overrides(project: Project, *, choices: list[ImageChoice], gateway: Gateway,
                     versions: dict[str, str], provider_env: list[str], database: bool,
                     database_reason: str) -> list[str]:
    """Write compose.d/ overrides (`versions`: slot -> config version); returns changed files."""
    env = _env()
    summary = ", ".join(f"{c.service}: {c.kind}" for c in choices)
    outputs = {
        C.OVERRIDE_FILES[0]: env.get_template("10-images.yml.j2").render(
            services=compose_services(choices), summary=summary),
        C.OVERRIDE_FILES[1]: env.get_template("20-gateway.yml.j2").render(
            gw=gateway, slots=[{"name": s, "version": versions[s]} for s in C.SLOTS],
            provider_env=sorted(provider_env), database=database, database_reason=database_reason),
    }
    return [rel for rel, text in outputs.items() if atomic_write(project.root / rel, text)]


def render_proxy(project: Project, active: str, gateway: Gateway) -> bool:
    """The proxy's config and slot map, as they should be after a restart of the proxy. True if
    the config itself changed (the slot map changes with every switch)."""
    d = project.state_dir / "proxy"
    text = _env().get_template("haproxy.cfg.j2").render(
        slots=C.SLOTS, active=active, stream_timeout=int(gateway.drain_timeout) + 30, replicas=gateway.replicas,
        max_inflight=gateway.max_inflight)
    changed = atomic_write(d / "haproxy.cfg", text)
    atomic_write(d / "slot.map", f"active slot_{active}\n")
    d.chmod(0o755)
    return changed
