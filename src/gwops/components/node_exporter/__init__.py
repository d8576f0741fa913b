"""node-exporter: the host's CPU, memory, disks and network, and the toolkit's own metrics (backups,
reloads, `up`) from its textfile directory (state/metrics/, see gwops.metrics)."""

from gwops.components.base import Component, MetricsTarget
from gwops.components.monitoring import enabled

COMPONENT = Component(
    name="node_exporter",
    official="prom/node-exporter:v1.5.0",
    local="gwops/node_exporter:1.5.0",
    package=__name__,
    description="host metrics and the toolkit's textfile metrics",
    core=False,
    enabled=enabled,
    metrics=MetricsTarget("node", 9100),
)
