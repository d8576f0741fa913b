"""node-exporter: the host's CPU, memory, disks and network, and the toolkit's own metrics (backups,
reloads, `up`) from its textfile directory (state/metrics/, see gwops.metrics)."""

from gwops.components.base import Component, MetricsTarget
from gwops.components.monitoring import enabled

COMPONENT = Component(
    name="node_exporter",
    package=__name__,
    description="host metrics and the toolkit's textfile metrics",
    core=False,
    enabled=enabled,
    metrics=MetricsTarget("node", 9100),
)
