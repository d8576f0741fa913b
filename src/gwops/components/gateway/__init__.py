"""The LiteLLM gateway: each config version runs in a slot (blue or green) as `gateway.replicas`
containers behind the proxy. Its gate: the proxy has every replica of the active slot in rotation,
then readiness and one completion per route through the public port (gwops.stack.gate_gateway).
Reloads (gwops.reload) are about this service."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gwops.components import wheels
from gwops.components.base import Component, GateContext, MetricsTarget

if TYPE_CHECKING:
    from gwops.images import Images
    from gwops.settings import StackSettings

SERVICE = "gateway"  # the image and settings key; its compose services are gateway-<slot>
SLOTS = ("blue", "green")
LITELLM_VERSION = "1.106.2"
METRICS_PORT = 9400  # the metrics process in each replica (not published)


def service(slot: str) -> str:
    return f"{SERVICE}-{slot}"


def services(active: str) -> tuple[list[str], list[str]]:
    return [service(active)], [service(s) for s in SLOTS if s != active]


def gate(ctx: GateContext, svc: str) -> None:
    if svc == service(ctx.active):  # the idle slot is not started by `up`
        ctx.stack.gate_gateway(ctx.health, ctx.active, ctx.master_key, ctx.routes)


def build_args(settings: StackSettings) -> dict[str, str]:
    return {"LITELLM_VERSION": settings.images.litellm_version}


def build_context(images: Images) -> Path:
    """image/ plus LiteLLM's wheels (downloaded by the host once per version)."""
    version = images.settings.images.litellm_version
    found = wheels.download(images, "litellm", COMPONENT.image_dir / "requirements.txt",
                            [f"litellm[proxy]=={version}"], what=f"LiteLLM {version}")
    return wheels.context(images, "litellm", COMPONENT.image_dir, found)


COMPONENT = Component(
    name=SERVICE,
    official=f"ghcr.io/berriai/litellm:v{LITELLM_VERSION}",
    local=f"gwops/litellm:{LITELLM_VERSION}",
    package=__name__,
    description="LiteLLM gateway (blue/green slots, replicas)",
    services=services,
    gate=gate,
    build_args=build_args,
    build_context=build_context,
    # the workers' metrics from their own process (`--prometheus_metrics_port`, see the compose
    # fragment), with the master key (from a file: see the prometheus component); LiteLLM's own
    # server answers /metrics with a redirect there
    metrics=MetricsTarget("gateway", METRICS_PORT, path="/metrics/", gateway_key=True),
)
