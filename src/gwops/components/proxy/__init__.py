"""The front proxy (HAProxy): owns the gateway's public port, switches between the gateway slots
at run time (runtime API: gwops.proxy) and spreads requests over each slot's replicas."""

from __future__ import annotations

from gwops.components.base import Component, MetricsTarget
from gwops.proxy import SERVICE

COMPONENT = Component(
    name=SERVICE,
    package=__name__,
    description="front proxy on the public port",
    metrics=MetricsTarget("proxy", 8405),  # HAProxy's built-in exporter (frontend `health`)
    ports=lambda s: [(s.gateway.bind, s.gateway.port, "gateway.port")],
)
