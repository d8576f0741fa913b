"""`bin/ops reload`: a new gateway config with zero failed requests, or an automatic rollback.

validate -> diff -> start the new config in the idle slot -> gate it on health and one request
per route, directly -> switch the proxy (one `set map`) -> watch the new slot -> drain the old
slot (in-flight requests and streams finish) -> stop it. Any failure before the switch removes
the new container and leaves the old one serving; trouble in the watch window switches back.
"""

from __future__ import annotations

import difflib
import re
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import yaml

from gwops import components, envfile, metrics, routecheck, slots
from gwops.components import gateway
from gwops.components.base import ImageChoice
from gwops.config import generate, store
from gwops.config.pipeline import Compiled
from gwops.errors import HealthError, OpsError, ReloadError
from gwops.health import READINESS_CHECK, Health
from gwops.poll import Timeout, poll
from gwops.routecheck import RouteChecks

if TYPE_CHECKING:
    from gwops.stack import Stack


CORE_ENV = {"LITELLM_MASTER_KEY", "REDIS_PASSWORD"}
# gunicorn's last line of a graceful stop: its workers have finished their requests, streams and
# LiteLLM's shutdown hooks (DB flushes); the interpreter's teardown after it takes seconds more
SHUTDOWN_DONE = b"Shutting down: Master"
DEFAULT_CPU_WEIGHT = 1024  # Docker's
# Share of `gateway.ready_timeout` a new gateway may take at its low start weight before it gets
# Docker's default weight: a last resort, late, because under its own load (50 req/s on 2 cores)
# a start can take over 30 s at the low weight, and raising it then starves the serving gateway
# instead (measured with the boost at 30 s: 269 requests timed out in one reload).
STARVED_SHARE = 0.75


@dataclass(frozen=True)
class ReloadPlan:
    """A config version to run: its text, the routes to check, the provider keys it needs."""

    version: str
    text: str
    routes: list[str]
    provider_env: list[str]
    optional: frozenset[str] = frozenset()  # routes whose providers are all optional
    embeddings: frozenset[str] = frozenset()  # routes that only embed

    @classmethod
    def of(cls, compiled: Compiled, version: str) -> ReloadPlan:
        checks = compiled.route_checks()
        return cls(
            version,
            compiled.text,
            checks.names,
            sorted(compiled.catalog.env_needed),
            checks.optional,
            checks.embeddings,
        )

    def checks(self) -> RouteChecks:
        return RouteChecks(self.routes, self.optional, embeddings=self.embeddings)

    @classmethod
    def from_version(cls, stack: Stack, version: str) -> ReloadPlan:
        path = store.version_path(stack.project, version)
        if not path.exists():
            raise OpsError(
                f"config version `{version}` is not kept under state/versions/",
                hint="`bin/ops reload` to apply the current config instead",
            )
        text = path.read_text()
        names, optional, embeddings = generate.route_checks(yaml.safe_load(text) or {})
        env = set(re.findall(r"os\.environ/([A-Za-z_][A-Za-z0-9_]*)", text)) - CORE_ENV
        return cls(version, text, names, sorted(env), optional, embeddings)


@dataclass
class ReloadReport:
    from_version: str | None
    to_version: str
    from_slot: str
    to_slot: str
    diff: str
    seconds: float = 0.0
    start_seconds: float = 0.0
    drain_seconds: float = 0.0
    drained: bool = True
    last_look_seconds: float = 0.0  # waiting for the components' last look at the old slot (a scrape)
    dry_run: bool = False
    unchanged: bool = False
    forced: bool = False
    degraded: dict[str, str] = field(default_factory=dict)  # optional routes whose check failed -> why


