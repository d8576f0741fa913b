"""`up` reads as its stages: preflight -> validate -> images -> render -> start by level (each
gated on health) -> apply a changed config with a zero-downtime reload -> monitoring and the
idle slot's standby -> report."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from gwops import components, metrics, routecheck, slots
from gwops.components import gateway, postgres, proxy
from gwops.components.base import GateContext, ImageChoice
from gwops.config import store
from gwops.docker import ComposeModel
from gwops.errors import OpsError, PrerequisiteError
from gwops.health import Gate, Health
from gwops.preflight import preflight_and_validate
from gwops.routecheck import RouteChecks
from gwops.stack import Containers, Stack, first, healthy


@dataclass
class UpReport:
    images: list[ImageChoice]
    levels: list[list[str]]
    gates: list[Gate]
    database: bool
    url: str
    routes: list[str]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    reloaded: bool = False
    problems: list[str] = field(default_factory=list)  # components that are not core and failed (monitoring)
    degraded: dict[str, str] = field(default_factory=dict)  # optional routes whose check failed -> why


def levels_of(compose_config: dict[str, Any]) -> list[list[str]]:
    """Services grouped by `depends_on` depth: each level needs only the ones before it."""
    services = compose_config.get("services", {})
    deps = {name: set((svc.get("depends_on") or {}).keys()) for name, svc in services.items()}
    levels: list[list[str]] = []
    done: set[str] = set()
    while len(done) < len(deps):
        ready = sorted(n for n, d in deps.items() if n not in done and d <= done)
        if not ready:
            raise PrerequisiteError(
                f"`depends_on` has a cycle among {sorted(set(deps) - done)}", hint="fix docker-compose.yml"
            )
        levels.append(ready)
        done |= set(ready)
    return levels


def is_core(service: str) -> bool:
    """Whether `up` gates a compose service before the gateway serves (its component is core)."""
    comp = components.of_service(service)
    return comp is None or comp.core


def gate_one(ctx: GateContext, svc: str, t0: float) -> Gate:
    """One compose service through its gates: the container's own healthcheck (every replica),
    then its component's application-level gate. Its time counts from `t0`."""
    comp = components.of_service(svc, ctx.active)
    ready = comp.ready_url(ctx.stack.settings) if comp else None
    ctx.health.container(svc, comp.hopeless if comp else None, ready=ready)
    if comp is not None and comp.gate is not None:
        comp.gate(ctx, svc)
    return Gate(svc, time.monotonic() - t0)


def problem_of(exc: OpsError) -> str:
    """A failure of a component that is not core, as one line: what failed and the next step."""
    return exc.message + (f" (next: {exc.hint})" if exc.hint else "")


def image_of(service: str, choices: list[ImageChoice]) -> str | None:
    """The image a compose service runs (both gateway slots run the gateway's)."""
    comp = components.of_service(service)
    return next((c.image for c in choices if comp is not None and c.service == comp.name), None)


