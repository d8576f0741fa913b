"""The LiteLLM gateway: each config version runs in a slot (blue or green) as `gateway.replicas`
containers behind the proxy. Its gate: the proxy has every replica of the active slot in rotation,
then readiness and one completion per route through the public port (gwops.stack.gate_gateway).
Reloads (gwops.reload) are about this service."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gwops.components import wheels
from gwops.components.base import Component, GateContext, MetricsTarget
from gwops.errors import OpsError

if TYPE_CHECKING:
    from gwops.images import Images
    from gwops.render import ImageChoice
    from gwops.settings import StackSettings
    from gwops.stack import Stack

SERVICE = "gateway"  # the image and settings key; its compose services are gateway-<slot>
SLOTS = ("blue", "green")
LITELLM_VERSION = "1.106.2"
METRICS_PORT = 9400  # the metrics process in each replica (not published)
ADAPTER = "prisma_adapter"  # the local image's database engine (image/prisma_adapter/engine.mjs)


def service(slot: str) -> str:
    return f"{SERVICE}-{slot}"


def services(active: str) -> tuple[list[str], list[str]]:
    return [service(active)], [service(s) for s in SLOTS if s != active]


def waits_for_config(choices: list[ImageChoice]) -> bool:
    """The local image, whose entry imports LiteLLM and waits while its slot has no config (the
    official image's `litellm` would exit without one)."""
    return any(c.service == SERVICE and c.kind == "local" for c in choices)


def standby_wanted(settings: StackSettings, choices: list[ImageChoice]) -> bool:
    """Whether the idle slot waits as a standby: `gateway.standby` and an image that waits."""
    return settings.gateway.standby and waits_for_config(choices)


def start_standby(stack: Stack, slot: str) -> None:
    """The slot's replicas started with no config: each imports LiteLLM and waits (see
    gwops_entry.py). At the start CPU weight and under `gateway.standby_cpus`: they take little CPU,
    and only CPU nobody else wants (a reload raises the limit to `gateway.start_cpus`). Not waited for."""
    from gwops import slots

    svc = service(slot)
    slots.disarm(stack.project, slot)
    stack.docker.compose_up([svc], start=False)
    stack.docker.set_cpu(svc, stack.settings.gateway.start_cpu_weight, stack.settings.gateway.standby_cpus)
    stack.docker.start(svc)


def status_row(stack: Stack, row: dict) -> None:
    """Each slot's role: `serving` (the active one), `standby` (LiteLLM loaded, waiting for the
    next reload's config: its health reads `standby`) or `starting` (a reload is handing it one)."""
    from gwops import slots

    slot = row["service"].removeprefix(f"{SERVICE}-")
    if slot == slots.load(stack.project).active:
        row["role"] = "serving"
        if row["state"] == "running" and row["health"] == "starting":  # Docker's first checks lag: the proxy's decide
            total = int(row["replicas"].split("/")[1])
            try:
                up = stack.proxy.stats().get(slot)
            except OpsError:  # the proxy is stopped or restarting: Docker's view stands
                return
            if up is not None and up.up >= total:
                row["health"], row["replicas"] = "healthy", f"{total}/{total}"
    elif row["state"] == "running":
        row["role"] = "starting" if slots.armed(stack.project, slot) else "standby"
        if row["role"] == "standby" and row["health"] in ("healthy", "starting"):
            row["health"] = "standby"


def gate(ctx: GateContext, svc: str) -> None:
    if svc == service(ctx.active):  # the idle slot is not started by `up`
        ctx.stack.gate_gateway(ctx.health, ctx.active, ctx.master_key, ctx.routes)


def build_args(settings: StackSettings) -> dict[str, str]:
    return {"LITELLM_VERSION": settings.images.litellm_version}


def build_context(images: Images) -> Path:
    """image/ plus LiteLLM's wheels (downloaded by the host once per version) and the database
    adapter's npm packages (once per lock file) in prisma_adapter/node_modules."""
    version = images.settings.images.litellm_version
    found = wheels.download(
        images,
        "litellm",
        COMPONENT.image_dir / "requirements.txt",
        [f"litellm[proxy]=={version}"],
        what=f"LiteLLM {version}",
    )
    modules = wheels.npm_ci(
        images,
        "prisma-adapter",
        COMPONENT.image_dir / ADAPTER,
        what="Prisma's WASM query engine and the adapter's packages",
    )
    ctx = wheels.context(images, "litellm", COMPONENT.image_dir, found)
    wheels.link_tree(modules, ctx / ADAPTER / "node_modules")
    return ctx


COMPONENT = Component(
    name=SERVICE,
    official=f"ghcr.io/berriai/litellm:v{LITELLM_VERSION}",
    local=f"gwops/litellm:{LITELLM_VERSION}",
    package=__name__,
    description="LiteLLM gateway (blue/green slots, replicas)",
    services=services,
    gate=gate,
    status_row=status_row,
    build_args=build_args,
    build_context=build_context,
    # the workers' metrics from their own process (`--prometheus_metrics_port`, see the compose
    # fragment), with the master key (from a file: see the prometheus component); LiteLLM's own
    # server answers /metrics with a redirect there
    metrics=MetricsTarget("gateway", METRICS_PORT, path="/metrics/", gateway_key=True),
)
