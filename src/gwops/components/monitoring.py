"""What the monitoring components share: they are on with `monitoring.enabled` (config/stack.yaml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gwops.errors import OpsError

if TYPE_CHECKING:
    from gwops.settings import StackSettings
    from gwops.stack import Stack


def enabled(settings: StackSettings) -> bool:
    return settings.monitoring.enabled


def host(bind: str) -> str:
    """Where the host reaches a port published on `bind`."""
    return "127.0.0.1" if bind in ("0.0.0.0", "") else bind


def reload_config(stack: Stack, service: str, port: int, check: list[str]) -> None:
    """New files into a running Prometheus or Alertmanager without a restart: `check` (promtool,
    amtool) inside the container first (a bad file leaves the running config in place), then
    its reload endpoint."""
    from gwops.health import http_request

    code, out = stack.docker.exec(service, check)
    if code != 0:
        raise OpsError(f"{service}'s new config is refused by `{check[0]}`: {out.strip()[-400:]}",
                       hint="the running config stays in place; fix `monitoring:` in config/stack.yaml and run `bin/ops up`")
    url = f"http://{host(stack.settings.monitoring.bind)}:{port}/-/reload"
    try:
        status, text = http_request(url, 10, body={})
    except OSError as exc:
        raise OpsError(f"{service}'s reload endpoint did not answer: {exc}", hint=f"`bin/ops logs {service}`") from None
    if status != 200:
        raise OpsError(f"{service} refused the reload: HTTP {status}: {text[:300]}", hint=f"`bin/ops logs {service}`")
    stack.say(f"{service}: new config loaded (no restart)")
