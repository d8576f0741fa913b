"""LiteLLM's migrations as `up` applies them (gwops.migrations), against a real Postgres container:
recorded as Prisma records them, resumable, and a failing one rolled back and named."""

from __future__ import annotations

import hashlib
import secrets

import pytest

from gwops import migrations
from gwops.backup.verify import wait_ready
from gwops.docker import Docker
from gwops.errors import MigrationError
from gwops.migrations import Migration
from gwops.project import Project
from tests.conftest import unique

pytestmark = pytest.mark.integration
USER = DB = "litellm"


class OneContainer(Docker):
    """The Docker adapter, its `postgres` service being one test container."""

    def __init__(self, project: Project, container):
        super().__init__(project, unique("gwops-test"))
        self._c = container

    def container(self, service: str):
        return self._c


@pytest.fixture
def pg(local_images, tmp_path):
    import docker

    pw = secrets.token_urlsafe(24)
    c = docker.from_env().containers.run(
        local_images["postgres"],
        detach=True,
        name=unique("gwops-test-mig"),
        environment={"POSTGRES_PASSWORD": pw, "POSTGRES_USER": USER, "POSTGRES_DB": DB},
    )
    try:
        wait_ready(c, USER, DB, 60)
        yield (
            OneContainer(Project(tmp_path), c),
            {"PGHOST": "127.0.0.1", "PGUSER": USER, "PGDATABASE": DB, "PGPASSWORD": pw},
        )
    finally:
        c.remove(force=True, v=True)


def mig(name: str, sql: str) -> Migration:
    return Migration(name, hashlib.sha256(sql.encode()).hexdigest(), sql)


def query(docker: Docker, env: dict, sql: str) -> str:
    code, out = docker.exec("postgres", ["psql", "-X", "-At", "-c", sql], env=env)
    assert code == 0, out
    return out.strip()


def test_applied_once_recorded_as_prisma_does_and_a_failure_is_named_and_rolled_back(pg):
    docker, env = pg
    first = [
        mig("20250101000000_init", 'CREATE TABLE "T" (id int PRIMARY KEY);\n-- a comment; with a semicolon\n'),
        mig("20250102000000_add column", 'ALTER TABLE "T" ADD COLUMN note text;'),  # a name with a space
        mig("20250103000000_index", 'CREATE INDEX CONCURRENTLY IF NOT EXISTS "T_note" ON "T"(note);'),
    ]
    res = migrations.apply(docker, "postgres", env, first, timeout=60)
    assert res.applied == [m.name for m in first] and res.total == 3
    rows = query(
        docker,
        env,
        "SELECT migration_name, checksum, applied_steps_count, finished_at >= started_at, "
        'rolled_back_at IS NULL, length(id) FROM "_prisma_migrations" ORDER BY migration_name',
    )
    assert rows.splitlines() == [f"{m.name}|{m.checksum}|1|t|t|36" for m in first]
    assert query(docker, env, "SELECT indexname FROM pg_indexes WHERE indexname = 'T_note'") == "T_note"
    assert migrations.apply(docker, "postgres", env, first, timeout=60).applied == []  # nothing twice

    bad = [
        *first,
        mig("20250104000000_good", 'ALTER TABLE "T" ADD COLUMN good int;'),
        mig("20250105000000_bad", 'ALTER TABLE "T" ADD COLUMN half int;\n\nALTER TABLE "Nope"\n  ADD COLUMN x int;\n'),
        mig("20250106000000_after", 'ALTER TABLE "T" ADD COLUMN later int;'),
    ]
    with pytest.raises(MigrationError) as info:
        migrations.apply(docker, "postgres", env, bad, timeout=60)
    err = info.value
    assert err.exit_code == 4 and err.migration == "20250105000000_bad"
    assert err.statement == 'ALTER TABLE "Nope" ADD COLUMN x int;' and "line 4" in err.message
    assert 'relation "Nope" does not exist' in err.message
    cols = query(
        docker,
        env,
        "SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns "
        "WHERE table_name = 'T'",
    )
    assert cols == "good,id,note"  # the failing migration's first statement was rolled back with it
    names = query(docker, env, 'SELECT migration_name FROM "_prisma_migrations" ORDER BY 1').splitlines()
    assert names == [m.name for m in first] + ["20250104000000_good"]
    assert query(docker, env, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == "0"  # lock released

    fixed = [*bad[:4], mig("20250105000000_bad", 'ALTER TABLE "T" ADD COLUMN half int;'), bad[5]]
    assert migrations.apply(docker, "postgres", env, fixed, timeout=60).applied == [
        "20250105000000_bad",
        "20250106000000_after",
    ]


def test_request_log_indexes_are_built_concurrently_once(pg):
    docker, env = pg
    query(docker, env, 'CREATE TABLE "L" (k text, t timestamp, c text)')
    ixs = [
        migrations.LogIndex("L", "L_k_t_idx", '("k", "t")'),
        migrations.LogIndex("L", "L_c_idx", '("c")'),
        migrations.LogIndex("Absent", "Absent_idx", '("x")'),  # a table this database lacks: skipped
    ]
    res = migrations.apply(docker, "postgres", env, [], timeout=60, indexes=ixs)
    assert res.indexes == ["L_k_t_idx", "L_c_idx"] and "request-log indexes built" in res.line()
    assert query(docker, env, "SELECT count(*) FROM pg_index WHERE indrelid = '\"L\"'::regclass AND indisvalid") == "2"
    assert migrations.apply(docker, "postgres", env, [], timeout=60, indexes=ixs).indexes == []  # there: left alone
    # an invalid index (what a failed concurrent build leaves) is dropped and built again
    query(docker, env, "UPDATE pg_index SET indisvalid = false WHERE indexrelid = '\"L_c_idx\"'::regclass")
    assert migrations.apply(docker, "postgres", env, [], timeout=60, indexes=ixs).indexes == ["L_c_idx"]
    assert query(docker, env, "SELECT indisvalid FROM pg_index WHERE indexrelid = '\"L_c_idx\"'::regclass") == "t"
