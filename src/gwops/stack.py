"""Stack lifecycle: up (staged and health-gated), down, status.

`up` reads as its stages: preflight -> validate -> images -> render -> start by level -> apply a
changed config with a zero-downtime reload -> report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gwops import components, envfile, host, metrics, projectname, routecheck, slots
from gwops.components import REGISTRY, gateway, optillm, postgres, proxy
from gwops.components.base import FilesContext, GateContext
from gwops.components.gateway import SLOTS
from gwops.config import ports, store
from gwops.config.pipeline import Compiled, compile_sources
from gwops.docker import IMAGE_LABEL, ComposeModel, Docker
from gwops.errors import AbortedError, HealthError, OpsError, PrerequisiteError, SafetyBackupError, UsageError
from gwops.health import Gate, Health, answers, gateway_url
from gwops.images import Images
from gwops.lock import exclusive
from gwops.project import Project
from gwops.proxy import Proxy
from gwops.render import ImageChoice, render_overrides, render_proxy
from gwops.routecheck import RouteChecks
from gwops.settings import StackSettings, load_settings

if TYPE_CHECKING:
    from gwops.backup.service import Backups

Say = Callable[[str], None]
Containers = dict[str, list[Any]]  # Docker.all_containers(): a service's containers by its name
NO_DB_REASON = (
    "LiteLLM's database features (virtual keys, teams, budgets, spend) are off: "
    "`database.enabled: false` in config/stack.yaml (the master key only)"
)
# which engine serves LiteLLM's database client, by the image kind (the local image says so itself)
DB_ENGINES = {
    "wasm-adapter": "Prisma's WASM engine through the gwops adapter (local image)",
    "": "Prisma's native engine (official image)",
}


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


def first(found: Containers, service: str) -> Any | None:
    """A service's first container in a listing, if any."""
    return next(iter(found.get(service, [])), None)


def healthy(found: list[Any]) -> bool:
    """Every container of a service running and healthy (or running, without a healthcheck)."""
    return bool(found) and all(
        c.attrs["State"].get("Status") == "running"
        and (c.attrs["State"].get("Health") or {}).get("Status", "healthy") == "healthy"
        for c in found
    )


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


def database_wired(settings: StackSettings) -> bool:
    """LiteLLM's database features: on with either gateway image unless `database.enabled: false`."""
    return settings.database.enabled


