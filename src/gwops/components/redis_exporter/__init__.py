"""redis-exporter: Redis' own metrics (`redis_up`, memory, clients, keys) for Prometheus."""

from gwops.components.base import Component, MetricsTarget
from gwops.components.monitoring import enabled

COMPONENT = Component(
    name="redis_exporter",
    package=__name__,
    description="Redis metrics",
    core=False,
    enabled=enabled,
    metrics=MetricsTarget("redis", 9121),
)
