"""The registry: every service of the stack, one line each (see gwops.components.base). Order is
the order of `status`, `images build` and the compose fragments; start order comes from their
`depends_on`."""

from __future__ import annotations

from gwops.components import (
    alertmanager,
    gateway,
    grafana,
    node_exporter,
    postgres,
    postgres_exporter,
    prometheus,
    proxy,
    redis,
    redis_exporter,
)
from gwops.components.base import Component

REGISTRY: tuple[Component, ...] = (
    proxy.COMPONENT,
    gateway.COMPONENT,
    postgres.COMPONENT,
    redis.COMPONENT,
    prometheus.COMPONENT,
    alertmanager.COMPONENT,
    node_exporter.COMPONENT,
    postgres_exporter.COMPONENT,
    redis_exporter.COMPONENT,
    grafana.COMPONENT,
)


def names() -> list[str]:
    return [c.name for c in REGISTRY]


def get(name: str) -> Component:
    return next(c for c in REGISTRY if c.name == name)


def of_service(service: str, active: str = gateway.SLOTS[0]) -> Component | None:
    """The component that runs a compose service (gateway-green: the gateway)."""
    return next((c for c in REGISTRY if service in c.service_names(active) or service == c.name), None)


def compose_files() -> list[str]:
    return [c.compose_file for c in REGISTRY]
