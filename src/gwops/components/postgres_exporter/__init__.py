"""postgres-exporter: Postgres' own metrics (`pg_up`, connections, database size) for Prometheus."""

from gwops.components.base import Component, MetricsTarget
from gwops.components.monitoring import enabled

COMPONENT = Component(
    name="postgres_exporter",
    package=__name__,
    description="Postgres metrics",
    core=False,
    enabled=enabled,
    metrics=MetricsTarget("postgres", 9187),
)
