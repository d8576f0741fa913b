"""Backups against real Postgres containers seeded with LiteLLM's real schema."""

from __future__ import annotations

import os
import secrets
import subprocess
import threading
import time
from pathlib import Path

import pytest

from gwops.backup.dump import Target, run
from gwops.backup.manifest import load_all
from gwops.backup.service import Backups
from gwops.backup.verify import load_dump, wait_ready
from gwops.docker import Docker
from gwops.errors import BackupError, LockedError, PostgresAuthError
from gwops.project import Project
from gwops.settings import BackupSettings as BackupSettings
from gwops.settings import StackSettings
from tests import pgseed
from tests.conftest import unique

pytestmark = pytest.mark.integration
USER, DB = "litellm", "litellm"


@pytest.fixture
def pg(local_images):
    import docker

    sdk = docker.from_env()
    pw = secrets.token_urlsafe(24)
    c = sdk.containers.run(
        local_images["postgres"],
        detach=True,
        name=unique("gwops-test-pg"),
        environment={"POSTGRES_PASSWORD": pw, "POSTGRES_USER": USER, "POSTGRES_DB": DB},
    )
    try:
        wait_ready(c, USER, DB, 60)
        pgseed.apply_schema(c, USER, DB)
        yield c, pw
    finally:
        c.remove(force=True, v=True)


def make(tmp_path: Path, target: Target, backup_dir: Path | None = None, timeout: float = 10) -> Backups:
    settings = StackSettings(backups=BackupSettings(dir=str(backup_dir or tmp_path / "backups"), timeout=timeout))
    project = Project(tmp_path)
    return Backups(project, settings, Docker(project, unique("gwops-test")), lambda m: None, target=target)


def published(b: Backups) -> list[str]:
    return [m.id for m in load_all(b.root)]


def test_backup_restores_every_table_exactly(pg, tmp_path, local_images):
    c, pw = pg
    pgseed.seed_rows(c, USER, DB, 2000)
    b = make(tmp_path, Target(c, USER, DB, pw))
    res = b.backup()
    m = res.manifest
    assert m.verified, m.verification
    assert m.tables['public."LiteLLM_SpendLogs"'] == 2000 and m.tables['public."LiteLLM_VerificationToken"'] == 25
    assert len(m.tables) > 50  # the whole LiteLLM schema, empty tables included
    assert oct(os.stat(res.path / "dump.sql.zst").st_mode & 0o777) == "0o600"

    import docker

    fresh = docker.from_env().containers.run(
        local_images["postgres"],
        detach=True,
        network_mode="none",
        environment={"POSTGRES_PASSWORD": "x" * 30, "POSTGRES_USER": USER, "POSTGRES_DB": DB},
    )
    try:
        wait_ready(fresh, USER, DB, 60)
        load_dump(fresh, res.path, m, USER, DB, {})
        assert pgseed.table_digests(fresh, USER, DB) == pgseed.table_digests(c, USER, DB)
    finally:
        fresh.remove(force=True, v=True)


def test_pg_dump_killed_mid_stream_publishes_nothing(pg, tmp_path):
    c, pw = pg
    b = make(tmp_path, Target(c, USER, DB, pw))
    good = b.backup().manifest.id
    pgseed.seed_rows(c, USER, DB, 300_000)
    errors: list[BaseException] = []

    def go():
        try:
            b.backup()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    t = threading.Thread(target=go)
    t.start()
    kill = (
        "for p in /proc/[0-9]*; do grep -qa '^pg_dump' $p/cmdline 2>/dev/null && "
        "kill -9 ${p#/proc/} && echo killed; done"
    )
    deadline = time.monotonic() + 60
    killed = False
    while not killed and time.monotonic() < deadline and t.is_alive():
        parts = list(b.root.glob("*.partial/dump.sql.zst"))
        if parts and parts[0].stat().st_size > 0:
            killed = "killed" in run(c, ["sh", "-c", kill], {})[1]
    t.join(120)
    assert killed, "pg_dump finished before it could be killed"
    assert len(errors) == 1 and isinstance(errors[0], BackupError) and "pg_dump" in errors[0].message
    assert published(b) == [good] and not list(b.root.glob("*.partial"))


def test_full_disk_publishes_nothing(pg, tmp_path):
    c, pw = pg
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(small)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here") if not os.environ.get("CI") else pytest.fail("mount failed")
    try:
        b = make(tmp_path, Target(c, USER, DB, pw), backup_dir=small / "backups")
        good = b.backup().manifest.id
        pgseed.seed_rows(c, USER, DB, 100_000)
        with pytest.raises(BackupError) as info:
            b.backup()
        assert "No space left" in info.value.message and "free space" in (info.value.hint or "")
        assert published(b) == [good] and not list(b.root.glob("*.partial"))
    finally:
        subprocess.run(["umount", str(small)])


def test_database_down_fails_fast_with_a_clear_message(pg, tmp_path):
    c, pw = pg
    b = make(tmp_path, Target(c, USER, DB, pw), timeout=3)
    c.stop(timeout=5)
    t0 = time.monotonic()
    with pytest.raises(BackupError) as info:
        b.backup()
    assert time.monotonic() - t0 < 15
    assert "`postgres` is not running" in info.value.message
    assert published(b) == []


def test_wrong_password_is_refused_clearly(pg, tmp_path):
    c, _ = pg
    b = make(tmp_path, Target(c, USER, DB, "not-the-password-at-all"))
    with pytest.raises(PostgresAuthError) as info:
        b.backup()
    assert "postgres rejects the password in `.env`" in info.value.message
    assert 'password authentication failed for user "litellm"' in info.value.message
    assert "POSTGRES_PASSWORD" in info.value.hint and info.value.exit_code == 4
    assert published(b) == [] and not list(b.root.glob("*.partial"))


def test_second_run_and_restore_exit_at_once_while_a_backup_runs(pg, tmp_path):
    c, pw = pg
    b = make(tmp_path, Target(c, USER, DB, pw))
    with b.lock("take a backup"):
        t0 = time.monotonic()
        with pytest.raises(LockedError):
            b.backup()
        from gwops.backup.restore import restore

        with pytest.raises(LockedError):
            restore(b, "latest", lambda: None, lambda: None, lambda m: None)
        assert time.monotonic() - t0 < 2