def start(
    stack: Stack,
    st: slots.SlotState,
    master_key: str,
    routes: RouteChecks,
    model: ComposeModel,
    found: Containers,
    choices: list[ImageChoice],
    keep_active: bool = False,
) -> tuple[list[list[str]], list[Gate]]:
    """Start the services and gate them level by level (`depends_on` order): a level is gated
    only once every level before it passed. Services that `docker compose up` would leave as
    they are (`found` running, same config and image) are not passed to it: on a warm stack it
    does not run at all. Without the database wired, every level is started at once, one
    `compose up` each (one call would wait for `depends_on` conditions), and only the gates keep
    the order: the gateway connects to Redis when Redis comes up (checked with the local
    image), and starting it is the longest step. With the database wired, the migrations run
    once Postgres passed, and the gateway gets its config only after them: the local image's
    is started at once without it (it imports LiteLLM meanwhile, then waits), the official
    image's only then (a level starts once the one before it passed). The idle gateway slot is left alone,
    and so is the active one with `keep_active` (a reload replaces it)."""
    skip = {gateway.service(st.idle)} | ({gateway.service(st.active)} if keep_active else set())
    levels = [[s for s in lvl if s not in skip and is_core(s)] for lvl in levels_of(model.as_config())]
    levels = [lvl for lvl in levels if lvl]
    stale = [
        s
        for lvl in levels
        for s in lvl
        if not stack.docker.up_to_date(s, found.get(s, []), model, image_of(s, choices))
    ]
    health = Health(stack.docker, stack.say, stack.settings.health.service_timeout)
    if not stale and all(healthy(found.get(s, [])) for lvl in levels for s in lvl):
        # nothing to start and every container already healthy: every gate at once (each
        # still checks everything it checks; a failure is reported in level order)
        gates = gate_level(
            stack, health, [s for lvl in levels for s in lvl], st.active, master_key, routes, time.monotonic()
        )
        if gateway.database_wired(stack.settings):
            gateway.migrate(stack, gateway.image_of(choices))  # a restored older backup may lack some
        return levels, gates
    started: dict[int, float] = {}

    def launch(i: int) -> None:
        todo = [s for s in levels[i] if s in stale]
        if todo:
            stack.say(f"starting {', '.join(todo)}")
            stack.docker.compose_up(todo)
        started[i] = time.monotonic()

    database = gateway.database_wired(stack.settings)
    # With the database, a gateway starts only once the migrations ran. The local image's
    # waits for its slot's config: started at once without it, it imports LiteLLM (most of
    # its start) while Postgres starts and the migrations run, and takes the config after.
    early = database and gateway.waits_for_config(choices) and gateway.service(st.active) in stale
    if early:
        slots.disarm(stack.project, st.active)
    if not database or early:
        for i in range(len(levels)):
            launch(i)
    gates: list[Gate] = []
    for i, level in enumerate(levels):
        if i not in started:
            launch(i)
        gates += gate_level(stack, health, level, st.active, master_key, routes, started[i])
        if database and postgres.SERVICE in level:
            try:
                gateway.migrate(stack, gateway.image_of(choices))  # before any gateway serves (a later level)
            except OpsError:
                if early:  # its waiting replicas never had a config: stopped, as if never started
                    for c in stack.docker.replicas(gateway.service(st.active)):
                        c.stop(timeout=10)
                raise
            if early:
                slots.arm(stack.project, st.active, st.versions[st.active])
    return levels, gates


def gate_level(
    stack: Stack, health: Health, level: list[str], active: str, master_key: str, routes: RouteChecks, t0: float
) -> list[Gate]:
    """Every service of one level gated at once; each gate's time counts from `t0`, when its
    services were started. The first failure (in level order) is raised."""

    ctx = GateContext(stack, health, active, master_key, routes)
    with ThreadPoolExecutor(len(level)) as pool:
        futures = [pool.submit(gate_one, ctx, svc, t0) for svc in level]
        gates = [f.result() for f in futures]
    for g in gates:
        stack.say(f"{g.service}: healthy ({g.seconds:.1f} s)")
    return gates


