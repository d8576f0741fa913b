"""The LiteLLM gateway: each config version runs in a slot (blue or green) as `gateway.replicas`
containers behind the proxy. Its gate: the proxy has every replica of the active slot in rotation,
then readiness and one completion per route through the public port (gwops.stack.gate_gateway).
Reloads (gwops.reload) are about this service."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gwops.components.base import Component, GateContext, MetricsTarget
from gwops.errors import OpsError

if TYPE_CHECKING:
    from gwops.images import Images
    from gwops.settings import StackSettings

SERVICE = "gateway"  # the image and settings key; its compose services are gateway-<slot>
SLOTS = ("blue", "green")
LITELLM_VERSION = "1.106.2"


def service(slot: str) -> str:
    return f"{SERVICE}-{slot}"


def services(active: str) -> tuple[list[str], list[str]]:
    return [service(active)], [service(s) for s in SLOTS if s != active]


def gate(ctx: GateContext, svc: str) -> None:
    if svc == service(ctx.active):  # the idle slot is not started by `up`
        ctx.stack.gate_gateway(ctx.health, ctx.active, ctx.master_key, ctx.routes)


def build_args(settings: StackSettings) -> dict[str, str]:
    return {"LITELLM_VERSION": settings.images.litellm_version}


def wheels(images: Images) -> Path:
    """Download LiteLLM and its dependencies as wheels on the host, once per version (containers
    cannot reach the Python package index)."""
    version = images.settings.images.litellm_version
    reqs = COMPONENT.image_dir / "requirements.txt"
    dest = images.cache / "wheels" / f"litellm-{version}-{hashlib.sha256(reqs.read_bytes()).hexdigest()[:8]}"
    stamp = dest / ".complete"
    if stamp.exists():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    images.log.parent.mkdir(parents=True, exist_ok=True)
    images.say(f"gateway: downloading LiteLLM {version} wheels for the image (about 30 s; log: {images.log})")
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q", "-d", str(dest),
           "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",
           "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_17_x86_64",
           "--platform", "manylinux_2_28_x86_64", "--platform", "any",
           f"litellm[proxy]=={version}", "-r", str(reqs)]
    with images.log.open("a") as fh:
        rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=1800, check=False).returncode
    if rc != 0:
        raise OpsError(f"downloading the LiteLLM {version} wheels failed (exit {rc})",
                       hint=f"read `{images.log}`; the host needs access to the Python package index")
    stamp.write_text("\n".join(sorted(p.name for p in dest.glob("*.whl"))) + "\n")
    return dest


def build_context(images: Images) -> Path:
    """image/ plus the wheels, hard-linked into a build folder under state/cache/."""
    found = wheels(images)
    ctx = images.cache / "build" / "litellm"
    shutil.rmtree(ctx, ignore_errors=True)
    shutil.copytree(COMPONENT.image_dir, ctx)
    (ctx / "wheels").mkdir()
    for whl in found.glob("*.whl"):
        try:
            os.link(whl, ctx / "wheels" / whl.name)
        except OSError:
            shutil.copy2(whl, ctx / "wheels" / whl.name)
    return ctx


COMPONENT = Component(
    name=SERVICE,
    official=f"ghcr.io/berriai/litellm:v{LITELLM_VERSION}",
    local=f"gwops/litellm:{LITELLM_VERSION}",
    package=__name__,
    description="LiteLLM gateway (blue/green slots, replicas)",
    services=services,
    gate=gate,
    build_args=build_args,
    build_context=build_context,
    # LiteLLM's /metrics, with the master key (from a file: see the prometheus component)
    metrics=MetricsTarget("gateway", 4000, path="/metrics/", gateway_key=True),  # /metrics redirects there
)
