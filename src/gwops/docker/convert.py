"""An error of the engine, Compose or the SDK as a DockerError: what failed, and the details."""

from __future__ import annotations

from gwops.errors import DockerError


def convert(exc: Exception, what: str) -> DockerError:
    cmd = getattr(exc, "docker_command", None)
    code = getattr(exc, "return_code", None)
    stderr = (getattr(exc, "stderr", None) or "").strip()
    stdout = (getattr(exc, "stdout", None) or "").strip()
    details = "\n".join(
        x
        for x in (
            f"command: {' '.join(cmd)}" if cmd else "",
            f"exit code: {code}" if code is not None else "",
            stderr[-3000:],
            stdout[-1000:] if not stderr else "",
        )
        if x
    )
    first = (stderr or stdout or str(exc)).strip().splitlines()
    return DockerError(
        f"{what} failed: {first[-1] if first else exc}",
        hint="see the details above; `bin/ops status` shows what is running",
        details=details or None,
    )