def run(stack: Stack, route_checks: bool = True) -> UpReport:
    """Bring the stack up (see the module's doc); a changed config or gateway is applied with a
    zero-downtime reload."""
    t0 = time.monotonic()
    with stack.lock("bring the stack up"):
        st = slots.load(stack.project)
        env, compiled, found = preflight_and_validate(stack, st.active)
        choices = stack.images()
        for c in choices:
            stack.say(c.line())
        version = store.publish_version(stack.project, compiled.text)
        active = first(found, gateway.service(st.active))
        serving = bool(active is not None and active.status == "running" and st.version)
        if not serving:
            st.versions[st.active] = version
        front = first(found, proxy.SERVICE)
        proxy_id = front.id if front is not None and front.status == "running" else None
        proxy_changed = stack.render(compiled, choices, st)
        model = stack.docker.compose_model(stack.compose_version)
        database = gateway.database_wired(stack.settings)
        if not database:
            stack.say(gateway.NO_DB_REASON)
        checks = compiled.route_checks()
        routes = checks.names
        if not route_checks:
            checks = RouteChecks()
        # a serving gateway whose container Compose would recreate (new image, workers, provider
        # variables) is replaced the zero-downtime way, like a new config, not restarted in place
        respec = serving and stack.docker.would_recreate(gateway.service(st.active), active, model)
        files_changed = stack.write_files(env.values)
        if not serving or not (respec or slots.armed(stack.project, st.active)):
            slots.arm(stack.project, st.active, st.versions[st.active])
        levels, gates = start(
            stack, st, env.values["LITELLM_MASTER_KEY"], checks, model, found, choices, keep_active=respec
        )
        if not serving:
            st.went_live(st.active, version)
            slots.save(stack.project, st)
        front = stack.docker.container(proxy.SERVICE)
        if proxy_changed and proxy_id and front is not None and front.id == proxy_id:
            # still the container that read the old file: HAProxy's own graceful reload
            stack.say("the proxy's configuration changed: reloading it (open connections are kept)")
            stack.proxy.reload_config(stack.settings.health.service_timeout)
        reloaded = False
        if serving and (st.version != version or respec):
            what = (
                f"the config changed ({st.version} -> {version})"
                if st.version != version
                else "the gateway's image or settings changed"
            )
            stack.say(f"{what}: applying it with a zero-downtime reload")
            from gwops.reload import Reloader  # imported only when a running gateway is replaced

            rr = Reloader(stack, env.values["LITELLM_MASTER_KEY"]).switch_to(
                compiled, choices, version, route_checks=route_checks
            )
            checks = RouteChecks(checks.names, checks.optional, rr.degraded, checks.embeddings)
            reloaded = True
        routecheck.save(stack.project.state_dir, checks, version)
        # the gateway serves: now what watches it (monitoring), never a reason it does not serve
        # meanwhile the idle slot's standbys (a reload leaves its old slot as the standby itself)
        with ThreadPoolExecutor(1) as pool:
            standby = (
                None
                if reloaded
                else pool.submit(
                    gateway.keep_standby, stack, st, model, found.get(gateway.service(st.idle), []), choices
                )
            )
            extra_gates, problems = start_extras(stack, st, model, found, choices, files_changed)
            if standby is not None:
                standby.result()
        metrics.record(
            stack.project,
            "up",
            {
                "gwops_up_last_success_timestamp_seconds": metrics.now(),
                "gwops_up_last_duration_seconds": round(time.monotonic() - t0, 3),
            },
        )
    return UpReport(
        choices,
        levels,
        gates + extra_gates,
        database,
        stack.url,
        routes,
        env.notes + compiled.notes,
        time.monotonic() - t0,
        reloaded,
        problems,
        checks.degraded,
    )


def start_extras(
    stack: Stack,
    st: slots.SlotState,
    model: ComposeModel,
    found: Containers,
    choices: list[ImageChoice],
    files_changed: set[str],
) -> tuple[list[Gate], list[str]]:
    """Start and gate the components that are not core (monitoring), once the gateway serves.
    A failure is returned as a problem (service, check, next step), not raised. A running one
    whose files changed takes them without a restart where it can (`apply`)."""
    wanted = [s for lvl in levels_of(model.as_config()) for s in lvl if not is_core(s)]
    if not wanted:
        return [], []
    stale = [s for s in wanted if not stack.docker.up_to_date(s, found.get(s, []), model, image_of(s, choices))]
    problems: list[str] = []
    try:
        if stale:
            stack.say(f"starting {', '.join(stale)}")
            stack.docker.compose_up(stale)
        for s in wanted:
            comp = components.of_service(s)
            if comp is not None and s not in stale and comp.name in files_changed and comp.apply is not None:
                comp.apply(stack)
    except OpsError as exc:
        stack.say(f"warning: {problem_of(exc)}")
        return [], [problem_of(exc)]
    ctx = GateContext(
        stack, Health(stack.docker, stack.say, stack.settings.health.service_timeout), st.active, "", RouteChecks()
    )
    t0 = time.monotonic()
    gates: list[Gate] = []

    def gate(svc: str) -> Gate | str:
        try:
            return gate_one(ctx, svc, t0)
        except OpsError as exc:
            return problem_of(exc)

    with ThreadPoolExecutor(len(wanted)) as pool:
        for res in pool.map(gate, wanted):
            if isinstance(res, Gate):
                stack.say(f"{res.service}: healthy ({res.seconds:.1f} s)")
                gates.append(res)
            else:
                stack.say(f"warning: {res}")
                problems.append(res)
    return gates, problems
