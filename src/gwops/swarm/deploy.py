"""Deploy the stack to Docker Swarm, watch the rollout to its end, remove it.

The stack is named like the Compose project of the checkout. Swarm does the rolling update
(`start-first`, health-gated) and the rollback itself; this module makes what it needs (secrets,
the stack file), runs `docker stack deploy`, and follows every service whose tasks had to change
until its update has completed, or been rolled back, saying which. A new gateway config whose
routes then fail their check through the proxy is rolled back the same way (`docker service
rollback`)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gwops import envfile, host, migrations, slots
from gwops.components import REGISTRY, postgres
from gwops.config import store
from gwops.docker import StackTasks
from gwops.errors import AbortedError, DockerError, HealthError, PrerequisiteError, RolledBack
from gwops.fsutil import atomic_write
from gwops.health import Health
from gwops.images import Images
from gwops.poll import Timeout, poll
from gwops.project import Project
from gwops.swarm import stackfile
from gwops.swarm.rollout import RolloutWatch, update_state

Say = Callable[[str], None]
# the volumes the components with a Swarm service keep their data in
VOLUMES = tuple(v for c in REGISTRY if c.swarm_template is not None for v in c.volumes)
STATE_LABEL_VALUE = "true"
CONFIG_VERSION_LABEL = "gwops.config-version"


@dataclass
class DeployOutcome:
    version: str  # the config version the gateway runs now
    updated: bool  # the gateway was replaced (a rolling update ran)
    seconds: float
    url: str


def _secret_label(stack: str) -> str:
    return f"gwops.swarm-stack={stack}"


def _task_spec(svc: Any) -> Any:
    """What makes a service's tasks out of date (a change elsewhere, e.g. its replica count,
    replaces no task and leaves no update state to wait for)."""
    spec = svc.attrs["Spec"]
    return spec.get("TaskTemplate"), spec.get("EndpointSpec")


class SwarmStack(RolloutWatch):
    def __init__(self, project: Project, say: Say):
        from gwops.stack import Stack  # the config and image steps are the Compose stack's own

        self.stack = Stack(project, say)
        self.project, self.say, self.settings = project, say, self.stack.settings
        self.name = self.stack.project_name
        self.docker = self.stack.docker
        self.dir = project.state_dir / "swarm"

    # -- checks ----------------------------------------------------------------------------------
    def check_manager(self) -> dict[str, Any]:
        host.ensure_engine(self.project.logs_dir, self.say)
        node = self.docker.swarm_node()
        if node.get("LocalNodeState") != "active":
            raise PrerequisiteError(
                "this Docker engine is not part of a swarm",
                hint="`docker swarm init` makes this host a one-node swarm (its manager); "
                "other hosts join with the command it prints",
            )
        if not node.get("ControlAvailable"):
            raise PrerequisiteError(
                "this node is a swarm worker: stacks are deployed from a manager",
                hint="run `bin/ops swarm deploy` on a manager node (`docker node ls` lists them)",
            )
        return node

    def check_deployable(self) -> None:
        running = [c.name for cs in self.docker.all_containers().values() for c in cs if c.status == "running"]
        if running:
            raise PrerequisiteError(
                f"the Compose stack of this checkout is running ({len(running)} containers, e.g. `{running[0]}`): "
                "Swarm would start a second Postgres on the same data volume",
                hint="`bin/ops down` first (its volumes stay, and the Swarm stack uses them on this node), then retry",
            )
        if self.settings.optillm.enabled:
            raise PrerequisiteError(
                "the OptiLLM sidecar (`optillm.enabled`) is not in the Swarm stack: its ensembles "
                "would route to nothing",
                hint="turn `optillm.enabled` off in config/stack.yaml "
                "(and remove `ensembles:`), or run the stack with `bin/ops up`",
            )

    def state_node(self) -> Any:
        """The one node labelled for Postgres and Redis; on a one-node swarm, labelled here."""
        label = self.settings.swarm.state_label
        nodes = self.docker.swarm_nodes()
        marked = [n for n in nodes if (n.attrs["Spec"].get("Labels") or {}).get(label) == STATE_LABEL_VALUE]
        if len(marked) == 1:
            return marked[0]
        if len(marked) > 1:
            names = ", ".join(n.attrs["Description"]["Hostname"] for n in marked)
            raise PrerequisiteError(
                f"{len(marked)} nodes carry the label `{label}={STATE_LABEL_VALUE}` ({names}): "
                "Postgres and Redis must stay on the one node that holds their volumes",
                hint=f"`docker node update --label-rm {label} NODE` on all but one",
            )
        if len(nodes) == 1:
            self.docker.label_node(nodes[0], label, STATE_LABEL_VALUE)
            self.say(
                f"labelled node `{nodes[0].attrs['Description']['Hostname']}` `{label}={STATE_LABEL_VALUE}`: "
                "Postgres and Redis (and their volumes) live there"
            )
            return nodes[0]
        raise PrerequisiteError(
            f"no node carries the label `{label}={STATE_LABEL_VALUE}`, and this swarm has {len(nodes)} nodes",
            hint=f"choose the node that keeps the data: `docker node update "
            f"--label-add {label}={STATE_LABEL_VALUE} NODE`, then retry",
        )

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

    def render(
        self, env: dict[str, str], version: str, provider_env: list[str], images: dict[str, str], database: bool
    ) -> Path:
        for name, text in stackfile.config_files(self.settings, self.name).items():
            atomic_write(self.dir / name, text)
        gw, pg = self.docker.image_config(images["gateway"]), self.docker.image_config(images["postgres"])
        inp = stackfile.Inputs(
            stack=self.name,
            settings=self.settings,
            version=version,
            images=images,
            image_ids={svc: self.docker.image_id(ref) or "" for svc, ref in images.items()},
            # the gateway gets its own arguments; Postgres runs as its image says
            commands={
                "gateway": list(gw.get("Entrypoint") or []),
                "postgres": [*(pg.get("Entrypoint") or []), *(pg.get("Cmd") or [])],
            },
            secrets=self.secrets(env, provider_env),
            database=database,
            env=env,
            socket_gid=host.docker_socket_gid(),
        )
        path = self.dir / "stack.yml"
        atomic_write(path, stackfile.render(inp, store.version_path(self.project, version), self.dir))
        return path

    def deploy(self) -> DeployOutcome:
        t0 = time.monotonic()
        with self.stack.lock("deploy the stack to swarm"):
            self.check_manager()
            self.check_deployable()
            env = envfile.ensure(
                self.project.env_file, self.project.env_example, self.stack.managed_env(slots.load(self.project).active)
            ).values
            compiled = self.stack.validate(env)
            version = store.publish_version(self.project, compiled.text)
            imgs = Images(self.project, self.settings, self.docker, self.say)
            choices = [imgs.choose_one(c.name) for c in stackfile.services(self.settings)]
            for c in choices:
                self.say(c.line())
            images = {c.service: c.image for c in choices}
            node = self.state_node()
            database = self.settings.database.enabled
            path = self.render(env, version, sorted(compiled.catalog.env_needed), images, database)
            if database:
                self.migrate(path, images["gateway"], env)
            before = {name: _task_spec(svc) for name, svc in self.docker.stack_services().items()}
            self.say(
                f"deploying stack `{self.name}` (gateway config {version}, {self.settings.gateway.replicas} "
                f"replicas; Postgres and Redis on `{node.attrs['Description']['Hostname']}`)"
            )
            for line in self.docker.stack_deploy(path):
                self.say(f"swarm: {line}")
            after = self.docker.stack_services()
            changed = {name for name, svc in after.items() if name in before and _task_spec(svc) != before[name]}
            self.wait(changed, version)
            updated = "gateway" in changed
            self.check_routes(env["LITELLM_MASTER_KEY"], compiled.route_checks(), version, updated)
            self.prune()
            atomic_write(self.dir / "deployed.json", json.dumps({"version": version}) + "\n")
        return DeployOutcome(version, updated, time.monotonic() - t0, self.stack.url)

    def migrate(self, stack_file: Path, gateway_image: str, env: dict[str, str]) -> None:
        """LiteLLM's migrations the gateway image ships, applied through the Postgres task on this
        node before any gateway task of this deploy starts (the gateways never migrate). A first
        deploy starts Postgres alone first; on a later one the serving gateways keep serving
        while the new version's migrations run (they only add), as with `bin/ops up`."""
        tasks = StackTasks(self.project, self.name)
        if not self.docker.stack_services():
            first = self.dir / "stack.postgres.yml"
            atomic_write(first, stackfile.only(stack_file.read_text(), {postgres.SERVICE}))
            self.say("starting Postgres first: LiteLLM's migrations run before any gateway starts")
            for line in self.docker.stack_deploy(first):
                self.say(f"swarm: {line}")
        pg_env = postgres.client_env(env)

        def ready() -> bool | None:
            code, _ = tasks.exec(postgres.SERVICE, ["pg_isready", "-q"], env=pg_env)
            return True if code == 0 else None

        try:
            poll(ready, self.settings.health.service_timeout, interval=1)
        except Timeout:
            raise PrerequisiteError(
                f"no running Postgres task of stack `{self.name}` answered on this node in "
                f"{self.settings.health.service_timeout:.0f} s: LiteLLM's migrations run through it",
                hint=f"`docker service ps {self.name}_postgres --no-trunc` shows why; Postgres runs on the node "
                f"labelled `{self.settings.swarm.state_label}`: deploy from that node (or set "
                "`database.enabled: false` in config/stack.yaml for the master key alone)",
            ) from None
        found = migrations.bundled(self.docker, gateway_image, self.project.state_dir / "cache")
        self.say(
            migrations.apply(tasks, postgres.SERVICE, pg_env, found, self.settings.database.migrate_timeout).line()
        )

    def check_routes(self, master_key: str, routes: Any, version: str, updated: bool) -> None:
        """Through the published port: the proxy has found the tasks, and each route answers. A new
        gateway config whose routes fail is rolled back (Swarm's rollback), like a failed task."""
        gw = self.settings.gateway
        try:
            Health(self.docker, self.say, self.settings.health.service_timeout).gateway(
                self.stack.url, master_key, routes, gw.ready_timeout, gw.route_check_timeout, "proxy"
            )
        except HealthError as exc:
            if not updated:
                raise
            self.say(f"the new gateway config fails its check ({exc.reason[:200]}): rolling the gateway back")
            self.docker.service_rollback("gateway")
            state = self._settle_rollback()
            raise RolledBack(
                f"the new gateway (config {version}) failed `{exc.check}`: {exc.reason[:300]}; the "
                f"gateway was rolled back ({state}): the previous version keeps serving",
                hint=exc.hint,
            ) from None

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
            state, msg = update_state(svc)
            rows.append(
                {
                    "service": name,
                    "running": running,
                    "desired": want,
                    "update": state,
                    "update_message": msg,
                    "config_version": (svc.attrs["Spec"].get("Labels") or {}).get(CONFIG_VERSION_LABEL, ""),
                    "image": svc.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0],
                }
            )
        ok = bool(rows) and all(r["running"] >= r["desired"] for r in rows)
        return {
            "stack": self.name,
            "overall": "healthy" if ok else ("down" if not rows else "degraded"),
            "services": rows,
            "url": self.stack.url,
        }

    def rm(self, volumes: bool, confirm: Callable[[str], bool], backup: bool = True) -> str | None:
        """Remove the stack; its volumes (on this node, which must be the state node) only with
        `volumes`, after a verified backup unless not `backup`. Returns the backup's id."""
        if volumes and not confirm(
            "delete the swarm stack's data volumes on this node (Postgres: keys, teams, "
            "spend; Redis: cache; metrics history)?"
        ):
            raise AbortedError("nothing was deleted", hint="add `--yes` to confirm without a prompt")
        taken = None
        with self.stack.lock("remove the swarm stack"):
            node = self.check_manager()
            if volumes:
                label = self.settings.swarm.state_label
                nodes = self.docker.swarm_nodes()
                here = next((n for n in nodes if n.id == node.get("NodeID")), None)
                if (
                    here is not None
                    and (here.attrs["Spec"].get("Labels") or {}).get(label) != STATE_LABEL_VALUE
                    and len(nodes) > 1
                ):
                    raise PrerequisiteError(
                        f"the volumes live on the node labelled `{label}={STATE_LABEL_VALUE}`, "
                        "not this one: nothing was removed",
                        hint="run `bin/ops swarm rm --volumes` on that node (a manager), or "
                        "`bin/ops swarm rm` here and delete the volumes there",
                    )
                if backup:
                    taken = self.stack.safety_backup(swarm=True)
                else:
                    self.say("deleting the volumes without a backup (`--no-backup`)")
            if self.docker.stack_services():
                self.say(f"removing stack `{self.name}`")
                self.docker.stack_rm()
            try:
                poll(lambda: True if not self.docker.stack_containers() else None, 120, interval=1)
            except Timeout:
                raise DockerError(
                    "the stack's containers were still there after 120 s",
                    hint=f"`docker ps -a --filter label=com.docker.stack.namespace={self.name}`",
                ) from None
            self.docker.remove_unused_swarm_objects("secrets", _secret_label(self.name), set())
            if volumes:
                for v in self.docker.stack_volumes(VOLUMES):
                    self.docker.remove_volume(v)
                    self.say(f"deleted volume `{v.name}`")
            (self.dir / "deployed.json").unlink(missing_ok=True)
        return taken
