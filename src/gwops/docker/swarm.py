"""Swarm: nodes, secrets, configs, `docker stack` and the stack's services, tasks and volumes
(part of gwops.docker.Docker; the stack is named like the Compose project)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gwops.docker.convert import convert as _convert


class SwarmOps:
    """The Swarm calls of gwops.docker.Docker (which provides `sdk` and `project_name`)."""

    sdk: Any
    project_name: str

    @contextmanager
    def _swarm(self, what: str) -> Iterator[None]:
        """An engine error in a swarm call (no leader, a node gone, a name taken) as a DockerError."""
        import docker.errors

        try:
            yield
        except docker.errors.DockerException as exc:  # APIError included
            err = _convert(exc, what)
            err.hint = "`bin/ops swarm status` and `docker node ls` show the swarm's state; retry when it is settled"
            raise err from exc

    def swarm_node(self) -> dict[str, Any]:
        """This engine's swarm membership: `LocalNodeState` (active, inactive, ...),
        `ControlAvailable` (a manager) and `NodeID`."""
        with self._swarm("`docker info`"):
            return dict(self.sdk.info().get("Swarm") or {})

    def swarm_nodes(self) -> list[Any]:
        with self._swarm("`docker node ls`"):
            return self.sdk.nodes.list()

    def label_node(self, node: Any, label: str, value: str) -> None:
        spec = dict(node.attrs["Spec"])
        spec["Labels"] = {**(spec.get("Labels") or {}), label: value}
        with self._swarm(f"labelling node `{node.attrs['Description']['Hostname']}`"):
            node.update(spec)

    def swarm_secret_names(self, label: str) -> list[str]:
        with self._swarm("`docker secret ls`"):
            return sorted(s.name for s in self.sdk.secrets.list(filters={"label": label}))

    def create_swarm_secret(self, name: str, value: str, labels: dict[str, str]) -> None:
        """A Docker secret from a value in memory (never a file, never a process argument)."""
        with self._swarm(f"creating the swarm secret `{name}`"):
            self.sdk.secrets.create(name=name, data=value.encode(), labels=labels)

    def remove_unused_swarm_objects(self, kind: str, label: str, in_use: set[str]) -> list[str]:
        """Remove the `kind` (secrets, configs) carrying `label` that no service refers to."""
        import docker.errors

        removed = []
        with self._swarm(f"`docker {kind[:-1]} ls`"):
            found = getattr(self.sdk, kind).list(filters={"label": label})
        for obj in found:
            if obj.name not in in_use:
                try:
                    obj.remove()
                    removed.append(obj.name)
                except docker.errors.APIError:
                    pass  # still referred to (a rollback spec, a task shutting down): kept for the next run
        return removed

    def _cli(self, args: list[str], what: str) -> list[str]:
        from python_on_whales.exceptions import DockerException
        from python_on_whales.utils import run

        try:
            out = run(["docker", *args], capture_stdout=True, capture_stderr=True)
        except DockerException as exc:
            err = _convert(exc, what)
            err.hint = "see the details above; `bin/ops swarm status` shows the stack's services"
            raise err from exc
        return [line for line in (out or "").splitlines() if line.strip()]

    def stack_deploy(self, stack_file: Path) -> list[str]:
        """`docker stack deploy` (local images as they are: no registry lookup; services no longer
        in the file removed); its output lines."""
        return self._cli(
            [
                "stack",
                "deploy",
                "--prune",
                "--resolve-image",
                "never",
                "--compose-file",
                str(stack_file),
                self.project_name,
            ],
            "`docker stack deploy`",
        )

    def service_rollback(self, service: str) -> None:
        """Swarm's own rollback of a service to its previous spec (started; watch UpdateStatus)."""
        self._cli(["service", "rollback", "--detach", f"{self.project_name}_{service}"], "`docker service rollback`")

    def stack_rm(self) -> None:
        self._cli(["stack", "rm", self.project_name], "`docker stack rm`")

    def stack_services(self) -> dict[str, Any]:
        """The stack's services by their name in the stack file (`gateway`), attrs fresh."""
        label = f"com.docker.stack.namespace={self.project_name}"
        prefix = f"{self.project_name}_"
        with self._swarm("`docker service ls`"):
            return {s.name.removeprefix(prefix): s for s in self.sdk.services.list(filters={"label": label})}

    def service_tasks(self, service: Any, **filters: str) -> list[dict[str, Any]]:
        with self._swarm(f"`docker service ps {service.name}`"):
            return service.tasks(filters=filters or None)

    def stack_containers(self) -> list[Any]:
        """The stack's containers on this node (tasks' containers, running or not)."""
        with self._swarm("`docker ps`"):
            return self.sdk.containers.list(
                all=True, ignore_removed=True, filters={"label": f"com.docker.stack.namespace={self.project_name}"}
            )

    def stack_volumes(self, names: tuple[str, ...]) -> list[Any]:
        """The stack's volumes on this node (`names` as in the stack file). They have the Compose
        project's names: a Compose stack's data is the Swarm stack's on the same node."""
        import docker.errors

        found = []
        for n in names:
            try:
                found.append(self.sdk.volumes.get(f"{self.project_name}_{n}"))
            except docker.errors.NotFound:
                pass
        return found

    def remove_volume(self, volume: Any) -> None:
        with self._swarm(f"removing volume `{volume.name}`"):
            volume.remove(force=True)

    def stack_container(self, service: str) -> Any | None:
        """A running container of the stack's `service` on this node (a swarm task's)."""
        with self._swarm("`docker ps`"):
            found = self.sdk.containers.list(
                ignore_removed=True,
                filters={"label": f"com.docker.swarm.service.name={self.project_name}_{service}", "status": "running"},
            )
        return found[0] if found else None
