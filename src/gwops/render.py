"""Render each component's compose fragment into compose.d/ and the proxy's files (jinja2,
strict, deterministic, atomic)."""

from __future__ import annotations

from gwops.components import REGISTRY, proxy
from gwops.components.base import ImageChoice
from gwops.constants import SLOTS
from gwops.fsutil import atomic_write
from gwops.project import Project
from gwops.settings import GatewaySettings, StackSettings

# compose overrides of earlier releases (the definitions moved into the components' fragments)
OBSOLETE = ("compose.d/10-images.yml", "compose.d/20-gateway.yml")


def render_overrides(
    project: Project,
    *,
    choices: list[ImageChoice],
    settings: StackSettings,
    versions: dict[str, str],
    provider_env: list[str],
    database: bool,
    database_reason: str,
) -> list[str]:
    """Write each component's compose fragment (`versions`: gateway slot -> config version);
    returns the files that changed."""
    images = {c.service: c.image for c in choices if c.kind != "missing"}
    context = dict(
        gw=settings.gateway,
        provider_env=sorted(provider_env),
        slots=[{"name": s, "version": versions[s]} for s in SLOTS],
        database=database,
        database_reason=database_reason,
        db_pool=settings.database.pool,
    )
    changed = [
        c.compose_file
        for c in REGISTRY
        if atomic_write(project.root / c.compose_file, c.render_fragment(settings, images.get(c.name), **context))
    ]
    for rel in OBSOLETE:
        (project.root / rel).unlink(missing_ok=True)
    return changed


def proxy_config(
    slots: tuple[str, ...],
    hosts: dict[str, str],
    gateway: GatewaySettings,
    replicas: int,
    sidecar_entrance: int | None = None,
) -> str:
    """HAProxy's config: one backend per slot, over the gateway replicas `hosts[slot]` resolves to
    (`replicas`: how many there can be at once)."""
    return proxy.COMPONENT.render(
        "haproxy.cfg.j2",
        metrics=proxy.COMPONENT.metrics,
        slots=slots,
        hosts=hosts,
        stream_timeout=int(gateway.drain_timeout) + 30,
        replicas=replicas,
        max_inflight=gateway.max_inflight,
        sidecar_entrance=sidecar_entrance,
    )


def render_proxy(project: Project, active: str, gateway: GatewaySettings, sidecar_entrance: int | None = None) -> bool:
    """The proxy's config and slot map, as they should be after a restart of the proxy. True if
    the config itself changed (the slot map changes with every switch). `sidecar_entrance`: the
    port of the OptiLLM sidecar's way back to the gateway (None: no sidecar)."""
    d = project.state_dir / "proxy"
    text = proxy_config(SLOTS, {s: f"gateway-{s}" for s in SLOTS}, gateway, gateway.replicas, sidecar_entrance)
    changed = atomic_write(d / "haproxy.cfg", text)
    atomic_write(d / "slot.map", f"active slot_{active}\n")
    d.chmod(0o755)
    return changed
