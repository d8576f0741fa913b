"""The toolkit's own metrics: what only `backup`, `reload` and `up` know (last success, duration,
size, verified, rollbacks, failures), written for node-exporter's textfile collector into
state/metrics/<subject>.prom (atomically: a scrape never reads half a file), so Prometheus
scrapes them and the alert rules see them (backup stale, reload failed or rolled back).

Counters survive between runs: their values are kept beside the file in <subject>.json (the
collector reads only *.prom)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from gwops.fsutil import atomic_write
from gwops.project import Project

# name -> (type, help); every metric the toolkit writes
METRICS = {
    "gwops_backup_last_verified_timestamp_seconds": (
        "gauge",
        "Unix time of the newest backup whose restore was verified",
    ),
    "gwops_backup_max_age_seconds": (
        "gauge",
        "age above which the last verified backup is stale (schedule plus slack)",
    ),
    "gwops_backup_last_size_bytes": ("gauge", "size of the last backup"),
    "gwops_backup_last_duration_seconds": ("gauge", "duration of the last backup, its verification included"),
    "gwops_backup_last_verified": ("gauge", "1 if the last backup was restored and checked, else 0"),
    "gwops_backup_failures_total": ("counter", "backups that failed or could not be verified"),
    "gwops_reload_last_success_timestamp_seconds": ("gauge", "Unix time of the last reload that went live"),
    "gwops_reload_last_duration_seconds": ("gauge", "duration of the last reload"),
    "gwops_reload_last_outcome": ("gauge", "outcome of the last reload: 0 went live, 1 failed, 2 rolled back"),
    "gwops_reload_failures_total": ("counter", "reloads that failed before the switch (the old config kept serving)"),
    "gwops_reload_rollbacks_total": ("counter", "reloads switched back to the old config by themselves"),
    "gwops_purge_last_success_timestamp_seconds": (
        "gauge",
        "Unix time of the last spend-log purge that ran to its end",
    ),
    "gwops_purge_max_age_seconds": ("gauge", "age above which the last purge is stale (schedule plus a day)"),
    "gwops_purge_last_rows_deleted": ("gauge", "rows the last purge deleted (spend, error and audit logs)"),
    "gwops_purge_last_duration_seconds": ("gauge", "duration of the last purge, its VACUUM included"),
    "gwops_database_size_bytes": ("gauge", "the database's size after the last purge"),
    "gwops_up_last_success_timestamp_seconds": ("gauge", "Unix time of the last `up` that brought the gateway up"),
    "gwops_up_last_duration_seconds": ("gauge", "duration of the last successful `up`"),
    "gwops_probe_capability": ("gauge", "what `bin/ops probe` found a route can do: 1 yes, 0 no, -1 error"),
    "gwops_probe_ttft_seconds": ("gauge", "time to the first streamed token at the last probe"),
    "gwops_probe_tokens_per_second": ("gauge", "streamed tokens per second at the last probe"),
    "gwops_probe_last_timestamp_seconds": ("gauge", "Unix time of the last `bin/ops probe`"),
}
ZERO = {
    "backup": ("gwops_backup_failures_total",),
    "reload": ("gwops_reload_failures_total", "gwops_reload_rollbacks_total"),
}


def directory(project: Project) -> Path:
    return project.state_dir / "metrics"


def _ready(project: Project) -> Path:
    d = directory(project)
    d.mkdir(parents=True, exist_ok=True)
    d.chmod(0o755)  # read by node-exporter's user
    return d


def _exposition(samples: list[tuple[str, dict[str, str], float]]) -> str:
    """Prometheus' text format: HELP and TYPE once per metric, then its samples."""

    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    lines: list[str] = []
    for name in sorted({n for n, _, _ in samples}):
        kind, text = METRICS[name]
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        for n, labels, value in samples:
            if n == name:
                lab = ",".join(f'{k}="{esc(v)}"' for k, v in sorted(labels.items()))
                lines.append(f"{name}{{{lab}}} {value}" if lab else f"{name} {value}")
    return "\n".join(lines) + "\n"


def record(project: Project, subject: str, set_: dict[str, float] | None = None, inc: tuple[str, ...] = ()) -> None:
    """Set gauges, add one to counters, and rewrite <subject>.prom. Counters start at 0 (a counter
    that first appears above 0 has no `increase`). Never fails the command it reports on."""
    try:
        d = _ready(project)
        state_file = d / f"{subject}.json"
        values: dict[str, float] = json.loads(state_file.read_text()) if state_file.exists() else {}
        for name in ZERO.get(subject, ()):
            values.setdefault(name, 0)
        values.update(set_ or {})
        for name in inc:
            values[name] = values.get(name, 0) + 1
        atomic_write(state_file, json.dumps(values, sort_keys=True) + "\n")
        atomic_write(d / f"{subject}.prom", _exposition([(n, {}, v) for n, v in values.items()]))
    except (OSError, ValueError):
        pass  # metrics are an account of the command, never a reason it fails


def write_samples(project: Project, subject: str, samples: list[tuple[str, dict[str, str], float]]) -> None:
    """Replace <subject>.prom with labelled samples (a probe's matrix: the last run is the truth,
    nothing accumulates). Never fails the command it reports on."""
    try:
        atomic_write(_ready(project) / f"{subject}.prom", _exposition(samples))
    except OSError:
        pass


def now() -> float:
    return round(time.time(), 3)
