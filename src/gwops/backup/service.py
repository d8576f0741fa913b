"""`bin/ops backup`, `backups [verify|prune]`, `restore`: one lock, bounded waits, proof by restore."""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gwops import envfile, metrics
from gwops.backup import retention
from gwops.backup import verify as verifying
from gwops.backup.dump import Target, dump
from gwops.backup.manifest import Manifest, load_all
from gwops.components import postgres
from gwops.docker import Docker
from gwops.errors import BackupError, OpsError, UsageError
from gwops.lock import exclusive
from gwops.project import Project
from gwops.settings import StackSettings

Say = Callable[[str], None]


@dataclass
class BackupResult:
    manifest: Manifest
    path: Path
    pruned: list[str]


class Backups:
    def __init__(
        self, project: Project, settings: StackSettings, docker: Docker, say: Say, target: Target | None = None
    ):
        """`target` overrides the stack's Postgres container (tests, other databases)."""
        self.project, self.settings, self.docker, self.say = project, settings, docker, say
        self._target = target
        cfg = settings.backups
        d = Path(cfg.dir)
        self.root = d if d.is_absolute() else project.root / d
        self.cfg = cfg

    # -- helpers ---------------------------------------------------------------------------------
    def lock(self, what: str):
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        return exclusive(self.root / ".lock", what)

    def sweep_partials(self) -> list[str]:
        swept = []
        for d in self.root.glob("*.partial"):
            shutil.rmtree(d, ignore_errors=True)
            swept.append(d.name)
        return swept

    def target(self) -> Target:
        """The database to dump: the Compose stack's Postgres, else the Swarm stack's task on this
        node (`bin/ops swarm deploy`)."""
        if self._target is not None:
            self._target.container.reload()
            return self._target
        c = self.docker.container(postgres.SERVICE)
        if c is None:
            c = self.docker.stack_container(postgres.SERVICE)
        if c is None:
            raise BackupError(
                f"service `{postgres.SERVICE}` has no container", hint="start the stack with `bin/ops up`, then retry"
            )
        password = envfile.read(self.project.env_file).get("POSTGRES_PASSWORD")
        return Target.from_container(c, password)

    def manifests(self) -> list[Manifest]:
        return load_all(self.root)

    def find(self, ref: str | None) -> Manifest:
        ms = self.manifests()
        if ref in (None, "latest"):
            ok = [m for m in ms if m.verified]
            if not ok:
                raise UsageError("there is no verified backup", hint="take one with `bin/ops backup`")
            return ok[-1]
        match = [m for m in ms if m.id == ref or m.id.startswith(str(ref))]
        if len(match) != 1:
            raise UsageError(f"no single backup matches `{ref}`", hint="list them with `bin/ops backups`")
        return match[0]

    def _images(self) -> dict[str, str]:
        return {svc: c.attrs["Config"]["Image"] for svc, c in self.docker.containers().items()}

    def policy(self) -> retention.Policy:
        c = self.cfg
        return retention.Policy(c.keep_last, c.keep_daily, c.keep_weekly, c.keep_monthly)

    # -- commands --------------------------------------------------------------------------------
    def backup(self, verify: bool | None = None, prune: bool = True, locked: bool = False) -> BackupResult:
        if not locked:
            with self.lock("take a backup"):
                return self.backup(verify, prune, locked=True)
        t0 = time.monotonic()
        try:
            result = self._backup(verify, prune)
        except OpsError:
            metrics.record(
                self.project,
                "backup",
                {"gwops_backup_max_age_seconds": self.max_age(), "gwops_backup_last_verified": 0},
                inc=("gwops_backup_failures_total",),
            )
            raise
        m = result.manifest
        values = {
            "gwops_backup_max_age_seconds": self.max_age(),
            "gwops_backup_last_verified": int(m.verified),
            "gwops_backup_last_size_bytes": sum(f["size"] for f in m.files.values()),
            "gwops_backup_last_duration_seconds": round(time.monotonic() - t0, 3),
        }
        if m.verified:
            values["gwops_backup_last_verified_timestamp_seconds"] = metrics.now()
        metrics.record(self.project, "backup", values)
        return result

    def _backup(self, verify: bool | None, prune: bool) -> BackupResult:
        for name in self.sweep_partials():
            self.say(f"removed the unfinished backup `{name}` left by an earlier run")
        target = self.target()
        seq = max((m.seq for m in self.manifests()), default=0) + 1
        manifest, path = dump(
            target, self.root, seq, self._images(), self.cfg.compression_level, self.cfg.timeout, self.say
        )
        self.say(
            f"wrote backup `{manifest.id}`: {manifest.files['dump.sql.zst']['size']} bytes, "
            f"{len(manifest.tables)} tables, {sum(manifest.tables.values())} rows"
        )
        if verify if verify is not None else self.cfg.verify:
            manifest.verification = verifying.verify(
                self.docker,
                target.container.attrs["Config"]["Image"],
                path,
                manifest,
                target.user,
                self.cfg.timeout,
                self.say,
            )
            manifest.write(path)
            if not manifest.verified:
                raise BackupError(
                    f"backup `{manifest.id}` failed verification: {manifest.verification['detail']}",
                    hint="it is kept, marked failed, and never counts for retention; nothing was pruned",
                )
        pruned = self.prune(dry_run=False, locked=True) if prune and manifest.verified else []
        return BackupResult(manifest, path, pruned)

    def verify(self, ref: str | None) -> Manifest:
        with self.lock("verify a backup"):
            m = self.find(ref) if ref else self.manifests()[-1] if self.manifests() else self.find(None)
            path = self.root / m.id
            image = m.images.get(postgres.SERVICE) or self.settings.images.postgres.local
            user = self._user()
            m.verification = verifying.verify(self.docker, image, path, m, user, self.cfg.timeout, self.say)
            m.write(path)
            return m

    def _user(self) -> str:
        if self._target is not None:
            return self._target.user
        return envfile.read(self.project.env_file).get("POSTGRES_USER", "litellm")

    def prune(self, dry_run: bool, locked: bool = False) -> list[str]:
        if not locked:
            with self.lock("prune backups"):
                return self.prune(dry_run, locked=True)
        plan = retention.plan(self.manifests(), self.policy())
        if not dry_run:
            for bid in plan.delete:
                shutil.rmtree(self.root / bid, ignore_errors=True)
        return plan.delete

    def listing(self) -> list[dict[str, Any]]:
        ms = self.manifests()
        plan = retention.plan(ms, self.policy())
        rows = []
        for m in ms:
            size = sum(f["size"] for f in m.files.values())
            rows.append(
                {
                    "id": m.id,
                    "created_at": m.created_at,
                    "size": size,
                    "verified": m.verification.get("status"),
                    "rows": sum(m.tables.values()),
                    "kept_by": plan.keep.get(m.id, []),
                    "pruned_next": m.id in plan.delete,
                }
            )
        return rows

    def last_verified_age(self) -> float | None:
        ok = [m for m in self.manifests() if m.verified]
        if not ok:
            return None
        created = dt.datetime.fromisoformat(ok[-1].created_at)
        return (dt.datetime.now(dt.UTC) - created).total_seconds()

    def max_age(self) -> float:
        """How old the last verified backup may be: one schedule interval plus the slack
        (`monitoring.thresholds.backup_slack_hours`)."""
        from gwops.schedule import interval_seconds

        return interval_seconds(self.cfg.schedule) + 3600 * self.settings.monitoring.thresholds.backup_slack_hours
