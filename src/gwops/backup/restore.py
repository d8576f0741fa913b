"""`bin/ops restore`: back up the current database, stop the gateway's writes, restore into a new
database, check it like verification does, cut over by renaming (the old database is kept), and
bring the gateway back health-gated. A failed restore leaves the running database as it was."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from gwops.backup import verify as verifying
from gwops.backup.dump import run
from gwops.backup.service import Backups
from gwops.components import postgres
from gwops.errors import BackupError, PrerequisiteError

Say = Callable[[str], None]


@dataclass
class RestoreResult:
    restored: str  # backup id
    safety_backup: str  # backup of the database as it was, taken first
    kept_as: str  # name of the old database, kept until the operator drops it


def _sql(container, env, database: str, sql: str) -> None:
    code, out, err = run(container, ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql], env)
    if code != 0:
        raise BackupError(f"`{sql[:60]}` failed: {(err or out).strip()[-300:]}")


def restore(
    backups: Backups, ref: str | None, stop_gateway: Callable[[], None], start_gateway: Callable[[], None], say: Say
) -> RestoreResult:
    with backups.lock("restore a backup"):
        if backups.docker.container(postgres.SERVICE) is None and backups.docker.stack_container(postgres.SERVICE):
            raise PrerequisiteError(
                "the database runs in the Swarm stack: `restore` stops and starts the gateway "
                "the Compose way, and would cut over under the Swarm gateways",
                hint="`bin/ops swarm rm` (volumes stay), `bin/ops up`, `bin/ops restore`, "
                "`bin/ops down`, then `bin/ops swarm deploy` again",
            )
        chosen = backups.find(ref)
        directory = backups.root / chosen.id
        verifying.check_files(directory, chosen)
        say("taking a backup of the current database first")
        safety = backups.backup(prune=False, locked=True)
        target = backups.target()
        env = target.env(backups.cfg.timeout)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
        db = target.database
        new, old = f"{db}_restore_{stamp}", f"{db}_before_restore_{stamp}"
        say("stopping the gateway (no writes during the restore)")
        stop_gateway()
        try:
            _sql(target.container, env, "postgres", f'CREATE DATABASE "{new}" OWNER "{target.user}"')
            try:
                say(f"restoring `{chosen.id}` into database `{new}`")
                verifying.load_dump(target.container, directory, chosen, target.user, new, env)
                got = verifying.count_rows(target.container, list(chosen.tables), target.user, new, env)
                diffs = verifying.compare(chosen.tables, got)
                if diffs:
                    raise BackupError(f"restored data does not match the manifest: {'; '.join(diffs[:5])}")
                say(f"cutting over: `{db}` -> `{old}`, `{new}` -> `{db}`")
                _sql(
                    target.container,
                    env,
                    "postgres",
                    f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' "
                    f"AND pid <> pg_backend_pid()",
                )
                _sql(
                    target.container,
                    env,
                    "postgres",
                    f'ALTER DATABASE "{db}" RENAME TO "{old}"; ALTER DATABASE "{new}" RENAME TO "{db}"',
                )
            except BaseException:
                run(
                    target.container,
                    ["psql", "-X", "-q", "-d", "postgres", "-c", f'DROP DATABASE IF EXISTS "{new}"'],
                    env,
                )
                raise
        finally:
            say("starting the gateway")
            start_gateway()
        return RestoreResult(chosen.id, safety.manifest.id, old)
