"""Stream a plain pg_dump out of a Postgres container into `DIR.partial/`, then publish it.

The dump is never buffered: each chunk from the exec stream is counted (rows per table),
compressed (zstd) and hashed (sha256) on the way to disk. The partial directory is fsynced and
renamed into place only when pg_dump exited 0 and the dump carries its completion trailer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zstandard

from gwops.backup.manifest import DUMP, GLOBALS, Manifest
from gwops.backup.stream import CopyCounter
from gwops.errors import BackupError, PostgresAuthError
from gwops.poll import Timeout, poll


@dataclass
class Target:
    """The database to back up: a running container plus the credentials of its owner."""

    container: Any  # docker SDK Container
    user: str
    database: str
    password: str
    service: str = "postgres"

    @classmethod
    def from_container(cls, container: Any, password: str | None = None, service: str = "postgres") -> Target:
        env = dict(e.split("=", 1) for e in container.attrs["Config"].get("Env") or [] if "=" in e)
        user = env.get("POSTGRES_USER", "postgres")
        return cls(
            container,
            user,
            env.get("POSTGRES_DB", user),
            password if password is not None else env.get("POSTGRES_PASSWORD", ""),
            service,
        )

    def env(self, timeout: float) -> dict[str, str]:
        # over TCP with the password: a wrong password fails here, as it would for the gateway
        return {
            "PGPASSWORD": self.password,
            "PGCONNECT_TIMEOUT": str(max(1, int(timeout))),
            "PGHOST": "127.0.0.1",
            "PGUSER": self.user,
            "PGDATABASE": self.database,
        }


def exec_stream(
    container: Any, cmd: list[str], env: dict[str, str]
) -> tuple[Iterator[tuple[bytes | None, bytes | None]], Callable[[], int]]:
    """Run `cmd` in `container`; return a (stdout, stderr) chunk iterator and an exit-code getter."""
    api = container.client.api
    ex = api.exec_create(container.id, cmd, environment=env, stdout=True, stderr=True)
    stream = api.exec_start(ex["Id"], stream=True, demux=True)

    def exit_code() -> int:
        return int(api.exec_inspect(ex["Id"]).get("ExitCode") or 0)

    return stream, exit_code


def run(container: Any, cmd: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    stream, code = exec_stream(container, cmd, env)
    out, err = bytearray(), bytearray()
    for o, e in stream:
        out += o or b""
        err += e or b""
    return code(), out.decode(errors="replace"), err.decode(errors="replace")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_reachable(target: Target, timeout: float) -> str:
    """Fail within `timeout` with a clear message unless the database answers; return its version."""
    if target.container.status != "running":
        target.container.reload()
    if target.container.status != "running":
        raise BackupError(
            f"service `{target.service}` is not running (state: {target.container.status})",
            hint="start the stack with `bin/ops up`, then retry",
        )
    last = "no answer"

    def attempt() -> str | None:
        nonlocal last
        code, out, err = run(target.container, ["psql", "-X", "-At", "-c", "SHOW server_version"], target.env(timeout))
        if code == 0:
            return out.strip()
        last = ((err or out).strip().splitlines() or ["no answer"])[-1]
        refused = PostgresAuthError.from_output(last, target.user, target.database)
        if refused:
            raise refused
        if "no password supplied" in last:
            raise BackupError(
                f"service `{target.service}` refused the credentials: {last}",
                hint="check POSTGRES_USER / POSTGRES_PASSWORD in `.env` against the database",
            )
        return None

    try:
        return poll(attempt, timeout, 0.5)
    except Timeout:
        raise BackupError(
            f"service `{target.service}` did not answer within {timeout:.0f} s: {last}",
            hint="check `bin/ops status` and `bin/ops logs postgres`",
        ) from None


def dump(
    target: Target, root: Path, seq: int, images: dict[str, str], level: int, timeout: float, say: Callable[[str], None]
) -> tuple[Manifest, Path]:
    """Write one backup into `root/ID.partial/` and publish it as `root/ID/`."""
    t0 = time.monotonic()
    server = check_reachable(target, timeout)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    bid = f"{now:%Y%m%dT%H%M%SZ}-{seq:06d}"
    partial = root / f"{bid}.partial"
    final = root / bid
    partial.mkdir(parents=True, mode=0o700)
    try:
        manifest = Manifest(
            id=bid, seq=seq, created_at=now.isoformat(), database=target.database, server_version=server, images=images
        )
        _, ver, _ = run(target.container, ["pg_dump", "--version"], {})
        manifest.pg_dump_version = ver.strip()
        _globals(target, partial / GLOBALS, timeout, manifest)
        say(f"dumping database `{target.database}` from `{target.service}`")
        _stream_dump(target, partial / DUMP, level, timeout, manifest)
        manifest.duration_seconds = round(time.monotonic() - t0, 3)
        manifest.write(partial)
        _fsync_dir(partial)
        os.rename(partial, final)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return manifest, final


def _write_file(path: Path) -> Any:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(fd, "wb")


def _disk_error(exc: OSError, path: Path) -> BackupError:
    return BackupError(
        f"writing `{path}` failed: {exc.strerror or exc}",
        hint="free space in the backup directory (`backups.dir` in config/stack.yaml); "
        "nothing was published and earlier backups are untouched",
    )


def _globals(target: Target, path: Path, timeout: float, manifest: Manifest) -> None:
    code, out, err = run(target.container, ["pg_dumpall", "--globals-only", "--no-password"], target.env(timeout))
    if code != 0:
        raise BackupError(
            f"pg_dumpall --globals-only failed (exit {code}): {err.strip()[-300:]}",
            hint="check `bin/ops logs postgres`",
        )
    data = out.encode()
    try:
        with _write_file(path) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise _disk_error(exc, path) from exc
    manifest.files[GLOBALS] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def _stream_dump(target: Target, path: Path, level: int, timeout: float, manifest: Manifest) -> None:
    counter = CopyCounter()
    sha = hashlib.sha256()
    raw = 0
    errors = bytearray()
    # pg_dump gzips (level 1) inside the container: the exec stream out of Docker 20.10 carries
    # about 50 MB/s, so shipping the raw SQL would make it the bottleneck. Here it is inflated,
    # counted, and recompressed with zstd on the way to disk (one thread: as fast here, and flat memory).
    stream, exit_code = exec_stream(
        target.container, ["pg_dump", "--no-password", "--format=plain", "-Z", "1"], target.env(timeout)
    )
    inflate = zlib.decompressobj(wbits=31)
    cctx = zstandard.ZstdCompressor(level=level, threads=0)
    try:
        with _write_file(path) as fh:

            class _Hashing:
                def write(self, b: bytes) -> int:
                    sha.update(b)
                    return fh.write(b)

            with cctx.stream_writer(_Hashing(), closefd=False) as z:
                for out, err in stream:
                    if out:
                        try:
                            sql = inflate.decompress(out)
                        except zlib.error as exc:
                            raise BackupError(f"the dump stream from pg_dump is corrupt: {exc}") from exc
                        raw += len(sql)
                        counter.feed(sql)
                        z.write(sql)
                    if err:
                        errors += err[-2000:]
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise _disk_error(exc, path) from exc
    code = exit_code()
    if code != 0 or not counter.complete:
        why = errors.decode(errors="replace").strip()[-400:] or "the dump ended early"
        raise BackupError(
            f"pg_dump of `{target.database}` failed (exit {code}): {why}",
            hint="nothing was published; check `bin/ops logs postgres` and retry",
        )
    manifest.files[DUMP] = {"sha256": sha.hexdigest(), "size": path.stat().st_size}
    manifest.raw_size = raw
    manifest.tables = dict(sorted(counter.counts.items()))
