"""What the monitoring components share: they are on with `monitoring.enabled` (config/stack.yaml)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from gwops.errors import OpsError

if TYPE_CHECKING:
    from gwops.components.base import FilesContext, StackContext
    from gwops.settings import StackSettings


def enabled(settings: StackSettings) -> bool:
    return settings.monitoring.enabled


def host(bind: str) -> str:
    """Where the host reaches a port published on `bind`."""
    return "127.0.0.1" if bind in ("0.0.0.0", "") else bind


def reload_config(stack: StackContext, service: str, port: int, check: list[str]) -> None:
    """New files into a running Prometheus or Alertmanager without a restart: `check` (promtool,
    amtool) inside the container first (a bad file leaves the running config in place), then
    its reload endpoint."""
    from gwops.health import http_request

    code, out = stack.docker.exec(service, check)
    if code != 0:
        raise OpsError(
            f"{service}'s new config is refused by `{check[0]}`: {out.strip()[-400:]}",
            hint="the running config stays in place; fix `monitoring:` in config/stack.yaml and run `bin/ops up`",
        )
    url = f"http://{host(stack.settings.monitoring.bind)}:{port}/-/reload"
    try:
        status, text = http_request(url, 10, body={})
    except OSError as exc:
        raise OpsError(f"{service}'s reload endpoint did not answer: {exc}", hint=f"`bin/ops logs {service}`") from None
    if status != 200:
        raise OpsError(f"{service} refused the reload: HTTP {status}: {text[:300]}", hint=f"`bin/ops logs {service}`")
    stack.say(f"{service}: new config loaded (no restart)")


def duration(seconds: int) -> str:
    """A Prometheus duration as people write it (60 -> 1m), so rule texts read naturally."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def write_secret(ctx: FilesContext, rel: str, value: str) -> None:
    """A secret for a container, in a file under state/secrets/: that folder is 0700, so only its
    owner reaches it on the host; the file itself is 0644 for the container's user (nobody), and
    mounted alone. Rewritten in place: the container's mount follows the same file."""
    path = ctx.project.state_dir / rel
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    if not path.exists() or path.read_text() != value:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(fd, "w") as fh:
            fh.write(value)
    path.chmod(0o644)
