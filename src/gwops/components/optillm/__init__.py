"""The OptiLLM sidecar: runs the ensembles of config/model-mappings.yaml (`ensembles:`, see
gwops.config.ensembles) for the gateway. Off by default (`optillm.enabled` in config/stack.yaml).

The gateway calls it on the stack's network with its own client key (OPTILLM_CLIENT_KEY in
`.env`); it calls the gateway back only through the proxy's sidecar entrance (proxy:4001), which
adds the gateway's key (the sidecar never holds it) and refuses `opt-*` models. Its guard
(image/gwops_optillm.py) lets only the compiled selectors run, refuses approach choices by body
field or message tag, and calls upstream only the selectors' bases: the list is in
state/optillm/allow.json, rewritten whenever the gateway's live config versions change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from gwops import envfile
from gwops.components import wheels
from gwops.components.base import Component, GateContext
from gwops.config.ensembles import of_config
from gwops.errors import OpsError
from gwops.fsutil import atomic_write
from gwops.pins import OPTILLM_VERSION as VERSION

if TYPE_CHECKING:
    from gwops.components.base import BuildContext
    from gwops.project import Project
    from gwops.settings import StackSettings

SERVICE = "optillm"
ENTRANCE_PORT = 4001  # the proxy's sidecar entrance (not published)
ALLOW = "optillm/allow.json"  # under state/


def enabled(settings: StackSettings) -> bool:
    return settings.optillm.enabled


def follow_versions(project: Project, versions: list[Path]) -> bool:
    """The selectors of every live config version (both slots: requests in flight on the old one
    still run), for the sidecar's guard. True if the list changed."""
    selectors: dict[str, str] = {}
    for path in versions:
        try:
            selectors.update(of_config(yaml.safe_load(path.read_text()) or {}))
        except (OSError, yaml.YAMLError):
            continue
    path = project.state_dir / ALLOW
    changed = atomic_write(
        path, json.dumps({"selectors": dict(sorted(selectors.items()))}, indent=2) + "\n", mode=0o644
    )
    path.parent.chmod(0o755)  # read by the container's user
    return changed


def gate(ctx: GateContext, service: str) -> None:
    """The guard is on: a request for a model that is no ensemble is refused by the guard (403
    naming the allowed ones), with the client key from `.env`; no upstream call is made."""
    from gwops.health import http_request

    s = ctx.stack.settings.optillm
    host = "127.0.0.1" if s.bind in ("0.0.0.0", "") else s.bind
    key = envfile.read(ctx.stack.project.env_file).get("OPTILLM_CLIENT_KEY", "")
    try:
        status, text = http_request(
            f"http://{host}:{s.port}/v1/chat/completions",
            10,
            body={"model": "none-gwops-guard-check", "messages": [{"role": "user", "content": "ping"}]},
            headers={"Authorization": f"Bearer {key}"},
        )
    except OSError as exc:
        raise OpsError(f"{service}: no answer on {host}:{s.port}: {exc}", hint=f"`bin/ops logs {service}`") from None
    if status == 401:
        raise OpsError(
            f"{service} refuses the client key in .env (OPTILLM_CLIENT_KEY)",
            hint="run `bin/ops up` again: the sidecar is recreated with the key in .env",
        )
    if status != 403 or "gwops:" not in text:
        raise OpsError(
            f"{service}: its guard did not refuse a request for a model that is no ensemble "
            f"(HTTP {status}: {text[:200]})",
            hint=f"the image is not gwops' OptiLLM build: `bin/ops images build {SERVICE}`",
        )


def build_args(settings: StackSettings) -> dict[str, str]:
    return {"OPTILLM_VERSION": VERSION}


def build_context(images: BuildContext) -> Path:
    found = wheels.download(
        images,
        SERVICE,
        COMPONENT.image_dir / "requirements.txt",
        [],
        no_deps=(f"optillm=={VERSION}",),
        what=f"OptiLLM {VERSION}",
    )
    return wheels.context(images, SERVICE, COMPONENT.image_dir, found)


COMPONENT = Component(
    name=SERVICE,
    # OptiLLM's own proxy-only image, for reference: it lacks the guard (image/gwops_optillm.py),
    # so only the local build runs (`pull=False`)
    package=__name__,
    description="OptiLLM sidecar (ensembles)",
    core=False,
    enabled=enabled,
    gate=gate,
    build_args=build_args,
    build_context=build_context,
    follow_versions=follow_versions,
    pull=False,
    ports=lambda s: [(s.optillm.bind, s.optillm.port, "optillm.port")],
)
