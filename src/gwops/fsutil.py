"""Atomic, durable file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from gwops.errors import OpsError


def atomic_write(path: Path, data: str | bytes, mode: int = 0o644) -> bool:
    """Write `data` to `path` atomically. Returns False (and writes nothing) if unchanged."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        if path.exists() and path.read_bytes() == raw:
            if (path.stat().st_mode & 0o777) != mode:
                os.chmod(path, mode)
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise OpsError(
            f"could not write `{path}`: {exc.strerror or exc}",
            hint="check free disk space and permissions; the previous file was left as it was",
        ) from exc
    return True
