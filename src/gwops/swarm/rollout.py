"""Watching a `docker stack deploy` roll out (part of gwops.swarm.deploy's SwarmStack): each
changed service converges on its new spec, or Swarm's own rollback is seen and named."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gwops.components import REGISTRY
from gwops.errors import RolledBack, RolloutError
from gwops.poll import Timeout, poll

if TYPE_CHECKING:
    from gwops.docker import Docker
    from gwops.settings import StackSettings

Say = Callable[[str], None]

# the components with a Swarm service (`swarm.yml.j2` in their folder), in the registry's order
SERVICES = tuple(c.name for c in REGISTRY if c.swarm_template is not None)
ROLLED_BACK = ("rollback_started", "rollback_completed")


def update_state(svc: Any) -> tuple[str, str]:
    upd = svc.attrs.get("UpdateStatus") or {}
    return upd.get("State", ""), upd.get("Message", "")


class RolloutWatch:
    """The rollout checks of SwarmStack, which holds the Docker client, settings and `say`."""

    docker: Docker
    settings: StackSettings
    name: str  # the stack's name
    say: Say

    def _deadline(self) -> float:
        gw = self.settings.gateway
        per_task = gw.ready_timeout + self.settings.swarm.update_monitor + 30
        return self.settings.health.service_timeout + per_task * (gw.replicas + 1)

    def wait(self, changed: set[str], version: str) -> None:
        """Until every service runs its desired tasks and every changed one has completed its
        update; a rollback or a pause of any of them is an error naming it. Progress each change."""
        last = [""]

        def check() -> bool | None:
            services = self.docker.stack_services()
            rows, done = [], True
            for name in [s for s in SERVICES if s in services] + sorted(set(services) - set(SERVICES)):
                svc = services[name]
                state, msg = update_state(svc)
                if name in changed:
                    if state in ROLLED_BACK:
                        self._rolled_back(name, version)
                    if state in ("paused", "rollback_paused"):
                        raise RolloutError(
                            f"the rolling update of `{name}` is {state.replace('_', ' ')}: {msg}",
                            hint=f"`docker service ps {self.name}_{name} --no-trunc` shows why; fix it "
                            "and `bin/ops swarm deploy` again (or `docker service rollback "
                            f"{self.name}_{name}`)",
                        )
                running, want = self._tasks(svc, version if name == "gateway" else None)
                rows.append(f"{name} {running}/{want}" + (f" ({state})" if state and state != "completed" else ""))
                done = done and running >= want and (name not in changed or state == "completed")
            line = ", ".join(rows)
            if line != last[0]:
                self.say(line)
                last[0] = line
            return True if done and rows else None

        try:
            poll(check, self._deadline(), interval=1)
        except Timeout:
            raise RolloutError(
                f"the swarm stack `{self.name}` did not converge in {self._deadline():.0f} s ({last[0]})",
                hint=f"`docker stack ps {self.name} --no-trunc` shows each task's error; "
                "`bin/ops swarm status` the services",
            ) from None

    def _tasks(self, svc: Any, version: str | None) -> tuple[int, int]:
        """(tasks running and healthy [on `version`], tasks wanted)."""
        mode = svc.attrs["Spec"]["Mode"]
        tasks = self.docker.service_tasks(svc, **{"desired-state": "running"})
        if version is not None:
            tasks = [t for t in tasks if f"_litellm_{version}" in json.dumps(t["Spec"]["ContainerSpec"].get("Configs"))]
        running = sum(1 for t in tasks if t["Status"]["State"] == "running")
        want = mode["Replicated"]["Replicas"] if "Replicated" in mode else max(1, len(tasks))
        return running, want

    def _settle_rollback(self, name: str = "gateway") -> str:
        """Wait for a started rollback to end; returns its final state."""

        def ended() -> str | None:
            svc = self.docker.stack_services().get(name)
            state = update_state(svc)[0] if svc is not None else "gone"
            return None if state in ("rollback_started", "updating", "") else state

        try:
            return poll(ended, self.settings.health.service_timeout + self.settings.gateway.ready_timeout, interval=1)
        except Timeout:
            raise RolloutError(
                f"the rollback of `{name}` did not end in time",
                hint=f"`docker service ps {self.name}_{name} --no-trunc` shows its tasks",
            ) from None

    def _rolled_back(self, name: str, version: str) -> None:
        state = self._settle_rollback(name)
        svc = self.docker.stack_services().get(name)
        msg = update_state(svc)[1] if svc is not None else ""
        if state != "rollback_completed":
            raise RolloutError(
                f"the update of `{name}` failed and so did Swarm's rollback ({state}): {msg}",
                hint=f"`docker service ps {self.name}_{name} --no-trunc` shows the tasks' errors; "
                f"`docker service rollback {self.name}_{name}` tries again",
            )
        failed = [
            t
            for t in (self.docker.service_tasks(svc) if svc is not None else [])
            if t["Status"].get("Err")
            and (name != "gateway" or f"_litellm_{version}" in json.dumps(t["Spec"]["ContainerSpec"].get("Configs")))
        ]
        why = failed[0]["Status"]["Err"] if failed else msg
        what = f"the new gateway (config {version})" if name == "gateway" else f"the new `{name}`"
        raise RolledBack(
            f"{what} did not become healthy ({why}); Swarm rolled `{name}` back: the previous version keeps serving",
            hint=f"`docker service logs {self.name}_{name}` shows the failed task's log; fix it and "
            "`bin/ops swarm deploy` again",
            details=f"swarm: {msg}" if msg else None,
        )
