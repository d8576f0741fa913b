"""`bin/ops purge`: LiteLLM's per-request rows older than `database.retention_days` deleted, in
batches of their own transactions (a batch holds its row locks for milliseconds: the gateways'
inserts never wait on it), then `VACUUM (ANALYZE)` of each table purged. LiteLLM itself never
deletes a spend-log row: a busy gateway adds a row per request forever.

Kept: keys, teams, users, budgets and the daily spend tables (one row per key, model and day),
which `bin/ops spend --by day` and LiteLLM's UI read for the long view."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from gwops import metrics
from gwops.errors import OpsError

if TYPE_CHECKING:
    from collections.abc import Callable

    from gwops.project import Project

# (table, the time column its age is read from): LiteLLM stores UTC without a time zone
TABLES = (("LiteLLM_SpendLogs", "startTime"), ("LiteLLM_ErrorLogs", "startTime"), ("LiteLLM_AuditLog", "updated_at"))
BATCH = 5000
MARK = "gwops-purged"


class DockerExec(Protocol):
    """What the purge needs of gwops.docker.Docker."""

    def exec(self, service: str, cmd: list[str], env: dict[str, str] | None = None) -> tuple[int, str]: ...


@dataclass
class PurgeResult:
    days: int
    dry_run: bool
    rows: dict[str, int] = field(default_factory=dict)  # deleted (or, dry run, due) per table
    bytes_before: int = 0  # the database's size
    bytes_after: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "days": self.days,
            "dry_run": self.dry_run,
            "rows": self.rows,
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
            "seconds": round(self.seconds, 2),
        }


def _cutoff(days: int) -> str:
    return f"(now() AT TIME ZONE 'UTC') - interval '{int(days)} days'"


def count_sql(table: str, column: str, days: int) -> str:
    return (
        f"SELECT CASE WHEN to_regclass('\"{table}\"') IS NULL THEN 0 ELSE "
        f'(SELECT count(*) FROM "{table}" WHERE "{column}" < {_cutoff(days)}) END'
    )


def delete_sql(table: str, column: str, days: int, batch: int = BATCH) -> str:
    """One DO block deleting `batch` rows at a time, each batch committed on its own (a DO block
    run outside a transaction may COMMIT), the total said in a NOTICE. Run with autocommit."""
    return f"""DO $$
DECLARE n bigint; total bigint := 0;
BEGIN
  IF to_regclass('"{table}"') IS NULL THEN RAISE NOTICE '{MARK} 0'; RETURN; END IF;
  LOOP
    DELETE FROM "{table}" WHERE ctid = ANY(ARRAY(
      SELECT ctid FROM "{table}" WHERE "{column}" < {_cutoff(days)} LIMIT {int(batch)}));
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
    COMMIT;
    EXIT WHEN n < {int(batch)};
  END LOOP;
  RAISE NOTICE '{MARK} %', total;
END $$;"""


def _psql(docker: DockerExec, service: str, env: dict[str, str], sql: str) -> str:
    code, out = docker.exec(service, ["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql], env=env)
    if code != 0:
        raise OpsError(
            f"the purge's query failed in `{service}`: {out.strip()[-300:]}",
            hint=f"`bin/ops status`: is Postgres running? (`bin/ops logs {service}`)",
        )
    return out


def purge(
    docker: DockerExec,
    service: str,
    env: dict[str, str],
    days: int,
    dry_run: bool = False,
    say: Callable[[str], None] = lambda _m: None,
    batch: int = BATCH,
) -> PurgeResult:
    """Delete (or with `dry_run`, count) the rows older than `days` days in each of TABLES."""
    if days <= 0:
        raise OpsError(
            "`database.retention_days` is 0: every row is kept, nothing to purge",
            hint="set `database.retention_days` in config/stack.yaml, or `--days N`",
        )
    t0 = time.monotonic()
    size = "SELECT pg_database_size(current_database())"
    res = PurgeResult(days, dry_run, bytes_before=int(_psql(docker, service, env, size).strip() or 0))
    # a batch that waits on a lock gives up (and the next run takes it up) rather than queue
    run_env = {**env, "PGOPTIONS": "-c lock_timeout=2s"}
    for table, column in TABLES:
        if dry_run:
            res.rows[table] = int(_psql(docker, service, env, count_sql(table, column, days)).strip() or 0)
            continue
        out = _psql(docker, service, run_env, delete_sql(table, column, days, batch))
        m = re.search(rf"{MARK} (\d+)", out)
        res.rows[table] = int(m.group(1)) if m else 0
        if res.rows[table]:
            # one process: no parallel workers competing with the gateway for cores, and no
            # dynamic shared memory for the dead rows (a container's /dev/shm may be small)
            _psql(docker, service, env, f'VACUUM (ANALYZE, PARALLEL 0) "{table}"')
        say(f"{table}: {res.rows[table]} rows older than {days} days deleted")
    res.bytes_after = int(_psql(docker, service, env, size).strip() or 0)
    res.seconds = time.monotonic() - t0
    return res


# the database as `status` shows it: its size, the spend log's rows (the planner's estimate: no
# scan, but for a table never analyzed yet) and the age of its oldest row (its `startTime` index), the dead tuples VACUUM has not taken
UPKEEP_SQL = """SELECT pg_database_size(current_database()),
  coalesce((SELECT CASE WHEN reltuples < 0 THEN (SELECT count(*) FROM "LiteLLM_SpendLogs") ELSE reltuples END
            FROM pg_class WHERE oid = to_regclass('"LiteLLM_SpendLogs"')), 0),
  coalesce((SELECT floor(extract(epoch FROM (now() AT TIME ZONE 'UTC') - min("startTime")) / 86400)
            FROM "LiteLLM_SpendLogs"), 0),
  (SELECT coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables)"""
SLACK_DAYS = 2  # the nightly purge may be a day late before `status` calls it behind


def upkeep(docker: DockerExec, service: str, env: dict[str, str], days: int) -> dict[str, object]:
    """The database's size, spend-log rows (estimated), the oldest spend-log row's age in days and
    dead tuples; `behind` when that row is older than `days` allows (the purge does not run)."""
    out = _psql(docker, service, env, UPKEEP_SQL.replace("\n", " ")).strip()
    size, rows, oldest, dead = (int(float(x or 0)) for x in out.split("|"))
    return {
        "size_bytes": size,
        "spend_rows_estimate": max(rows, 0),
        "oldest_spend_days": oldest,
        "retention_days": days,
        "dead_tuples": dead,
        "behind": bool(days) and oldest > days + SLACK_DAYS,
    }


def max_age(schedule: str | None) -> float | None:
    """How old the last purge may be: one interval of its cron `schedule` plus a day (None: no
    schedule, so no purge is expected)."""
    if not schedule:
        return None
    from gwops.schedule import interval_seconds

    return interval_seconds(schedule) + 86400


def record(project: Project, res: PurgeResult, schedule: str | None) -> None:
    """The purge's metrics (state/metrics/purge.prom): the GwopsPurgeStale alert reads them."""
    values: dict[str, float] = {
        "gwops_purge_last_success_timestamp_seconds": metrics.now(),
        "gwops_purge_last_rows_deleted": sum(res.rows.values()),
        "gwops_purge_last_duration_seconds": round(res.seconds, 3),
        "gwops_database_size_bytes": res.bytes_after,
    }
    limit = max_age(schedule)
    if limit is not None:
        values["gwops_purge_max_age_seconds"] = limit
    metrics.record(project, "purge", values)
