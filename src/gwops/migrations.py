"""LiteLLM's database migrations, applied by `up` as a step of their own.

The gateways never migrate (DISABLE_SCHEMA_UPDATE): replicas racing to migrate at start, a
migration outliving a health budget, a failed one marked done are the upgrade accidents LiteLLM's
operators report. Instead `up` applies, once Postgres is healthy and before any gateway starts, the
migrations the gateway image ships (`litellm_proxy_extras/migrations/*/migration.sql`, read out of
the image once per image ID) that the database has not recorded yet.

Each is recorded in `_prisma_migrations` exactly as `prisma migrate deploy` records it (name,
checksum = SHA-256 of its migration.sql, start and finish times, one step), so either image serves a
database the other migrated. Each runs in a transaction with its record: a failing migration leaves
nothing of itself behind, and the migrations before it stay applied and recorded. Those that cannot
run in a transaction (CREATE INDEX CONCURRENTLY, single statements by LiteLLM's own rule) run
alone, then are recorded. The whole run holds Prisma's own advisory lock, so a `prisma migrate
deploy` elsewhere waits for it.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from gwops.errors import MigrationError, OpsError


class DockerExec(Protocol):
    """What the migrations need of gwops.docker.Docker (named here, not imported: this module
    stays outside the stack's import graph)."""

    def image_id(self, ref: str) -> str | None: ...
    def run_image(self, image: str, command: list[str]) -> bytes: ...
    def image_files(self, image: str, path: str) -> dict[str, bytes]: ...
    def exec(self, service: str, cmd: list[str], env: dict[str, str] | None = None) -> tuple[int, str]: ...
    def put_file(self, service: str, path: str, data: bytes, mode: int = 0o600) -> None: ...


PRISMA_LOCK = 72707369  # the advisory lock id `prisma migrate` takes
SCRIPT = "/tmp/gwops-migrate.sql"  # in the Postgres container; removed after the run
TABLE = """CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
);"""
APPLIED = 'SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL'
# Run inside the gateway image: where its migrations are (the package's folder differs by image).
WHERE = "import os, litellm_proxy_extras as m; print(os.path.join(os.path.dirname(m.__file__), 'migrations'))"


@dataclass(frozen=True)
class Migration:
    name: str
    checksum: str  # SHA-256 of migration.sql, as Prisma records it
    sql: str

    @property
    def transactional(self) -> bool:
        """False for CONCURRENTLY statements, which Postgres refuses inside a transaction."""
        code = re.sub(r"--[^\n]*", "", self.sql)
        return re.search(r"\bCONCURRENTLY\b", code, re.IGNORECASE) is None


@dataclass
class MigrateResult:
    applied: list[str]
    total: int
    seconds: float
    indexes: list[str] = field(default_factory=list)  # request-log indexes built (or rebuilt)

    def line(self) -> str:
        """What was done, as one line of progress."""
        built = f"; request-log indexes built: {', '.join(self.indexes)}" if self.indexes else ""
        if self.applied:
            return (
                f"database: {len(self.applied)} of {self.total} LiteLLM migrations applied "
                f"({self.seconds:.1f} s; the last: {self.applied[-1]}){built}"
            )
        return f"database: up to date ({self.total} LiteLLM migrations recorded){built}"


@dataclass(frozen=True)
class LogIndex:
    """An index LiteLLM builds after its migrations, not in one (`request_log_indexes.py`: a
    plain CREATE INDEX would block spend-log inserts for the whole build)."""

    table: str
    name: str
    definition: str  # the column list, as written after `ON <table>`

    def create_sql(self) -> str:
        return f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{self.name}" ON "{self.table}" {self.definition}'


INDEXES = "request_log_indexes.py"  # beside migrations/ in litellm_proxy_extras
INDEX_DECL = re.compile(r"RequestLogIndex\(\s*\"([^\"]+)\",\s*\"([^\"]+)\",\s*'([^']+)'\s*\)")


def _image_package(docker: DockerExec, image: str, cache: Path) -> dict:
    """What `image`'s litellm_proxy_extras ships: its migrations and its request-log indexes;
    read once per image ID."""
    image_id = docker.image_id(image) or image
    path = cache / "migrations" / f"{image_id.replace(':', '-')}.v2.json"
    if path.exists():
        return json.loads(path.read_text())
    where = (
        docker.run_image(image, ["sh", "-c", 'exec "$(command -v python3 || command -v python)" -c "$1"', "sh", WHERE])
        .decode(errors="replace")
        .strip()
    )
    files = docker.image_files(image, where.rsplit("/", 1)[0]) if where.startswith("/") else {}
    data = {
        "migrations": {
            name.split("/")[1]: [hashlib.sha256(raw).hexdigest(), raw.decode("utf-8")]
            for name, raw in files.items()
            if name.startswith("migrations/") and name.count("/") == 2 and name.endswith("/migration.sql")
        },
        "indexes": INDEX_DECL.findall(files.get(INDEXES, b"").decode("utf-8", errors="replace")),
    }
    if not data["migrations"]:
        raise OpsError(
            f"could not read LiteLLM's migrations from the image {image} ({where[-200:] or 'no answer'})",
            hint="is it a LiteLLM proxy image with `litellm-proxy-extras`? (`docker run --rm "
            f"--entrypoint sh {image} -c 'pip show litellm-proxy-extras'`)",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)
    return data


def bundled(docker: DockerExec, image: str, cache: Path) -> list[Migration]:
    """The migrations `image` ships, in name order (= Prisma's order); cached by image ID."""
    data = _image_package(docker, image, cache)["migrations"]
    return [Migration(name, checksum, sql) for name, (checksum, sql) in sorted(data.items())]


def bundled_indexes(docker: DockerExec, image: str, cache: Path) -> list[LogIndex]:
    """The request-log indexes `image`'s LiteLLM builds after its migrations (none before 2026-08)."""
    return [LogIndex(*t) for t in _image_package(docker, image, cache)["indexes"]]


def from_wheel(wheel: Path) -> list[Migration]:
    """The migrations a `litellm_proxy_extras` wheel ships (what its image will ship), in name order."""
    import zipfile

    found = []
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            parts = name.split("/")
            if len(parts) == 4 and parts[:2] == ["litellm_proxy_extras", "migrations"] and parts[3] == "migration.sql":
                raw = z.read(name)
                found.append(Migration(parts[2], hashlib.sha256(raw).hexdigest(), raw.decode("utf-8")))
    return sorted(found, key=lambda m: m.name)


# Statements after which an older LiteLLM may no longer run on the schema: it reads or writes what
# is gone, renamed or retyped, or inserts rows without a value a new NOT NULL column needs.
# LiteLLM's migrations are meant to be additive (new tables, columns with defaults, indexes).
BREAKING = re.compile(
    r"\bDROP\s+(TABLE|COLUMN|TYPE|VIEW|SCHEMA)\b|\bRENAME\b|\bALTER\s+COLUMN\s+\S+\s+(SET\s+DATA\s+)?TYPE\b"
    r"|\bSET\s+NOT\s+NULL\b",
    re.IGNORECASE,
)
NOT_NULL_COLUMN = re.compile(r"\bADD\s+COLUMN\b[^,;]*(?<!DROP )\bNOT\s+NULL\b[^,;]*", re.IGNORECASE)


def breaking(m: Migration) -> list[str]:
    """The statements of `m` an older LiteLLM may not run after (empty: it only adds)."""
    code = re.sub(r"/\*.*?\*/", "", re.sub(r"--[^\n]*", "", m.sql), flags=re.DOTALL)
    out = []
    for stmt in (" ".join(s.split()) for s in code.split(";")):
        added = NOT_NULL_COLUMN.search(stmt)
        if BREAKING.search(stmt) or (added and "DEFAULT" not in added.group(0).upper()):
            out.append(stmt[:200])
    return out


def applied(docker: DockerExec, service: str, env: dict[str, str]) -> set[str]:
    """The migrations the database has recorded as finished (none when it has no record table)."""
    code, out = docker.exec(
        service,
        ["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", "SELECT to_regclass('_prisma_migrations') IS NOT NULL"],
        env=env,
    )
    if code != 0:
        raise OpsError(
            f"service `{service}` did not answer the migrations' first query: {out.strip()[-300:]}",
            hint=f"`bin/ops status`; `bin/ops logs {service}`",
        )
    if out.strip() != "t":
        return set()
    code, out = docker.exec(service, ["psql", "-X", "-At", "-c", APPLIED], env=env)
    if code != 0:
        raise OpsError(f"reading `_prisma_migrations` failed: {out.strip()[-300:]}", hint=f"`bin/ops logs {service}`")
    return set(out.splitlines())  # one name a line (a name may hold spaces)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def script(pending: list[Migration]) -> tuple[str, list[tuple[int, int, Migration]]]:
    """One psql script applying `pending` in order, and the line range each migration's SQL
    occupies in it (to name the migration and statement of an error)."""
    lines = ["\\set ON_ERROR_STOP 1", f"SELECT pg_advisory_lock({PRISMA_LOCK});", *TABLE.splitlines()]
    ranges: list[tuple[int, int, Migration]] = []
    for m in pending:
        record = (
            'INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, logs, '
            "rolled_back_at, started_at, applied_steps_count) VALUES (gen_random_uuid()::text, "
            f"{_quote(m.checksum)}, clock_timestamp(), {_quote(m.name)}, NULL, NULL, now(), 1);"
        )
        lines.append(f"\\echo gwops-migration {m.name}")
        if m.transactional:
            lines.append("BEGIN;")
        first = len(lines) + 1
        lines += m.sql.splitlines()
        ranges.append((first, len(lines), m))
        lines += [";", record]
        if m.transactional:
            lines.append("COMMIT;")
    lines.append(f"SELECT pg_advisory_unlock({PRISMA_LOCK});")
    return "\n".join(lines) + "\n", ranges


def failure(output: str, ranges: list[tuple[int, int, Migration]]) -> MigrationError:
    """psql's error (`psql:FILE:LINE: ERROR: ...`) as the migration and statement that failed."""
    m = re.search(r"psql:[^:]*:(\d+): (ERROR|FATAL):\s*(.*)", output)
    if not m:
        last = (output.strip().splitlines() or ["(no output)"])[-1]
        return MigrationError("the migrations", "", last)
    line, reason = int(m.group(1)), m.group(3).strip()
    for first, last, mig in ranges:
        if first <= line <= last + 2:  # + the `;` and the record after it
            sql = mig.sql.splitlines()
            at = min(max(line - first, 0), len(sql) - 1) if sql else 0
            start = at
            while start > 0 and not sql[start - 1].rstrip().endswith(";"):
                start -= 1
            statement = " ".join(s.strip() for s in sql[start : at + 1] if s.strip() and not s.strip().startswith("--"))
            return MigrationError(mig.name, statement[:300], reason, line=at + 1)
    return MigrationError("the migrations", "", reason)


def apply(
    docker: DockerExec,
    service: str,
    env: dict[str, str],
    migrations: list[Migration],
    timeout: float,
    indexes: list[LogIndex] | None = None,
) -> MigrateResult:
    """Apply the migrations the database has not recorded, then build the request-log indexes it
    lacks (or that a failed concurrent build left invalid)."""
    t0 = time.monotonic()
    done = applied(docker, service, env)
    pending = [m for m in migrations if m.name not in done]
    if pending:
        text, ranges = script(pending)
        docker.put_file(service, SCRIPT, text.encode())
        run_env = {**env, "PGOPTIONS": f"-c statement_timeout={int(timeout * 1000)}"}
        try:
            code, out = docker.exec(service, ["psql", "-X", "-q", "-f", SCRIPT], env=run_env)
        finally:
            docker.exec(service, ["rm", "-f", SCRIPT])
        if code != 0:
            raise failure(out, ranges)
    built = build_indexes(docker, service, env, indexes or [], timeout)
    return MigrateResult([m.name for m in pending], len(migrations), time.monotonic() - t0, built)


def _ident(name: str) -> str:
    return _quote(f'"{name}"')


def build_indexes(
    docker: DockerExec, service: str, env: dict[str, str], indexes: list[LogIndex], timeout: float
) -> list[str]:
    """Each index concurrently (inserts go on meanwhile), as LiteLLM's own job builds them after
    `prisma migrate deploy`: one already valid is left alone, an invalid one (a concurrent build
    that failed) is dropped and built again. A partitioned table is left to LiteLLM's job (it
    builds per partition). Returns the names built (a failed one with its reason: the gateway
    serves without an index, so a failure never stops `up`)."""
    built = []
    run_env = {**env, "PGOPTIONS": f"-c statement_timeout={int(timeout * 1000)}"}
    for ix in indexes:
        state = (
            f"SELECT COALESCE((SELECT relkind::text FROM pg_class WHERE oid = to_regclass({_ident(ix.table)})), ''), "
            f"COALESCE((SELECT indisvalid::text FROM pg_index WHERE indexrelid = to_regclass({_ident(ix.name)})), "
            "'missing')"
        )
        code, out = docker.exec(service, ["psql", "-X", "-At", "-c", state], env=env)
        kind, _, valid = out.strip().partition("|")
        if code != 0 or kind != "r" or valid == "true":  # no such table, partitioned, or there
            continue
        steps = ([f'DROP INDEX CONCURRENTLY IF EXISTS "{ix.name}"'] if valid == "false" else []) + [ix.create_sql()]
        for sql in steps:
            code, out = docker.exec(service, ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], env=run_env)
            if code != 0:  # the gateway serves without it (slower spend queries): said, never fatal
                built.append(f"{ix.name} FAILED ({out.strip()[-200:]}; the next `bin/ops up` tries again)")
                break
        else:
            built.append(ix.name)
    return built
