"""The registry: every service of the stack, one line each (see gwops.components.base). Order is
the order of `status`, `images build` and the compose fragments; start order comes from their
`depends_on`. A component is its folder gwops/components/<name>/ and its line here."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from gwops.components.base import Component

if TYPE_CHECKING:
    from gwops.docker import Docker
    from gwops.settings import StackSettings

NAMES = (
    "llama_cpp",
    "ollama",
    "vllm",
    "proxy",
    "gateway",
    "postgres",
    "redis",
    "prometheus",
    "alertmanager",
    "node_exporter",
    "postgres_exporter",
    "redis_exporter",
    "grafana",
    "optillm",
)
REGISTRY: tuple[Component, ...] = tuple(import_module(f"{__name__}.{name}").COMPONENT for name in NAMES)


def names() -> list[str]:
    return [c.name for c in REGISTRY]


def get(name: str) -> Component:
    return next(c for c in REGISTRY if c.name == name)


def of_service(service: str, active: str = "blue") -> Component | None:
    """The component that runs a compose service (gateway-green: the gateway)."""
    return next((c for c in REGISTRY if service in c.service_names(active) or service == c.name), None)


def compose_files() -> list[str]:
    return [c.compose_file for c in REGISTRY]


def image_absent(comp: Component, settings: StackSettings, docker: Docker) -> bool:
    """A component with no offline build whose official image is not on this host (Grafana):
    `up` runs the stack without it, so neither its missing container, its scrape job without a
    target nor its port is a fault."""
    pin = getattr(settings.images, comp.name)
    return not pin.local and not docker.image_exists(pin.official)
