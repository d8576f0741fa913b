"""The LiteLLM gateway: each config version runs in a slot (blue or green) as `gateway.replicas`
containers behind the proxy. Its gate: the proxy has every replica of the active slot in rotation,
then readiness and one completion per route through the public port (`gate_slot`). Here too: its
database wiring and migrations, its standbys, and its stop and start around a restore. Reloads
(gwops.reload) are about this service."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gwops import envfile, slots
from gwops.components import wheels
from gwops.components.base import Component, GateContext, MetricsTarget
from gwops.components.postgres import SERVICE as POSTGRES
from gwops.components.postgres import client_env
from gwops.constants import SLOTS
from gwops.docker import IMAGE_LABEL
from gwops.errors import OpsError
from gwops.health import Health
from gwops.pins import LITELLM_VERSION
from gwops.routecheck import RouteChecks

if TYPE_CHECKING:
    from gwops.components.base import BuildContext, ImageChoice, StackContext
    from gwops.docker import ComposeModel
    from gwops.settings import StackSettings

__all__ = ["LITELLM_VERSION", "SLOTS"]
SERVICE = "gateway"  # the image and settings key; its compose services are gateway-<slot>
METRICS_PORT = 9400  # the metrics process in each replica (not published)
ADAPTER = "prisma_adapter"  # the local image's database engine (image/prisma_adapter/engine.mjs)
NO_DB_REASON = (
    "LiteLLM's database features (virtual keys, teams, budgets, spend) are off: "
    "`database.enabled: false` in config/stack.yaml (the master key only)"
)
# which engine serves LiteLLM's database client, by the image kind (the local image says so itself)
DB_ENGINES = {
    "wasm-adapter": "Prisma's WASM engine through the gwops adapter (local image)",
    "": "Prisma's native engine (official image)",
}


def service(slot: str) -> str:
    return f"{SERVICE}-{slot}"


def services(active: str) -> tuple[list[str], list[str]]:
    return [service(active)], [service(s) for s in SLOTS if s != active]


def waits_for_config(choices: list[ImageChoice]) -> bool:
    """The local image, whose entry imports LiteLLM and waits while its slot has no config (the
    official image's `litellm` would exit without one)."""
    return any(c.service == SERVICE and c.kind == "local" for c in choices)


def standby_wanted(settings: StackSettings, choices: list[ImageChoice]) -> bool:
    """Whether the idle slot waits as a standby: `gateway.standby` and an image that waits."""
    return settings.gateway.standby and waits_for_config(choices)


def image_of(choices: list[ImageChoice]) -> str | None:
    """The image both slots run."""
    return next((c.image for c in choices if c.service == SERVICE), None)


def running_version(container: Any) -> str | None:
    """The LiteLLM release a gateway container runs: the local image says so in its environment,
    the official one in its tag (`v1.2.3`)."""
    config = container.attrs.get("Config") or {}
    for e in config.get("Env") or []:
        if e.startswith("LITELLM_VERSION="):
            return e.split("=", 1)[1]
    tag = str(config.get("Image", "")).rpartition(":")[2]
    return tag[1:] if re.fullmatch(r"v\d+\.\d+\.\d+\S*", tag) else None


def database_wired(settings: StackSettings) -> bool:
    """LiteLLM's database features: on with either gateway image unless `database.enabled: false`."""
    return settings.database.enabled


def start_standby(stack: StackContext, slot: str) -> None:
    """The slot's replicas started with no config: each imports LiteLLM and waits (see
    gwops_entry.py). At the start CPU weight and under `gateway.standby_cpus`: they take little CPU,
    and only CPU nobody else wants (a reload raises the limit to `gateway.start_cpus`). Not waited for."""
    svc = service(slot)
    slots.disarm(stack.project, slot)
    stack.docker.compose_up([svc], start=False)
    stack.docker.set_cpu(svc, stack.settings.gateway.start_cpu_weight, stack.settings.gateway.standby_cpus)
    stack.docker.start(svc)


def status_row(stack: StackContext, row: dict) -> None:
    """Each slot's role: `serving` (the active one), `standby` (LiteLLM loaded, waiting for the
    next reload's config: its health reads `standby`) or `starting` (a reload is handing it one)."""
    slot = row["service"].removeprefix(f"{SERVICE}-")
    if slot == slots.load(stack.project).active:
        row["role"] = "serving"
        if row["state"] == "running" and row["health"] == "starting":  # Docker's first checks lag: the proxy's decide
            total = row["total"]
            try:
                up = stack.proxy.stats().get(slot)
            except OpsError:  # the proxy is stopped or restarting: Docker's view stands
                return
            if up is not None and up.up >= total:
                row["health"], row["ready"], row["replicas"] = "healthy", total, f"{total}/{total}"
    elif row["state"] == "running":
        row["role"] = "starting" if slots.armed(stack.project, slot) else "standby"
        if row["role"] == "standby" and row["health"] in ("healthy", "starting"):
            row["health"] = "standby"


def gate(ctx: GateContext, svc: str) -> None:
    if svc == service(ctx.active):  # the idle slot is not started by `up`
        gate_slot(ctx.stack, ctx.health, ctx.active, ctx.master_key, ctx.routes)


def gate_slot(stack: StackContext, health: Health, slot: str, master_key: str, routes: RouteChecks) -> None:
    """The slot behind the proxy: the proxy sees it up and routes to it, then a real readiness
    request and one completion per route through the public port."""
    gw = stack.settings.gateway
    stack.proxy.wait_up(slot, gw.ready_timeout, gw.replicas)
    if stack.proxy.active() != slot:
        stack.proxy.switch(slot)
    health.gateway(stack.url, master_key, routes, gw.ready_timeout, gw.route_check_timeout, service=service(slot))


def migrate(stack: StackContext, image: str | None) -> None:
    """LiteLLM's migrations the gateway `image` ships that the database lacks, applied as a step
    of their own (gwops.migrations). Raises MigrationError (exit 4) naming the migration."""
    from gwops import migrations

    if image is None:
        raise OpsError("no gateway image was chosen: its migrations are unknown", hint="`bin/ops images` lists them")
    cache = stack.project.state_dir / "cache"
    found = migrations.bundled(stack.docker, image, cache)
    indexes = migrations.bundled_indexes(stack.docker, image, cache)
    pg_env = client_env(envfile.read(stack.project.env_file))
    timeout = stack.settings.database.migrate_timeout
    stack.say(migrations.apply(stack.docker, POSTGRES, pg_env, found, timeout, indexes).line())


def keep_standby(
    stack: StackContext, st: slots.SlotState, model: ComposeModel, found: list[Any], choices: list[ImageChoice]
) -> None:
    """The idle slot's replicas (`found`) wait as standbys for the next reload (`gateway.standby`),
    or are not there at all. Not waited for: they import LiteLLM at the start CPU weight."""
    svc = service(st.idle)
    try:
        if not standby_wanted(stack.settings, choices):
            if found:
                stack.docker.compose_rm([svc])
            return
        if slots.armed(stack.project, st.idle) or not stack.docker.up_to_date(svc, found, model, image_of(choices)):
            stack.say(f"starting slot `{st.idle}` as a standby for the next reload (not waited for)")
            start_standby(stack, st.idle)
    except OpsError as exc:  # the next reload starts cold: not a reason `up` fails
        stack.say(f"warning: slot `{st.idle}`'s standby did not start ({exc.message}); the next reload starts it cold")


def stop(stack: StackContext) -> None:
    """Every replica of the serving slot (a standby writes nothing: it has no config)."""
    for c in stack.docker.replicas(service(slots.load(stack.project).active)):
        if c.status == "running":
            c.stop(timeout=90)


def start(stack: StackContext) -> None:
    """Start the serving slot again, gated on health (readiness; no route checks); a restored
    older backup first gets the migrations its gateway expects."""
    st = slots.load(stack.project)
    svc = service(st.active)
    image = next((c.labels.get(IMAGE_LABEL) for c in stack.docker.replicas(svc)), None)
    if image and database_wired(stack.settings):
        migrate(stack, image)
    stack.docker.compose_up([svc])
    health = Health(stack.docker, stack.say, stack.settings.health.service_timeout)
    health.container(svc)
    key = envfile.read(stack.project.env_file).get("LITELLM_MASTER_KEY", "")
    gate_slot(stack, health, st.active, key, RouteChecks())


def build_args(settings: StackSettings) -> dict[str, str]:
    return {"LITELLM_VERSION": settings.images.litellm_version}


def lock_file(config_dir: Path, version: str) -> Path:
    """The lock the local image of LiteLLM `version` installs: every wheel with its SHA-256."""
    return config_dir / "locks" / f"litellm-{version}.txt"


def ensure_lock(images: BuildContext, version: str) -> tuple[Path, Path | None]:
    """The lock of `version`; made the first time from what the package index resolves today
    (returned with the folder it was made from, else None)."""
    lock = lock_file(images.project.config_dir, version)
    if lock.exists():
        return lock, None
    found = wheels.download(
        images,
        "litellm",
        COMPONENT.image_dir / "requirements.txt",
        [f"litellm[proxy]=={version}"],
        what=f"LiteLLM {version}",
    )
    n = wheels.write_lock(
        found,
        lock,
        f"LiteLLM {version} in the local gateway image (Python 3.11, x86_64): every wheel pinned with its\n"
        "SHA-256, as the package index served them when this lock was made (`bin/ops images build gateway`\n"
        "or `bin/ops upgrade`). The image installs exactly these (`pip install --require-hashes`).",
    )
    images.say(
        f"wrote {images.project.display(lock)}: {n} wheels pinned with their hashes; keep it with your config "
        "(commit it): every later build installs exactly these"
    )
    return lock, found


def build_inputs(images: BuildContext) -> list[Path]:
    return [lock_file(images.project.config_dir, images.settings.images.litellm_version)]


def build_context(images: BuildContext) -> Path:
    """image/ plus LiteLLM's wheels as its lock pins them (config/locks/, made once per version;
    downloaded by the host) and the database adapter's npm packages (once per lock file) in
    prisma_adapter/node_modules."""
    version = images.settings.images.litellm_version
    lock, made_from = ensure_lock(images, version)
    found = wheels.download_locked(images, "litellm", lock, f"LiteLLM {version}", seed=made_from)
    modules = wheels.npm_ci(
        images,
        "prisma-adapter",
        COMPONENT.image_dir / ADAPTER,
        what="Prisma's WASM query engine and the adapter's packages",
    )
    ctx = wheels.context(images, "litellm", COMPONENT.image_dir, found)
    shutil.copy2(lock, ctx / "wheels" / "lock.txt")
    wheels.link_tree(modules, ctx / ADAPTER / "node_modules")
    return ctx


COMPONENT = Component(
    name=SERVICE,
    package=__name__,
    description="LiteLLM gateway (blue/green slots, replicas)",
    services=services,
    gate=gate,
    status_row=status_row,
    build_args=build_args,
    build_context=build_context,
    build_inputs=build_inputs,
    # the workers' metrics from their own process (`--prometheus_metrics_port`, see the compose
    # fragment), with the master key (from a file: see the prometheus component); LiteLLM's own
    # server answers /metrics with a redirect there
    metrics=MetricsTarget("gateway", METRICS_PORT, path="/metrics/", gateway_key=True),
)
