"""Deploy the stack to Docker Swarm, watch the rollout to its end, remove it.

The stack is named like the Compose project of the checkout. Swarm does the rolling update
(`start-first`, health-gated) and the rollback itself; this module makes what it needs (secrets,
the stack file), runs `docker stack deploy`, and follows the gateway service until its update has
completed or has been rolled back, saying which."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gwops import envfile, host
from gwops.config import store
from gwops.errors import AbortedError, DockerError, OpsError, PrerequisiteError, RolloutError, SafetyBackupError
from gwops.fsutil import atomic_write
from gwops.health import Health
from gwops.poll import Timeout, poll
from gwops.project import Project
from gwops.swarm import stackfile

Say = Callable[[str], None]
SERVICES = ("postgres", "redis", "gateway", "proxy", "prometheus")  # the order they are waited for
STATE_LABEL_VALUE = "true"
CONFIG_VERSION_LABEL = "gwops.config-version"


class RolledBack(RolloutError):
    """The new gateway failed and Swarm rolled the service back: the previous version serves."""


@dataclass
class Outcome:
    version: str  # the config version the gateway runs now
    updated: bool  # the gateway was replaced (a rolling update ran)
    seconds: float
    url: str


def _secret_label(stack: str) -> str:
    return f"gwops.swarm-stack={stack}"


class SwarmStack:
    def __init__(self, project: Project, say: Say):
        from gwops.stack import Stack  # the config and image steps are the Compose stack's own

        self.stack = Stack(project, say)
        self.project, self.say, self.settings = project, say, self.stack.settings
        self.name = self.stack.project_name
        self.docker = self.stack.docker
        self.dir = project.state_dir / "swarm"

    # -- checks ----------------------------------------------------------------------------------
    def check_manager(self) -> None:
        host.ensure_engine(self.project.logs_dir, self.say)
        node = self.docker.swarm_node()
        if node.get("LocalNodeState") != "active":
            raise PrerequisiteError("this Docker engine is not part of a swarm",
                                    hint="`docker swarm init` makes this host a one-node swarm (its manager); "
                                         "other hosts join with the command it prints")
        if not node.get("ControlAvailable"):
            raise PrerequisiteError("this node is a swarm worker: stacks are deployed from a manager",
                                    hint="run `bin/ops swarm deploy` on a manager node (`docker node ls` lists them)")

    def check_no_compose_stack(self) -> None:
        running = [c.name for cs in self.docker.all_containers().values() for c in cs if c.status == "running"]
        if running:
            raise PrerequisiteError(
                f"the Compose stack of this checkout is running ({len(running)} containers, e.g. `{running[0]}`): "
                "Swarm would start a second Postgres on the same data volume",
                hint="`bin/ops down` first (its volumes stay, and the Swarm stack uses them on this node), then retry")

    def state_node(self) -> str:
        """The one node labelled for Postgres and Redis; on a one-node swarm, labelled here."""
        label = self.settings.swarm.state_label
        nodes = self.docker.swarm_nodes()
        marked = [n for n in nodes if (n.attrs["Spec"].get("Labels") or {}).get(label) == STATE_LABEL_VALUE]
        if len(marked) == 1:
            return marked[0].attrs["Description"]["Hostname"]
        if len(marked) > 1:
            names = ", ".join(n.attrs["Description"]["Hostname"] for n in marked)
            raise PrerequisiteError(f"{len(marked)} nodes carry the label `{label}=true` ({names}): Postgres "
                                    "and Redis must stay on the one node that holds their volumes",
                                    hint=f"`docker node update --label-rm {label} NODE` on all but one")
        if len(nodes) == 1:
            self.docker.label_node(nodes[0], label)
            name = nodes[0].attrs["Description"]["Hostname"]
            self.say(f"labelled node `{name}` `{label}=true`: Postgres and Redis (and their volumes) live there")
            return name
        raise PrerequisiteError(f"no node carries the label `{label}=true`, and this swarm has {len(nodes)} nodes",
                                hint=f"choose the node that keeps the data: `docker node update --label-add "
                                     f"{label}=true NODE`, then retry")

    # -- deploy ----------------------------------------------------------------------------------
    def secrets(self, env: dict[str, str], provider_env: list[str]) -> dict[str, str]:
        """Every secret the services read, as Docker secrets (made once per value)."""
        keys = [*stackfile.CORE_SECRETS, *sorted(set(provider_env) - set(stackfile.CORE_SECRETS))]
        have = set(self.docker.swarm_secret_names(_secret_label(self.name)))
        names = {}
        for key in keys:
            name = stackfile.secret_name(self.name, key, env[key])
            if name not in have:
                self.docker.create_swarm_secret(name, env[key], {"gwops.swarm-stack": self.name, "gwops.key": key})
            names[key] = name
        return names

    def command_of(self, image: str) -> list[str]:
        cfg = self.docker.image_config(image)
        return [*(cfg.get("Entrypoint") or []), *(cfg.get("Cmd") or [])]

    def render(self, env: dict[str, str], version: str, provider_env: list[str], images: dict[str, str],
               database: bool) -> Path:
        for name, text in stackfile.config_files(self.settings, self.name).items():
            atomic_write(self.dir / name, text)
        gateway_cmd = self.docker.image_config(images["gateway"]).get("Entrypoint") or []
        inp = stackfile.Inputs(
            stack=self.name, settings=self.settings, version=version, images=images,
            commands={"gateway": list(gateway_cmd), "postgres": self.command_of(images["postgres"])},
            secrets=self.secrets(env, provider_env), database=database, env=env,
            socket_gid=self.docker.socket_gid())
        path = self.dir / "stack.yml"
        atomic_write(path, stackfile.render(inp, store.version_path(self.project, version), self.dir))
        return path

    def deploy(self) -> Outcome:
        from gwops.stack import database_wired

        t0 = time.monotonic()
        with self.stack.lock("deploy the stack to swarm"):
            self.check_manager()
            self.check_no_compose_stack()
            env = envfile.ensure(self.project.env_file, self.project.env_example,
                                 self.stack.managed_env("blue")).values
            compiled = self.stack.validate(env)
            version = store.publish_version(self.project, compiled.text)
            choices = self.stack.images()
            images = {c.service: c.image for c in choices if c.kind != "missing"}
            node = self.state_node()
            path = self.render(env, version, sorted(compiled.catalog.env_needed), images, database_wired(choices))
            before = self.docker.stack_services().get("gateway")
            before_spec = before.attrs["Spec"] if before is not None else None
            self.say(f"deploying stack `{self.name}` (gateway config {version}, {self.settings.gateway.replicas} "
                     f"replicas; Postgres and Redis on `{node}`)")
            for line in self.docker.stack_deploy(path):
                self.say(f"swarm: {line}")
            gw = self.docker.stack_services()["gateway"]
            updated = before_spec is not None and gw.attrs["Spec"] != before_spec
            self.wait(version, updated)
            # through the published port: the proxy has found the tasks, and each route answers
            gw_settings = self.settings.gateway
            Health(self.docker, self.say, self.settings.health.service_timeout).gateway(
                self.stack.url, env["LITELLM_MASTER_KEY"], compiled.route_checks(), gw_settings.ready_timeout,
                gw_settings.route_check_timeout, "proxy")
            self.prune()
            atomic_write(self.dir / "deployed.json", json.dumps({"version": version}) + "\n")
        return Outcome(version, updated, time.monotonic() - t0, self.stack.url)

    def _deadline(self) -> float:
        gw = self.settings.gateway
        per_task = gw.ready_timeout + 5 * 3 + self.settings.swarm.update_monitor + 30
        return self.settings.health.service_timeout + per_task * (gw.replicas + 1) * 2

    def wait(self, version: str, updated: bool) -> None:
        """Until every service runs its desired tasks on the new spec, or Swarm rolled the gateway
        back (RolledBack, exit 4). Progress every change."""
        last = [""]

        def check() -> bool | None:
            services = self.docker.stack_services()
            rows = []
            done = True
            for name in SERVICES:
                svc = services.get(name)
                if svc is None:
                    if name == "prometheus" and not self.settings.monitoring.enabled:
                        continue
                    return None
                state = (svc.attrs.get("UpdateStatus") or {}).get("State", "")
                if name == "gateway" and updated and state in ("rollback_started", "rollback_completed",
                                                               "rollback_paused"):
                    self._rolled_back(svc, version, state)
                if name == "gateway" and updated and state == "paused":
                    raise RolloutError(f"the gateway's rolling update paused: {svc.attrs['UpdateStatus'].get('Message')}",
                                      hint=f"`docker service ps {self.name}_gateway --no-trunc` shows why; "
                                           "`bin/ops swarm deploy` again after the fix")
                running, want = self._tasks(svc, version if name == "gateway" else None)
                rows.append(f"{name} {running}/{want}" + (f" ({state})" if state and state != "completed" else ""))
                done = done and running >= want and (name != "gateway" or not updated or state == "completed")
            line = ", ".join(rows)
            if line != last[0]:
                self.say(line)
                last[0] = line
            return True if done else None

        try:
            poll(check, self._deadline(), interval=1)
        except Timeout:
            raise RolloutError(f"the swarm stack `{self.name}` did not converge in {self._deadline():.0f} s ({last[0]})",
                              hint=f"`docker stack ps {self.name} --no-trunc` shows each task's error; "
                                   "`bin/ops swarm status` the services") from None

    def _tasks(self, svc: Any, version: str | None) -> tuple[int, int]:
        """(tasks running and healthy [on `version`], tasks wanted)."""
        mode = svc.attrs["Spec"]["Mode"]
        tasks = svc.tasks(filters={"desired-state": "running"})
        if version is not None:
            tasks = [t for t in tasks if f"_litellm_{version}" in json.dumps(t["Spec"]["ContainerSpec"].get("Configs"))]
        running = sum(1 for t in tasks if t["Status"]["State"] == "running")
        want = mode["Replicated"]["Replicas"] if "Replicated" in mode else max(1, len(tasks))
        return running, want

    def _rolled_back(self, svc: Any, version: str, state: str) -> None:
        msg = (svc.attrs.get("UpdateStatus") or {}).get("Message", "")
        if state == "rollback_started":
            poll(lambda: True if (self.docker.stack_services()["gateway"].attrs.get("UpdateStatus") or {})
                 .get("State") != "rollback_started" else None, self._deadline(), interval=1)
        failed = [t for t in svc.tasks() if f"_litellm_{version}" in json.dumps(t["Spec"]["ContainerSpec"].get("Configs"))
                  and t["Status"].get("Err")]
        why = failed[0]["Status"]["Err"] if failed else msg
        raise RolledBack(f"the new gateway (config {version}) did not become healthy ({why}); Swarm rolled the "
                         "gateway back: the previous version keeps serving",
                         hint=f"`docker service logs {self.name}_gateway` shows the failed task's log; fix the "
                              "config and `bin/ops swarm deploy` again", details=f"swarm: {msg}" if msg else None)

    def prune(self) -> None:
        """Secrets and configs of earlier deploys that no service refers to any more."""
        in_use: set[str] = set()
        for svc in self.docker.stack_services().values():
            for spec in (svc.attrs.get("Spec"), svc.attrs.get("PreviousSpec")):
                task = (spec or {}).get("TaskTemplate", {}).get("ContainerSpec", {})
                in_use |= {c["ConfigName"] for c in task.get("Configs") or []}
                in_use |= {s["SecretName"] for s in task.get("Secrets") or []}
        self.docker.remove_unused_swarm_objects("secrets", _secret_label(self.name), in_use)
        self.docker.remove_unused_swarm_objects("configs", f"com.docker.stack.namespace={self.name}", in_use)

    # -- status, rm ------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        self.check_manager()
        rows = []
        for name, svc in sorted(self.docker.stack_services().items()):
            running, want = self._tasks(svc, None)
            upd = svc.attrs.get("UpdateStatus") or {}
            rows.append({"service": name, "running": running, "desired": want, "update": upd.get("State", ""),
                         "update_message": upd.get("Message", ""),
                         "config_version": (svc.attrs["Spec"].get("Labels") or {}).get(CONFIG_VERSION_LABEL, ""),
                         "image": svc.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0]})
        ok = bool(rows) and all(r["running"] >= r["desired"] for r in rows)
        return {"stack": self.name, "overall": "healthy" if ok else ("down" if not rows else "degraded"),
                "services": rows, "url": self.stack.url}

    def rm(self, volumes: bool, confirm: Callable[[str], bool], backup: bool = True) -> str | None:
        """Remove the stack; its volumes only with `volumes` (a verified backup first unless not
        `backup`). Returns the backup's id."""
        if volumes and not confirm("delete the swarm stack's data volumes on this node (Postgres: keys, teams, "
                                   "spend; Redis: cache)?"):
            raise AbortedError("nothing was deleted", hint="add `--yes` to confirm without a prompt")
        taken = None
        with self.stack.lock("remove the swarm stack"):
            self.check_manager()
            if volumes and backup and self.docker.stack_container("postgres") is not None:
                self.say("taking a backup before deleting the volumes")
                try:
                    taken = self.stack.backups().backup().manifest.id
                except OpsError as exc:
                    raise SafetyBackupError(exc.message, exc.hint, exc.exit_code) from exc
            if self.docker.stack_services():
                self.say(f"removing stack `{self.name}`")
                self.docker.stack_rm()
            try:
                poll(lambda: True if not self.docker.stack_containers() else None, 120, interval=1)
            except Timeout:
                raise DockerError("the stack's containers were still there after 120 s",
                                  hint=f"`docker ps -a --filter label=com.docker.stack.namespace={self.name}`") from None
            self.docker.remove_unused_swarm_objects("secrets", _secret_label(self.name), set())
            if volumes:
                for v in self.docker.stack_volumes(("postgres-data", "redis-data")):
                    v.remove(force=True)
                    self.say(f"deleted volume `{v.name}`")
            (self.dir / "deployed.json").unlink(missing_ok=True)
        return taken
