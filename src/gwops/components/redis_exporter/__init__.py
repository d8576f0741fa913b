"""redis-exporter: Redis' own metrics (`redis_up`, memory, clients, keys) for Prometheus."""

from gwops.components.base import Component, MetricsTarget
from gwops.components.monitoring import enabled

COMPONENT = Component(
    name="redis_exporter",
    official="oliver006/redis_exporter:v1.45.0",
    local="gwops/redis_exporter:1.45.0",
    package=__name__,
    description="Redis metrics",
    core=False,
    enabled=enabled,
    metrics=MetricsTarget("redis", 9121),
)