class Reloader:
    def __init__(self, stack: Stack, master_key: str | None = None):
        self.stack = stack
        self.docker = stack.docker
        self.proxy = stack.proxy
        self.say = stack.say
        self.gw = stack.settings.gateway
        self.key = master_key or envfile.read(stack.project.env_file).get("LITELLM_MASTER_KEY", "")

    # -- entry points ----------------------------------------------------------------------------
    def reload(self, dry_run: bool = False, force: bool = False) -> ReloadReport:
        env = envfile.read(self.stack.project.env_file)
        compiled = self.stack.validate(env)  # an invalid config stops here, nothing changed
        st = slots.load(self.stack.project)
        new_version = store.publish_version(self.stack.project, compiled.text) if not dry_run else None
        diff = self.diff(st.version, compiled.text)
        report = ReloadReport(st.version, new_version or "", st.active, st.idle, diff, dry_run=dry_run)
        if dry_run:
            return report
        if new_version == st.version:
            report.unchanged = True
            return report
        choices = self.stack.images(build=False)
        if force:
            return self.restart(ReloadPlan.of(compiled, new_version), choices, compiled, report)
        return self.switch(ReloadPlan.of(compiled, new_version), choices, compiled)

    def rollback(self) -> ReloadReport:
        st = slots.load(self.stack.project)
        if not st.history:
            raise OpsError(
                "there is no earlier live config version to go back to",
                hint="`bin/ops config versions` lists generated versions",
            )
        plan = ReloadPlan.from_version(self.stack, st.history[-1]["version"])
        self.say(f"rolling back to config version {plan.version} (live since {st.history[-1]['live_since']})")
        return self.switch(plan, self.stack.images(build=False), None)

    def switch_to(
        self, compiled: Compiled, choices: list[ImageChoice], version: str, route_checks: bool = True
    ) -> ReloadReport:
        plan = ReloadPlan.of(compiled, version)
        return self.switch(plan if route_checks else replace(plan, routes=[]), choices, compiled)

    def diff(self, old_version: str | None, new_text: str) -> str:
        old = ""
        if old_version and store.version_path(self.stack.project, old_version).exists():
            old = store.version_path(self.stack.project, old_version).read_text()
        return "".join(
            difflib.unified_diff(
                old.splitlines(True), new_text.splitlines(True), f"live/{old_version or 'none'}", "new"
            )
        )

    # -- the switch --------------------------------------------------------------------------------
    def switch(self, plan: ReloadPlan, choices: list[ImageChoice], compiled: Compiled | None) -> ReloadReport:
        t0 = time.monotonic()
        st = slots.load(self.stack.project)
        old, new = st.active, st.idle
        report = ReloadReport(st.version, plan.version, old, new, "")
        staged = replace(st, versions={**st.versions, new: plan.version})
        self._render(plan, choices, staged, compiled)
        self.say(f"starting config {plan.version} in slot `{new}` (slot `{old}` keeps serving)")
        checks = plan.checks()
        self._start_new(plan, new, st, choices, checks)
        report.start_seconds = time.monotonic() - t0

        self.proxy.wait_up(new, self.gw.ready_timeout, self.gw.replicas)
        before = self.proxy.stats().get(new)
        self.proxy.switch(new)
        self.say(f"switched the proxy to slot `{new}`; watching it for {self.gw.watch_seconds:g} s")
        trouble = self._watch(new, before)
        if trouble:
            logs = self.docker.tail_logs(gateway.service(new), 30)
            self.proxy.switch(old)
            self.proxy.wait_drained(new, 30)
            self.docker.compose_rm([gateway.service(new)])
            slots.disarm(self.stack.project, new)
            self._render(ReloadPlan.from_version(self.stack, st.version), choices, st, None)
            metrics.record(
                self.stack.project, "reload", {"gwops_reload_last_outcome": 2}, inc=("gwops_reload_rollbacks_total",)
            )
            raise ReloadError(
                f"config {plan.version} was switched back automatically: {trouble}",
                hint=f"slot `{old}` with config {st.version} is serving again; fix the config "
                "and run `bin/ops reload` again",
                details=logs,
            )

        t1 = time.monotonic()
        report.drained = self.proxy.wait_drained(old, self.gw.drain_timeout)
        report.drain_seconds = time.monotonic() - t1
        if not report.drained:
            self.say(f"slot `{old}` still had requests after the {self.gw.drain_timeout:g} s drain timeout")
        t2 = time.monotonic()
        self._last_look(gateway.service(old))
        report.last_look_seconds = time.monotonic() - t2
        # drained: its shutdown (and the interpreters' teardown) takes only CPU nobody else wants
        self.docker.set_cpu(gateway.service(old), self.gw.start_cpu_weight)
        self.docker.stop_and_remove(gateway.service(old), SHUTDOWN_DONE, 90)
        if gateway.standby_wanted(self.stack.settings, choices):  # the old slot waits for the next reload
            gateway.start_standby(self.stack, old)
        else:
            slots.disarm(self.stack.project, old)
        st.versions[new] = plan.version
        st.went_live(new, plan.version)
        slots.save(self.stack.project, st)
        self._render(plan, choices, st, compiled)
        envfile.ensure(self.stack.project.env_file, self.stack.project.env_example, self.stack.managed_env(new))
        report.seconds, report.degraded = time.monotonic() - t0, checks.degraded
        routecheck.save(self.stack.project.state_dir, checks, plan.version)
        metrics.record(
            self.stack.project,
            "reload",
            {
                "gwops_reload_last_outcome": 0,
                "gwops_reload_last_success_timestamp_seconds": metrics.now(),
                "gwops_reload_last_duration_seconds": round(report.seconds, 3),
            },
        )
        return report

    def restart(
        self, plan: ReloadPlan, choices: list[ImageChoice], compiled: Compiled, report: ReloadReport
    ) -> ReloadReport:
        """--force: a plain restart of the active slot with the new config. Requests fail meanwhile."""
        t0 = time.monotonic()
        st = slots.load(self.stack.project)
        self.say(f"plain restart of slot `{st.active}` (--force): requests fail until it is ready again")
        staged = replace(st, versions={**st.versions, st.active: plan.version})
        self._render(plan, choices, staged, compiled)
        svc = gateway.service(st.active)
        slots.arm(self.stack.project, st.active, plan.version)
        self.docker.compose_rm([svc])  # the slot's containers are the same: new ones read the new file
        self.docker.compose_up([svc])
        health = Health(self.docker, self.say, self.gw.ready_timeout)
        health.container(svc)
        checks = plan.checks()
        gateway.gate_slot(self.stack, health, st.active, self.key, checks)
        routecheck.save(self.stack.project.state_dir, checks, plan.version)
        report.degraded = checks.degraded
        st.went_live(st.active, plan.version)
        slots.save(self.stack.project, st)
        report.to_slot, report.forced, report.seconds = st.active, True, time.monotonic() - t0
        return report

    # -- steps -----------------------------------------------------------------------------------
    def _render(
        self, plan: ReloadPlan, choices: list[ImageChoice], st: slots.SlotState, compiled: Compiled | None
    ) -> None:
        self.stack.render_plan(plan.provider_env, choices, st, compiled)

    def _standby_ready(self, svc: str, choices: list[ImageChoice]) -> bool:
        """Whether the idle slot's replicas are standbys that can take the new version as they
        are: running, and what Compose would leave in place for the rendered plan."""
        found = self.docker.replicas(svc)
        if not (found and gateway.standby_wanted(self.stack.settings, choices)):
            return False
        image = next((c.image for c in choices if c.service == gateway.SERVICE), None)
        return self.docker.up_to_date(svc, found, self.docker.compose_model(self.stack.compose_version), image)

    def _start_new(
        self, plan: ReloadPlan, slot: str, st: slots.SlotState, choices: list[ImageChoice], checks: RouteChecks
    ) -> None:
        svc = gateway.service(slot)
        health = Health(self.docker, self.say, self.gw.ready_timeout)
        try:
            warm = self._standby_ready(svc, choices)
            if warm:  # at the start weight, under the start limit (or none) instead of the standby's
                self.docker.set_cpu(svc, self.gw.start_cpu_weight, self.gw.start_cpus)
            slots.arm(self.stack.project, slot, plan.version)
            if warm:  # LiteLLM already imported: they load the config and fork their workers
                self.say(f"slot `{slot}`'s standby replicas take config {plan.version}")
            else:
                # it starts at a low CPU weight: the serving gateway keeps the CPU its clients need,
                # and the new one starts on what is left (on a 2-core box under load, it would take a core)
                self.docker.compose_up([svc], start=False)
                self.docker.set_cpu(svc, self.gw.start_cpu_weight)
                self.docker.start(svc)
            # straight to each new replica, not through the proxy (clients see nothing of it yet),
            # without waiting for Docker's healthcheck interval: readiness is the stronger check
            replicas = [(c, f"http://{self._address(c)}:4000") for c in self.docker.replicas(svc)]
            t0, boosted = time.monotonic(), False
            for c, url in replicas:
                boosted = self._ready(health, svc, c, url, checks, t0, boosted)
            self.docker.set_cpu(svc, DEFAULT_CPU_WEIGHT)  # and no CPU limit
            warm_route = checks.first_working()
            if warm_route:
                for _c, url in replicas:
                    health.warm(url, self.key, warm_route, 2 * self.gw.workers, self.gw.route_check_timeout, svc)
        except OpsError as exc:
            logs = self.docker.tail_logs(svc, 30)
            self.docker.compose_rm([svc])
            slots.disarm(self.stack.project, slot)
            if st.version:
                self._render(ReloadPlan.from_version(self.stack, st.version), choices, st, None)
            metrics.record(
                self.stack.project, "reload", {"gwops_reload_last_outcome": 1}, inc=("gwops_reload_failures_total",)
            )
            raise ReloadError(
                f"the new gateway (config {plan.version}) failed: {exc.message}",
                hint=f"slot `{st.active}` with config {st.version} keeps serving; fix the config "
                "and run `bin/ops reload` again",
                details=f"last log lines of the new gateway:\n{logs}",
            ) from None

    def _ready(self, health: Health, svc: str, c, url: str, routes: RouteChecks, t0: float, boosted: bool) -> bool:
        """One new replica ready and answering on each route. At the low start weight it gets only
        the CPU nobody else wants: on a host kept busy by others (a build, another stack) that can
        be none at all, so after `STARVED_SHARE` of the ready timeout it gets Docker's default weight.
        Returns whether the weight was raised."""
        deadline = t0 + self.gw.ready_timeout
        if not boosted:
            starved_after = STARVED_SHARE * self.gw.ready_timeout
            first = min(deadline, t0 + starved_after) - time.monotonic()
            try:
                health.gateway(
                    url, self.key, RouteChecks(), max(first, 1), self.gw.route_check_timeout, service=svc, container=c
                )
            except HealthError as exc:
                if exc.check != READINESS_CHECK or time.monotonic() >= deadline:
                    raise
                self.say(
                    f"{svc}: not ready after {starved_after:.0f} s at CPU weight {self.gw.start_cpu_weight} "
                    f"(the host is busy): starting it at the default weight"
                )
                self.docker.set_cpu(svc, DEFAULT_CPU_WEIGHT)  # and no CPU limit
                boosted = True
        health.gateway(
            url,
            self.key,
            routes,
            max(deadline - time.monotonic(), 1),
            self.gw.route_check_timeout,
            service=svc,
            container=c,
        )
        return boosted

    def _last_look(self, service: str) -> None:
        """The components that watch the gateway (Prometheus) see the old slot one last time."""
        for comp in components.REGISTRY:
            if comp.last_look is not None and comp.enabled(self.stack.settings):
                warning = comp.last_look(self.stack, service)
                if warning:
                    self.say(f"warning: {warning}")

    @staticmethod
    def _address(c) -> str:
        c.reload()
        for name, net in c.attrs["NetworkSettings"]["Networks"].items():
            if name.endswith("_egress") and net.get("IPAddress"):
                return net["IPAddress"]
        raise OpsError(f"`{c.name}` has no address on the egress network")

    def _watch(self, slot: str, before) -> str | None:
        """Watch the new slot for `watch_seconds`; return what went wrong, or None."""
        base_req = before.requests if before else 0
        base_err = before.errors if before else 0
        base_conn = before.conn_errors if before else 0
        svc = gateway.service(slot)

        def trouble() -> str | None:
            found = self.docker.replicas(svc)
            stopped = [c for c in found if c.status != "running"]
            if not found or stopped:
                return f"`{svc}` stopped ({', '.join(f'{c.name}: {c.status}' for c in stopped) or 'gone'})"
            now = self.proxy.stats().get(slot)
            if now is None or not now.reachable:
                return f"the proxy cannot reach slot `{slot}` ({now.status if now else 'absent'})"
            if now.conn_errors > base_conn:
                return f"{now.conn_errors - base_conn} connections to slot `{slot}` failed"
            reqs, errs = now.requests - base_req, now.errors - base_err
            if reqs >= 5 and errs / reqs > self.gw.max_error_rate:
                return f"{errs} of {reqs} responses were 5xx (over {self.gw.max_error_rate:.0%})"
            return None

        if self.gw.watch_seconds <= 0:
            return trouble()
        try:
            return poll(trouble, self.gw.watch_seconds, 0.5)
        except Timeout:
            return None
