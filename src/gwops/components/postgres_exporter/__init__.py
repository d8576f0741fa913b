"""postgres-exporter: Postgres' own metrics (`pg_up`, connections, database size) for Prometheus,
and the stack's queries (queries.yml.j2): LiteLLM's table sizes, dead tuples, the oldest spend log."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gwops.components.base import Component, FilesContext, MetricsTarget
from gwops.components.monitoring import enabled
from gwops.fsutil import atomic_write

if TYPE_CHECKING:
    from gwops.components.base import StackContext

SERVICE = "postgres-exporter"


def files(ctx: FilesContext) -> bool:
    d = ctx.dir("postgres_exporter")
    changed = atomic_write(
        d / "queries.yml", COMPONENT.render("queries.yml.j2", retention_days=ctx.settings.database.retention_days)
    )
    d.chmod(0o755)
    return changed


def apply(stack: StackContext) -> None:
    """The exporter reads its queries at start: a new retention restarts it."""
    for c in stack.docker.replicas(SERVICE):
        c.restart(timeout=10)


COMPONENT = Component(
    name="postgres_exporter",
    package=__name__,
    description="Postgres metrics",
    core=False,
    enabled=enabled,
    files=files,
    apply=apply,
    metrics=MetricsTarget("postgres", 9187),
)
