"""The spend-log purge's statements and reading of psql's answers (gwops.purge); the purge itself
runs against a real stack in tests/integration/test_data.py."""

from __future__ import annotations

import pytest

from gwops import purge
from gwops.errors import OpsError

pytestmark = pytest.mark.unit


class Psql:
    """Answers like psql in the Postgres container: sizes, and the DO block's NOTICE."""

    def __init__(self, fail: bool = False):
        self.sql: list[tuple[str, dict]] = []
        self.fail = fail

    def exec(self, service, cmd, env=None):
        sql = cmd[-1]
        self.sql.append((sql, env or {}))
        if self.fail:
            return 2, "psql: error: connection refused"
        if "pg_database_size" in sql:
            return 0, "1000000\n"
        if sql.startswith("DO"):
            return 0, "psql:NOTICE:  gwops-purged 12000\n" if "SpendLogs" in sql else "NOTICE:  gwops-purged 0\n"
        return 0, ""


def test_batches_commit_on_their_own_and_only_purged_tables_are_vacuumed():
    p = Psql()
    res = purge.purge(p, "postgres", {"PGUSER": "u"}, 90)
    assert res.rows == {"LiteLLM_SpendLogs": 12000, "LiteLLM_ErrorLogs": 0, "LiteLLM_AuditLog": 0}
    dos = [(sql, env) for sql, env in p.sql if sql.startswith("DO")]
    assert len(dos) == 3 and all("COMMIT;" in sql and "LIMIT 5000" in sql for sql, _ in dos)
    assert all(env["PGOPTIONS"] == "-c lock_timeout=2s" for _, env in dos)  # never queues behind a lock
    assert "interval '90 days'" in dos[0][0] and '"startTime" <' in dos[0][0]
    assert [sql for sql, _ in p.sql if sql.startswith("VACUUM")] == ['VACUUM (ANALYZE, PARALLEL 0) "LiteLLM_SpendLogs"']


def test_nothing_to_do_and_a_dead_database_are_errors_with_a_next_step():
    with pytest.raises(OpsError, match="retention_days"):
        purge.purge(Psql(), "postgres", {}, 0)
    with pytest.raises(OpsError) as info:
        purge.purge(Psql(fail=True), "postgres", {}, 90)
    assert "connection refused" in info.value.message and "bin/ops status" in info.value.hint


@pytest.mark.parametrize(
    ("answer", "days", "behind"),
    [("52000000|15001|3|12", 90, False), ("52000000|15001|93|0", 90, True), ("52000000|-1|400|0", 0, False)],
)
def test_upkeep_reads_size_rows_age_and_says_when_the_purge_is_behind(answer, days, behind):
    """`status`'s database line: a spend-log row older than the retention (and a day's slack for a
    late nightly run) means the purge does not run; retention 0 keeps every row on purpose."""

    class Answer:
        def exec(self, service, cmd, env=None):
            return 0, answer + "\n"

    out = purge.upkeep(Answer(), "postgres", {}, days)
    assert out["size_bytes"] == 52_000_000 and out["spend_rows_estimate"] >= 0 and out["behind"] is behind


def test_a_purge_records_its_metrics_and_the_age_its_schedule_allows(tmp_path):
    """state/metrics/purge.prom: what the GwopsPurgeStale alert compares (a nightly schedule
    allows a day and a day of slack)."""
    from gwops.project import Project

    res = purge.PurgeResult(90, False, rows={"LiteLLM_SpendLogs": 12000}, bytes_after=5_000_000, seconds=1.5)
    purge.record(Project(tmp_path), res, "30 3 * * *")
    text = (tmp_path / "state/metrics/purge.prom").read_text()
    assert "gwops_purge_max_age_seconds 172800" in text and "gwops_purge_last_rows_deleted 12000" in text
    assert "gwops_purge_last_success_timestamp_seconds" in text and "gwops_database_size_bytes 5000000" in text
    assert purge.max_age(None) is None
