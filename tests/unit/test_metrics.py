"""The toolkit's textfile metrics: exact values (a timestamp keeps its seconds), counters that
start at 0 and survive between runs, one file per subject written whole."""

from __future__ import annotations

import pytest

from gwops import metrics
from gwops.project import Project

pytestmark = pytest.mark.unit


def values(path) -> dict[str, float]:
    return {
        line.split()[0]: float(line.split()[1]) for line in path.read_text().splitlines() if not line.startswith("#")
    }


def test_counters_start_at_zero_and_add_up_over_runs(tmp_path):
    project = Project(tmp_path)
    metrics.record(project, "reload", {"gwops_reload_last_outcome": 0})
    prom = tmp_path / "state/metrics/reload.prom"
    assert values(prom) == {
        "gwops_reload_last_outcome": 0,
        "gwops_reload_failures_total": 0,
        "gwops_reload_rollbacks_total": 0,
    }
    metrics.record(project, "reload", {"gwops_reload_last_outcome": 2}, inc=("gwops_reload_rollbacks_total",))
    metrics.record(project, "reload", {"gwops_reload_last_outcome": 1}, inc=("gwops_reload_failures_total",))
    metrics.record(project, "reload", {"gwops_reload_last_outcome": 2}, inc=("gwops_reload_rollbacks_total",))
    assert values(prom)["gwops_reload_rollbacks_total"] == 2 and values(prom)["gwops_reload_failures_total"] == 1
    assert "# TYPE gwops_reload_rollbacks_total counter" in prom.read_text()
    assert [p.name for p in prom.parent.iterdir() if p.name.endswith(".partial")] == []


def test_a_timestamp_keeps_every_second(tmp_path):
    metrics.record(Project(tmp_path), "backup", {"gwops_backup_last_verified_timestamp_seconds": 1795436824.583})
    assert (
        values(tmp_path / "state/metrics/backup.prom")["gwops_backup_last_verified_timestamp_seconds"] == 1795436824.583
    )


def test_an_unwritable_directory_never_fails_the_command(tmp_path):
    (tmp_path / "state").mkdir()
    (tmp_path / "state/metrics").write_text("a file where the directory should be")
    metrics.record(Project(tmp_path), "up", {"gwops_up_last_duration_seconds": 1.5})  # no exception
