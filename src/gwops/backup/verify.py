"""Prove a backup restorable: checksums, then a restore into a throwaway Postgres container of
the same image (no network), then per-table row counts compared with the manifest."""

from __future__ import annotations

import hashlib
import secrets
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zstandard

from gwops.backup.dump import run
from gwops.backup.manifest import DUMP, Manifest
from gwops.errors import BackupError
from gwops.poll import Timeout, poll

if TYPE_CHECKING:
    from gwops.docker import Docker

CHUNK = 1 << 20
READY_MARK = b"PostgreSQL init process complete"


def check_files(directory: Path, manifest: Manifest) -> None:
    for name, meta in manifest.files.items():
        path = directory / name
        if not path.exists():
            raise BackupError(f"backup `{manifest.id}`: file `{name}` is missing", hint="this backup cannot be used")
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(CHUNK), b""):
                h.update(block)
        if h.hexdigest() != meta["sha256"] or path.stat().st_size != meta["size"]:
            raise BackupError(
                f"backup `{manifest.id}`: `{name}` does not match its checksum",
                hint="the file was changed or damaged; use another backup",
            )


def tar_of_dump(directory: Path, manifest: Manifest, name: str = "restore.sql") -> Iterator[bytes]:
    """A tar stream holding the decompressed dump, generated chunk by chunk (flat memory)."""
    info = tarfile.TarInfo(name)
    info.size = manifest.raw_size
    info.mode = 0o644
    yield info.tobuf(format=tarfile.GNU_FORMAT)
    sent = 0
    with (directory / DUMP).open("rb") as fh, zstandard.ZstdDecompressor().stream_reader(fh) as z:
        for block in iter(lambda: z.read(CHUNK), b""):
            sent += len(block)
            yield block
    if sent != manifest.raw_size:
        raise BackupError(
            f"backup `{manifest.id}`: the dump decompresses to {sent} bytes, the manifest says {manifest.raw_size}",
            hint="use another backup",
        )
    pad = (-sent) % tarfile.BLOCKSIZE
    yield b"\0" * pad + b"\0" * (2 * tarfile.BLOCKSIZE)


def load_dump(
    container: Any, directory: Path, manifest: Manifest, user: str, database: str, env: dict[str, str]
) -> None:
    """Copy the dump into `container` and run it with psql, stopping at the first error."""
    if not container.put_archive("/tmp", tar_of_dump(directory, manifest)):
        raise BackupError("copying the dump into the restore container failed")
    code, out, err = run(
        container,
        [
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "--single-transaction",
            "-U",
            user,
            "-d",
            database,
            "-f",
            "/tmp/restore.sql",
        ],
        env,
    )
    run(container, ["rm", "-f", "/tmp/restore.sql"], {})
    if code != 0:
        raise BackupError(f"restoring backup `{manifest.id}` failed (psql exit {code}): {(err or out).strip()[-400:]}")


def count_rows(container: Any, tables: list[str], user: str, database: str, env: dict[str, str]) -> dict[str, int]:
    if not tables:
        return {}
    sql = " UNION ALL ".join(f"SELECT $gwops${t}$gwops$, count(*) FROM {t}" for t in tables)
    code, out, err = run(container, ["psql", "-X", "-At", "-F", "\t", "-U", user, "-d", database, "-c", sql], env)
    if code != 0:
        raise BackupError(f"counting rows failed: {err.strip()[-300:]}")
    counts = {}
    for line in out.splitlines():
        name, _, n = line.rpartition("\t")
        counts[name] = int(n)
    return counts


def compare(expected: dict[str, int], got: dict[str, int]) -> list[str]:
    return [f"{t}: manifest {n}, restored {got.get(t)}" for t, n in expected.items() if got.get(t) != n]


def verify(
    docker: Docker,
    image: str,
    directory: Path,
    manifest: Manifest,
    user: str,
    timeout: float,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Restore into a throwaway container (no network) and compare row counts; never raises for
    a bad backup, returns the verification record instead."""
    t0 = time.monotonic()
    container = None
    try:
        check_files(directory, manifest)
        say(f"verifying `{manifest.id}`: restoring into a throwaway {image} container (no network)")
        container = docker.run_detached(
            image,
            labels={"gwops.role": "backup-verify"},
            environment={
                "POSTGRES_PASSWORD": secrets.token_urlsafe(24),
                "POSTGRES_USER": user,
                "POSTGRES_DB": manifest.database,
            },
            tmpfs={"/var/lib/postgresql/data": "rw"},
        )
        wait_ready(container, user, manifest.database, timeout)
        load_dump(container, directory, manifest, user, manifest.database, {})
        got = count_rows(container, list(manifest.tables), user, manifest.database, {})
        diffs = compare(manifest.tables, got)
        status = "failed" if diffs else "verified"
        detail = "; ".join(diffs[:10]) if diffs else f"{len(got)} tables, {sum(got.values())} rows match"
    except BackupError as exc:
        status, detail = "failed", exc.message
    finally:
        if container is not None:
            container.remove(force=True, v=True)
    return {
        "status": status,
        "detail": detail,
        "seconds": round(time.monotonic() - t0, 3),
        "image": image,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def wait_ready(container: Any, user: str, database: str, timeout: float) -> None:
    """Past the image's init phase (its temporary server), then accepting connections."""

    def ready() -> bool | None:
        container.reload()
        if container.status == "exited":
            logs = container.logs(tail=20).decode(errors="replace")
            raise BackupError(f"the throwaway Postgres container exited: {logs[-400:]}")
        if READY_MARK not in container.logs():
            return None
        code, _, _ = run(container, ["pg_isready", "-q", "-U", user, "-d", database], {})
        return True if code == 0 else None

    try:
        poll(ready, max(timeout, 60), 0.25)
    except Timeout:
        raise BackupError("the throwaway Postgres container did not become ready") from None