class Stack:
    def __init__(self, project: Project, say: Say, settings: StackSettings | None = None):
        self.project = project
        self.say = say
        self.settings = settings or load_settings(project.stack_file)
        self.project_name = projectname.resolve(project, self.settings)
        self.docker = Docker(project, self.project_name)
        self.proxy = Proxy(self.docker)
        self.compose_version = ""  # from preflight

    @property
    def url(self) -> str:
        return gateway_url(self.settings.gateway.bind, self.settings.gateway.port)

    def lock(self, what: str):
        return exclusive(self.project.state_dir / "ops.lock", what)

    # -- stages ----------------------------------------------------------------------------------
    def managed_env(self, active: str) -> dict[str, str]:
        return {
            projectname.ENV_KEY: self.project_name,
            "COMPOSE_FILE": self.project.compose_file_var(),
            "COMPOSE_PROFILES": active,
        }

    def preflight_and_validate(self, active: str) -> tuple[envfile.EnvResult, Compiled, Containers]:
        """Engine and Compose checked (their CLI calls run while the config compiles: the engine
        answering is reported before an invalid config), `.env`, the config, the public port.
        Returns `.env`, the compiled config and the project's containers as they are now (one
        listing, used by the later stages)."""
        with ThreadPoolExecutor(2) as pool:
            engine = pool.submit(host.ensure_engine, self.project.logs_dir, self.say)
            compose = pool.submit(host.ensure_compose, self.say)
            env = envfile.ensure(self.project.env_file, self.project.env_example, self.managed_env(active))
            try:
                compiled: Compiled | OpsError = compile_sources(
                    self.project.config_dir, self.settings.naming, env.values, self.settings, self.project.stack_file
                )
            except OpsError as exc:
                compiled = exc
            engine.result()
            self.compose_version = compose.result()
        for note in env.notes:
            self.say(note)
        if isinstance(compiled, OpsError):
            raise compiled
        for note in compiled.notes:
            self.say(note)
        found = self.docker.all_containers()
        # a Swarm stack of this checkout runs its own Postgres on the same volume; it cannot run
        # beside this stack's own (refused by `swarm deploy`), so a serving stack needs no look
        pg = first(found, postgres.SERVICE)
        swarm = (
            []
            if pg is not None and pg.status == "running"
            else [c.name for c in self.docker.stack_containers() if c.status == "running"]
        )
        if swarm:
            raise PrerequisiteError(
                f"this checkout's stack runs on Docker Swarm ({len(swarm)} containers, e.g. "
                f"`{swarm[0]}`): a Compose stack would start a second Postgres on the same "
                "data volume",
                hint="`bin/ops swarm rm` first (its volumes stay), or keep deploying with `bin/ops swarm deploy`",
            )
        self._check_ports(found)
        return env, compiled, found

    def _check_ports(self, found: Containers) -> None:
        """Every port the enabled components publish is free, or held by this stack's own
        container; else the error names who holds it and the setting that moves it."""
        ours = {
            (b.get("HostIp"), b.get("HostPort"))
            for cs in found.values()
            for c in cs
            if c.status == "running"
            for v in (c.attrs.get("HostConfig", {}).get("PortBindings") or {}).values()
            for b in (v or [])
        }
        wanted = [
            (bind, port, setting)
            for c, bind, port, setting in ports.published(self.settings)
            if not components.image_absent(c, self.settings, self.docker)
        ]
        seen: dict[tuple[str, int], str] = {}
        for bind, port, setting in wanted:  # validate refuses this too, with lines (config/ports.py)
            if (bind, port) in seen:
                raise PrerequisiteError(
                    f"`{setting}` and `{seen[(bind, port)]}` are both port {bind}:{port}",
                    hint="give each its own port in config/stack.yaml",
                )
            seen[(bind, port)] = setting
        for bind, port, setting in wanted:
            if (bind, str(port)) in ours:
                continue
            holder = host.port_holder(bind, port)
            if holder:
                raise PrerequisiteError(
                    f"port {bind}:{port} (`{setting}`) is already in use by {holder}",
                    hint=f"stop that process, or choose another `{setting}` in config/stack.yaml",
                )

    def validate(self, env: dict[str, str] | None) -> Compiled:
        compiled = compile_sources(
            self.project.config_dir, self.settings.naming, env, self.settings, self.project.stack_file
        )
        for note in compiled.notes:
            self.say(note)
        return compiled

    def images(self, build: bool = True) -> list[ImageChoice]:
        choices = Images(self.project, self.settings, self.docker, self.say).choose(build)
        return choices

    def render(self, compiled: Compiled, choices: list[ImageChoice], st: slots.SlotState) -> bool:
        """Write the generated config, the compose overrides and the proxy's files for the slots
        in `st`; True if the proxy's own config changed."""
        return self.render_plan(sorted(compiled.catalog.env_needed), choices, st, compiled)

    def render_plan(
        self, provider_env: list[str], choices: list[ImageChoice], st: slots.SlotState, compiled: Compiled | None
    ) -> bool:
        if compiled is not None:
            store.write(self.project, compiled)
        versions = {s: st.versions.get(s) or st.versions.get(st.active) or "" for s in SLOTS}
        slots.prepare(self.project)
        render_overrides(
            self.project,
            choices=choices,
            settings=self.settings,
            versions=versions,
            provider_env=provider_env,
            database=database_wired(self.settings),
            database_reason=NO_DB_REASON,
        )
        live = [store.version_path(self.project, v) for v in sorted(set(versions.values())) if v]
        for c in REGISTRY:
            if c.follow_versions is not None and c.enabled(self.settings):
                c.follow_versions(self.project, live)
        entrance = optillm.ENTRANCE_PORT if optillm.enabled(self.settings) else None
        return render_proxy(self.project, st.active, self.settings.gateway, entrance)

    def gate_gateway(self, health: Health, slot: str, master_key: str, routes: RouteChecks) -> None:
        """The active slot behind the proxy: the proxy sees it up and routes to it, then a real
        readiness request and one completion per route through the public port."""
        gw = self.settings.gateway
        self.proxy.wait_up(slot, gw.ready_timeout, gw.replicas)
        if self.proxy.active() != slot:
            self.proxy.switch(slot)
        health.gateway(
            self.url, master_key, routes, gw.ready_timeout, gw.route_check_timeout, service=gateway.service(slot)
        )

    def start(
        self,
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
            if not self.docker.up_to_date(s, found.get(s, []), model, image_of(s, choices))
        ]
        health = Health(self.docker, self.say, self.settings.health.service_timeout)
        if not stale and all(healthy(found.get(s, [])) for lvl in levels for s in lvl):
            # nothing to start and every container already healthy: every gate at once (each
            # still checks everything it checks; a failure is reported in level order)
            gates = self._gate_level(
                health, [s for lvl in levels for s in lvl], st.active, master_key, routes, time.monotonic()
            )
            if database_wired(self.settings):
                self.migrate(image_of(gateway.SERVICE, choices))  # a restored older backup may lack some
            return levels, gates
        started: dict[int, float] = {}

        def launch(i: int) -> None:
            todo = [s for s in levels[i] if s in stale]
            if todo:
                self.say(f"starting {', '.join(todo)}")
                self.docker.compose_up(todo)
            started[i] = time.monotonic()

        database = database_wired(self.settings)
        # With the database, a gateway starts only once the migrations ran. The local image's
        # waits for its slot's config: started at once without it, it imports LiteLLM (most of
        # its start) while Postgres starts and the migrations run, and takes the config after.
        early = database and gateway.waits_for_config(choices) and gateway.service(st.active) in stale
        if early:
            slots.disarm(self.project, st.active)
        if not database or early:
            for i in range(len(levels)):
                launch(i)
        gates: list[Gate] = []
        for i, level in enumerate(levels):
            if i not in started:
                launch(i)
            gates += self._gate_level(health, level, st.active, master_key, routes, started[i])
            if database and postgres.SERVICE in level:
                try:
                    self.migrate(image_of(gateway.SERVICE, choices))  # before any gateway serves (a later level)
                except OpsError:
                    if early:  # its waiting replicas never had a config: stopped, as if never started
                        for c in self.docker.replicas(gateway.service(st.active)):
                            c.stop(timeout=10)
                    raise
                if early:
                    slots.arm(self.project, st.active, st.versions[st.active])
        return levels, gates

    def migrate(self, image: str | None) -> None:
        """LiteLLM's migrations the gateway `image` ships that the database lacks, applied as a step
        of their own (gwops.migrations). Raises MigrationError (exit 4) naming the migration."""
        from gwops import migrations

        if image is None:
            raise OpsError(
                "no gateway image was chosen: its migrations are unknown", hint="`bin/ops images` lists them"
            )
        found = migrations.bundled(self.docker, image, self.project.state_dir / "cache")
        pg_env = postgres.client_env(envfile.read(self.project.env_file))
        self.say(
            migrations.apply(
                self.docker, postgres.SERVICE, pg_env, found, self.settings.database.migrate_timeout
            ).line()
        )

    def _gate_level(
        self, health: Health, level: list[str], active: str, master_key: str, routes: RouteChecks, t0: float
    ) -> list[Gate]:
        """Every service of one level gated at once; each gate's time counts from `t0`, when its
        services were started. The first failure (in level order) is raised."""

        ctx = GateContext(self, health, active, master_key, routes)
        with ThreadPoolExecutor(len(level)) as pool:
            futures = [pool.submit(gate_one, ctx, svc, t0) for svc in level]
            gates = [f.result() for f in futures]
        for g in gates:
            self.say(f"{g.service}: healthy ({g.seconds:.1f} s)")
        return gates

    # -- commands --------------------------------------------------------------------------------
    def up(self, route_checks: bool = True) -> UpReport:
        t0 = time.monotonic()
        with self.lock("bring the stack up"):
            st = slots.load(self.project)
            env, compiled, found = self.preflight_and_validate(st.active)
            choices = self.images()
            for c in choices:
                self.say(c.line())
            version = store.publish_version(self.project, compiled.text)
            active = first(found, gateway.service(st.active))
            serving = bool(active is not None and active.status == "running" and st.version)
            if not serving:
                st.versions[st.active] = version
            front = first(found, proxy.SERVICE)
            proxy_id = front.id if front is not None and front.status == "running" else None
            proxy_changed = self.render(compiled, choices, st)
            model = self.docker.compose_model(self.compose_version)
            database = database_wired(self.settings)
            if not database:
                self.say(NO_DB_REASON)
            checks = compiled.route_checks()
            routes = checks.names
            if not route_checks:
                checks = RouteChecks()
            # a serving gateway whose container Compose would recreate (new image, workers, provider
            # variables) is replaced the zero-downtime way, like a new config, not restarted in place
            respec = serving and self.docker.would_recreate(gateway.service(st.active), active, model)
            files_changed = self.write_files(env.values)
            if not serving or not (respec or slots.armed(self.project, st.active)):
                slots.arm(self.project, st.active, st.versions[st.active])
            levels, gates = self.start(
                st, env.values["LITELLM_MASTER_KEY"], checks, model, found, choices, keep_active=respec
            )
            if not serving:
                st.went_live(st.active, version)
                slots.save(self.project, st)
            front = self.docker.container(proxy.SERVICE)
            if proxy_changed and proxy_id and front is not None and front.id == proxy_id:
                # still the container that read the old file: HAProxy's own graceful reload
                self.say("the proxy's configuration changed: reloading it (open connections are kept)")
                self.proxy.reload_config(self.settings.health.service_timeout)
            reloaded = False
            if serving and (st.version != version or respec):
                what = (
                    f"the config changed ({st.version} -> {version})"
                    if st.version != version
                    else "the gateway's image or settings changed"
                )
                self.say(f"{what}: applying it with a zero-downtime reload")
                from gwops.reload import Reloader  # imported only when a running gateway is replaced

                rr = Reloader(self, env.values["LITELLM_MASTER_KEY"]).switch_to(
                    compiled, choices, version, route_checks=route_checks
                )
                checks = RouteChecks(checks.names, checks.optional, rr.degraded)
                reloaded = True
            routecheck.save(self.project.state_dir, checks, version)
            # the gateway serves: now what watches it (monitoring), never a reason it does not serve
            # meanwhile the idle slot's standbys (a reload leaves its old slot as the standby itself)
            with ThreadPoolExecutor(1) as pool:
                standby = None if reloaded else pool.submit(self.keep_standby, st, model, found, choices)
                extra_gates, problems = self.start_extras(st, model, found, choices, files_changed)
                if standby is not None:
                    standby.result()
            metrics.record(
                self.project,
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
            self.url,
            routes,
            env.notes + compiled.notes,
            time.monotonic() - t0,
            reloaded,
            problems,
            checks.degraded,
        )

    def write_files(self, env: dict[str, str]) -> set[str]:
        """Each enabled component's files under state/<name>/; returns the components whose
        files changed."""
        ctx = FilesContext(self.project, self.settings, self.project_name, env)
        return {c.name for c in REGISTRY if c.files is not None and c.enabled(self.settings) and c.files(ctx)}

    def start_extras(
        self,
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
        stale = [s for s in wanted if not self.docker.up_to_date(s, found.get(s, []), model, image_of(s, choices))]
        problems: list[str] = []
        try:
            if stale:
                self.say(f"starting {', '.join(stale)}")
                self.docker.compose_up(stale)
            for s in wanted:
                comp = components.of_service(s)
                if comp is not None and s not in stale and comp.name in files_changed and comp.apply is not None:
                    comp.apply(self)
        except OpsError as exc:
            self.say(f"warning: {problem_of(exc)}")
            return [], [problem_of(exc)]
        ctx = GateContext(
            self, Health(self.docker, self.say, self.settings.health.service_timeout), st.active, "", RouteChecks()
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
                    self.say(f"{res.service}: healthy ({res.seconds:.1f} s)")
                    gates.append(res)
                else:
                    self.say(f"warning: {res}")
                    problems.append(res)
        return gates, problems

    def keep_standby(
        self, st: slots.SlotState, model: ComposeModel, found: Containers, choices: list[ImageChoice]
    ) -> None:
        """The idle slot's replicas wait as standbys for the next reload (`gateway.standby`), or
        are not there at all. Not waited for: they import LiteLLM at the start CPU weight."""
        svc = gateway.service(st.idle)
        there = found.get(svc, [])
        try:
            if not gateway.standby_wanted(self.settings, choices):
                if there:
                    self.docker.compose_rm([svc])
                return
            if slots.armed(self.project, st.idle) or not self.docker.up_to_date(
                svc, there, model, image_of(svc, choices)
            ):
                self.say(f"starting slot `{st.idle}` as a standby for the next reload (not waited for)")
                gateway.start_standby(self, st.idle)
        except OpsError as exc:  # the next reload starts cold: not a reason `up` fails
            self.say(
                f"warning: slot `{st.idle}`'s standby did not start ({exc.message}); the next reload starts it cold"
            )

    def down(self, volumes: bool, confirm: Callable[[str], bool], backup: bool = True) -> str | None:
        """Stop the stack. With `volumes`, a verified backup is taken first (unless not `backup`);
        returns its id. A backup that cannot run stops everything here: nothing is deleted."""
        if volumes and not confirm(
            "delete the data volumes of this stack (Postgres: keys, teams, spend; Redis: cache; metrics history)?"
        ):
            raise AbortedError("nothing was deleted", hint="add `--yes` to confirm without a prompt")
        taken = None
        with self.lock("stop the stack"):
            if volumes and backup:
                taken = self.safety_backup()
            elif volumes:
                self.say("deleting the volumes without a backup (`--no-backup`)")
            self.docker.compose_down(volumes)
        return taken

    def safety_backup(self, swarm: bool = False) -> str | None:
        """The backup `down --volumes` (`swarm rm --volumes` with `swarm`) takes first; None when
        there is no database volume to lose."""
        pg = self.docker.stack_container(postgres.SERVICE) if swarm else self.docker.container(postgres.SERVICE)
        if pg is None or pg.status != "running":
            if not (
                self.docker.stack_volumes((postgres.VOLUME,)) if swarm else postgres.VOLUME in self.docker.volumes()
            ):
                return None
            raise SafetyBackupError(
                f"service `{postgres.SERVICE}` is not running, but its volume `{postgres.VOLUME}` exists",
                hint=f"start it with `bin/ops {'swarm deploy' if swarm else 'up'}` and retry (or `--no-backup`)",
            )
        self.say("taking a backup before deleting the volumes")
        try:
            return self.backups().backup().manifest.id
        except OpsError as exc:
            raise SafetyBackupError(exc.message, exc.hint, exc.exit_code) from exc

    def backups(self) -> Backups:
        from gwops.backup.service import Backups  # not needed by `up`: imported when used

        return Backups(self.project, self.settings, self.docker, self.say)

    def stop_gateway(self) -> None:
        """Every replica of the serving slot (a standby writes nothing: it has no config)."""
        for c in self.docker.replicas(gateway.service(slots.load(self.project).active)):
            if c.status == "running":
                c.stop(timeout=90)

    def start_gateway(self) -> None:
        """Start the active gateway slot again, gated on health (readiness; no route checks)."""
        st = slots.load(self.project)
        svc = gateway.service(st.active)
        image = next((c.labels.get(IMAGE_LABEL) for c in self.docker.replicas(svc)), None)
        if image and database_wired(self.settings):
            self.migrate(image)  # a restored older backup gets the migrations its gateway expects
        self.docker.compose_up([svc])
        health = Health(self.docker, self.say, self.settings.health.service_timeout)
        health.container(svc)
        key = envfile.read(self.project.env_file).get("LITELLM_MASTER_KEY", "")
        self.gate_gateway(health, st.active, key, RouteChecks())

    def status(self) -> dict[str, Any]:
        st = slots.load(self.project)
        containers = self.docker.all_containers()
        rows, core = [], []
        for comp in REGISTRY:
            if not comp.enabled(self.settings):
                continue
            shown, others = comp.services(st.active) if comp.services else ([comp.service], [])
            pin = getattr(self.settings.images, comp.name)
            for svc in [*shown, *(o for o in others if containers.get(o))]:
                row = {
                    "component": comp.name,
                    "core": comp.core,
                    **self._status_row(svc, containers.get(svc, []), pin, comp.ready_url(self.settings)),
                }
                if comp.status_row is not None:
                    comp.status_row(self, row)
                if (
                    not comp.core
                    and row["state"] == "absent"
                    and components.image_absent(comp, self.settings, self.docker)
                ):
                    row["note"] = f"not started: its image {pin.official} is not on this host (`docker pull` it)"
                elif not comp.core and (row["state"] != "running" or row["health"] not in ("healthy", "none")):
                    row.setdefault("problem", f"{svc} is {row['state']} ({row['health']})")
                    row.setdefault("next", "`bin/ops up` starts it; `bin/ops logs " + svc + "` says why it stopped")
                rows.append(row)
                if comp.core and svc in shown:
                    core.append(row)
        gateway_info = self._gateway_status(st, containers)
        backups = self._backup_status()
        running = [r for r in core if r["state"] == "running"]
        healthy = [r for r in running if r["health"] in ("healthy", "none")]
        if not running:
            overall = "down"
        elif (
            len(healthy) == len(core)
            and not any("problem" in r for r in rows)
            and "error" not in gateway_info
            and not backups.get("stale")
            and not gateway_info.get("degraded_routes")
        ):
            overall = "healthy"
        else:
            overall = "degraded"
        out = {
            "project": self.project_name,
            "overall": overall,
            "services": rows,
            "gateway": gateway_info,
            "backups": backups,
            "alerts": self._alerts(rows),
        }
        if not running and any(c.status == "running" for c in self.docker.stack_containers()):
            out["swarm"] = "this checkout's stack runs on Docker Swarm: `bin/ops swarm status` shows it"
        return out

    def _alerts(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """Firing and pending alerts when Prometheus runs (None: monitoring off or not answering)."""
        from gwops.components import prometheus as prom

        if not any(r["component"] == prom.SERVICE and r["state"] == "running" for r in rows):
            return None
        try:
            return prom.alerts(self)
        except (OSError, ValueError, KeyError):
            return None

    def _gateway_status(self, st: slots.SlotState, containers: Containers) -> dict[str, Any]:
        """The gateway as clients see it: its URL, active slot and config version, whether the
        database is wired, and the routes `/v1/models` lists through the public port."""
        info: dict[str, Any] = {
            "url": self.url,
            "routes": [],
            "database": None,
            "active_slot": st.active,
            "config_version": st.version,
            "live_since": st.live_since,
        }
        checked = routecheck.load(self.project.state_dir, st.version)
        if checked:  # optional routes whose check failed when this version went live (or at `up`)
            info["degraded_routes"] = checked["degraded"]
            info["routes_checked_at"] = checked["checked_at"]
        gc = first(containers, gateway.service(st.active))
        if gc is None:
            return info
        envs = gc.attrs["Config"].get("Env") or []
        info["database"] = any(e.startswith("DATABASE_URL=") for e in envs)
        if not info["database"]:
            info["database_note"] = NO_DB_REASON
        else:
            engine = next((e.split("=", 1)[1] for e in envs if e.startswith("GWOPS_DATABASE_ENGINE=")), "")
            info["database_engine"] = DB_ENGINES.get(engine, engine)
        key = envfile.read(self.project.env_file).get("LITELLM_MASTER_KEY", "")
        import httpx

        try:
            r = httpx.get(f"{self.url}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=5)
            if r.status_code == 200:
                info["routes"] = sorted(m["id"] for m in r.json().get("data", []))
            else:
                info["error"] = f"/v1/models answered HTTP {r.status_code}"
        except (httpx.HTTPError, ValueError) as exc:
            info["error"] = f"/v1/models: {type(exc).__name__}"
        return info

    @staticmethod
    def _status_row(svc: str, found: list[Any], pin: Any, ready_url: str | None = None) -> dict[str, Any]:
        """One service: its state and health (a gateway slot's: healthy only with every replica
        ready), replicas ready/total and restarts. A running container whose first healthcheck is
        still to come is healthy when `ready_url` (its component's, see `up`) answers."""
        if not found:
            return {
                "service": svc,
                "state": "absent",
                "health": "-",
                "image": "-",
                "kind": "-",
                "ports": [],
                "replicas": "0/0",
                "restarts": 0,
            }
        states = [c.attrs["State"] for c in found]
        healths = [(st.get("Health") or {}).get("Status", "none") for st in states]
        # running, not restarting (Docker keeps Running true while a container waits to restart)
        up = [st.get("Status") == "running" for st in states]
        if ready_url and any(h == "starting" and r for r, h in zip(up, healths, strict=True)) and answers(ready_url):
            healths = ["healthy" if h == "starting" and r else h for r, h in zip(up, healths, strict=True)]
        waiting = [(r, h) for r, h in zip(up, healths, strict=True) if not (r and h in ("healthy", "none"))]
        ready = len(found) - len(waiting)
        image = found[0].attrs["Config"]["Image"]
        ports = [
            f"{b['HostIp']}:{b['HostPort']}->{p}"
            for c in found
            for p, bs in (c.attrs["NetworkSettings"].get("Ports") or {}).items()
            for b in (bs or [])
        ]
        if not waiting:
            health = healths[0]
        elif ready and all(r and h == "starting" for r, h in waiting):
            health = "starting"  # the others wait for their first healthcheck (or restarted)
        elif ready:
            health = "degraded"  # serving on the replicas that are ready
        else:
            health = next((h for h in healths if h not in ("healthy", "none")), "unhealthy")
        return {
            "service": svc,
            "state": "running" if any(up) else states[0].get("Status"),
            "health": health,
            "image": image,
            "kind": "local" if image == pin.local else ("official" if image == pin.official else "other"),
            "ports": ports,
            "replicas": f"{ready}/{len(found)}",
            "restarts": sum(int(c.attrs.get("RestartCount") or 0) for c in found),
        }

    def _backup_status(self) -> dict[str, Any]:
        """Age of the last verified backup; stale when older than the schedule allows."""
        b = self.backups()
        age = b.last_verified_age()
        if age is None:
            return {"last_verified_age_seconds": None, "stale": False, "note": "no verified backup yet"}
        limit = b.max_age()
        return {"last_verified_age_seconds": round(age), "max_age_seconds": round(limit), "stale": age > limit}

    def backends(self) -> list[Any]:
        """Every provider of the config, probed from the host and from the active gateway."""
        from gwops import backends

        compiled = compile_sources(
            self.project.config_dir, self.settings.naming, None, self.settings, self.project.stack_file
        )
        svc = gateway.service(slots.load(self.project).active)
        return backends.check(
            compiled.providers.providers, self.project.env_file, backends.gateway_probe(self.docker, svc)
        )

    def probe(self, routes: list[str]) -> list[Any]:
        """Every route (or those named) tried through the public port; the matrix is written to
        state/capabilities.json and to the toolkit's metrics."""
        from gwops import probe

        key = envfile.read(self.project.env_file).get("LITELLM_MASTER_KEY", "")
        live = self._gateway_status(slots.load(self.project), self.docker.all_containers())
        if live.get("error") or not live["routes"]:
            raise HealthError(
                gateway.service(live["active_slot"]),
                "GET /v1/models",
                live.get("error") or "the gateway is not running",
                hint="`bin/ops up` starts it; `bin/ops status` says what is wrong",
            )
        unknown = sorted(set(routes) - set(live["routes"]))
        if unknown:
            raise UsageError(f"no such route: {', '.join(unknown)}", hint=f"routes: {', '.join(live['routes'])}")
        found = probe.run(
            self.url,
            key,
            routes or [r for r in live["routes"] if "*" not in r],
            self.settings.gateway.route_check_timeout,
            self.say,
        )
        probe.save(self.project.state_dir, found)
        metrics.write_samples(self.project, "probe", probe.samples(found))
        return found
