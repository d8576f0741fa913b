"""The one place that talks to Docker: a python-on-whales client for Compose and the docker SDK
for containers, exec, images and builds. Nothing else in the project runs `docker`."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from gwops.constants import SLOTS
from gwops.errors import DockerError
from gwops.project import Project

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
NUMBER_LABEL = "com.docker.compose.container-number"
CONFIG_HASH_LABEL = "com.docker.compose.config-hash"
VOLUME_LABEL = "com.docker.compose.volume"
IMAGE_LABEL = "com.docker.compose.image"  # the image id the container was created from
CPU_PERIOD_US = 100_000  # the CFS period of a CPU limit (Docker's default)
# `$NAME` / `${NAME...}` in a compose file: the environment variables its interpolation may read
VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class ComposeModel:
    """What `up` needs from `docker compose config`: each service's dependencies, replica count
    and config hash (the `com.docker.compose.config-hash` its containers must carry). No values:
    it is cached on disk, and the resolved config holds secrets from `.env`."""

    depends_on: dict[str, list[str]]
    scale: dict[str, int]
    hashes: dict[str, str]

    def as_config(self) -> dict[str, Any]:
        return {"services": {s: {"depends_on": {d: {} for d in deps}} for s, deps in self.depends_on.items()}}


def _convert(exc: Exception, what: str) -> DockerError:
    cmd = getattr(exc, "docker_command", None)
    code = getattr(exc, "return_code", None)
    stderr = (getattr(exc, "stderr", None) or "").strip()
    stdout = (getattr(exc, "stdout", None) or "").strip()
    details = "\n".join(
        x
        for x in (
            f"command: {' '.join(cmd)}" if cmd else "",
            f"exit code: {code}" if code is not None else "",
            stderr[-3000:],
            stdout[-1000:] if not stderr else "",
        )
        if x
    )
    first = (stderr or stdout or str(exc)).strip().splitlines()
    return DockerError(
        f"{what} failed: {first[-1] if first else exc}",
        hint="see the details above; `bin/ops status` shows what is running",
        details=details or None,
    )


class Docker:
    def __init__(self, project: Project, project_name: str):
        self.project = project
        self.project_name = project_name

    @cached_property
    def compose(self) -> Any:
        from python_on_whales import DockerClient

        env_file = self.project.env_file
        return DockerClient(
            compose_files=[str(p) for p in self.project.compose_files()],
            compose_project_name=self.project_name,
            compose_project_directory=str(self.project.root),
            # both gateway slots are visible to bin/ops; plain compose uses COMPOSE_PROFILES in .env
            compose_profiles=list(SLOTS),
            compose_env_files=[str(env_file)] if env_file.exists() else [],
        )

    @cached_property
    def sdk(self) -> Any:
        import docker

        try:
            return docker.from_env(timeout=120)
        except Exception as exc:  # noqa: BLE001 - the SDK raises several unrelated types here
            raise DockerError(
                f"cannot reach the Docker engine: {exc}",
                hint="start it (`dockerd`), or run `bin/ops up` to have it started",
            ) from exc

    # -- compose ---------------------------------------------------------------------------------
    def compose_config(self) -> dict[str, Any]:
        from python_on_whales.exceptions import DockerException

        try:
            out = self.compose.compose.config(return_json=True)
        except DockerException as exc:
            raise _convert(exc, "`docker compose config`") from exc
        return out if isinstance(out, dict) else json.loads(out)

    def _config_hashes(self) -> dict[str, str]:
        from python_on_whales.exceptions import DockerException
        from python_on_whales.utils import run

        try:
            out = run(self.compose.compose.docker_compose_cmd + ["config", "--hash", "*"], capture_stdout=True)
        except DockerException as exc:
            raise _convert(exc, "`docker compose config --hash '*'`") from exc
        return dict(line.split()[-2:] for line in (out or "").splitlines() if len(line.split()) >= 2)

    def _model_key(self, compose_version: str) -> str:
        """Everything the resolved config depends on: the compose files, `.env`, the variables of
        this process's environment they name (these override `.env`), the Compose version."""
        h = hashlib.sha256(f"{compose_version}\0{self.project_name}\0{self.project.root}\0".encode())
        texts = []
        for path in [*self.project.compose_files(), self.project.env_file]:
            data = path.read_bytes() if path.exists() else b""
            h.update(f"{path}\0{len(data)}\0".encode() + data)
            texts.append(data.decode(errors="replace"))
        names = set(VARIABLE.findall("\n".join(texts)))
        for k in sorted(os.environ):
            if k in names or k.startswith(("COMPOSE_", "DOCKER_")):
                h.update(f"{k}={os.environ[k]}\0".encode())
        return h.hexdigest()

    def compose_model(self, compose_version: str = "") -> ComposeModel:
        """The compose model, from a cache under state/ while its inputs are unchanged (a warm `up`
        runs no `docker compose config` at all), else from `docker compose config` (twice at once)."""
        from concurrent.futures import ThreadPoolExecutor

        key = self._model_key(compose_version)
        cache = self.project.state_dir / "cache" / "compose-model.json"
        try:
            cached = json.loads(cache.read_text())
            if cached.get("key") == key:
                return ComposeModel(cached["depends_on"], cached["scale"], cached["hashes"])
        except (OSError, ValueError, KeyError):
            pass
        with ThreadPoolExecutor(2) as pool:
            hashes = pool.submit(self._config_hashes)
            config = self.compose_config()
        services = config.get("services", {})
        model = ComposeModel(
            depends_on={n: sorted((svc.get("depends_on") or {}).keys()) for n, svc in services.items()},
            scale={
                n: int(svc.get("scale") or (svc.get("deploy") or {}).get("replicas") or 1)
                for n, svc in services.items()
            },
            hashes=hashes.result(),
        )
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.name}.{os.getpid()}")
        tmp.write_text(
            json.dumps({"key": key, "depends_on": model.depends_on, "scale": model.scale, "hashes": model.hashes})
        )
        os.chmod(tmp, 0o600)
        os.replace(tmp, cache)
        return model

    def would_recreate(self, service: str, c: Any, model: ComposeModel) -> bool:
        """True if `docker compose up` would recreate `c`, this service's container: its config
        hash (`docker compose config --hash`) differs from the one it was created with."""
        return c.labels.get(CONFIG_HASH_LABEL) != model.hashes.get(service)

    def up_to_date(self, service: str, found: list[Any], model: ComposeModel, image: str | None) -> bool:
        """True if `docker compose up` would leave this service as it is: as many containers as its
        scale, all running, none to recreate (same config hash, created from the current `image`)."""
        image_id = self.image_id(image) if image else None
        return (
            len(found) == model.scale.get(service, 1)
            and image_id is not None
            and all(
                c.status == "running"
                and not self.would_recreate(service, c, model)
                and c.labels.get(IMAGE_LABEL) == image_id
                for c in found
            )
        )

    def compose_up(self, services: list[str], start: bool = True) -> None:
        """Create (and unless `start` is False, start) these services' containers."""
        from python_on_whales.exceptions import DockerException

        try:
            self.compose.compose.up(services, detach=True, dependencies=False, quiet=True, pull="never", start=start)
        except DockerException as exc:
            raise _convert(exc, f"starting {', '.join(services)}") from exc

    def set_cpu(self, service: str, shares: int, cpus: float | None = None) -> None:
        """Every container of a service at CPU weight `shares` (relative to the others; 1024 is
        Docker's default) and capped at `cpus` CPUs (a CFS quota; None or 0: no cap), in one update."""
        quota = round(cpus * CPU_PERIOD_US) if cpus else -1
        self._on_containers(
            service,
            f"setting the CPU weight and limit of {service}",
            lambda c: c.update(cpu_shares=shares, cpu_period=CPU_PERIOD_US, cpu_quota=quota),
        )

    def start(self, service: str) -> None:
        self._on_containers(service, f"starting {service}", lambda c: c.start())

    def signal(self, service: str, sig: str) -> None:
        self._on_containers(service, f"sending {sig} to {service}", lambda c: c.kill(signal=sig))

    def _on_containers(self, service: str, what: str, action: Callable[[Any], object]) -> None:
        import docker

        found = self.replicas(service)
        if not found:
            raise DockerError(f"{what} failed: `{service}` has no container")
        try:
            for c in found:
                action(c)
        except docker.errors.APIError as exc:
            raise _convert(exc, what) from exc

    def compose_rm(self, services: list[str]) -> None:
        """Stop and remove these services' containers (graceful stop first)."""
        from python_on_whales.exceptions import DockerException

        try:
            self.compose.compose.rm(services, stop=True, volumes=False)
        except DockerException as exc:
            raise _convert(exc, f"removing {', '.join(services)}") from exc

    def stop_and_remove(self, service: str, done_marker: bytes, timeout: float) -> None:
        """SIGTERM to every container of the service, wait until each exits or logs `done_marker`
        (its graceful shutdown is complete), then remove them. Faster than `docker stop` for
        processes whose interpreter teardown outlasts their shutdown, and just as safe."""
        import time

        from gwops.poll import Timeout, poll

        found = self.replicas(service)
        since = int(time.time()) - 1
        # no restart policy from here on: a replica that exits is not brought back
        running = [c for c in found if c.status == "running"]
        for c in running:
            c.update(restart_policy={"Name": "no"})
            c.kill(signal="SIGTERM")

        def finished() -> bool | None:
            for c in running:
                c.reload()
            if all(c.status != "running" or done_marker in c.logs(since=since) for c in running):
                return True
            return None

        try:
            poll(finished, timeout, 0.1)
        except Timeout:
            pass  # removal below kills them: the drain timeout has passed
        for c in found:
            c.remove(force=True)

    def compose_down(self, volumes: bool) -> None:
        from python_on_whales.exceptions import DockerException

        try:
            self.compose.compose.down(volumes=volumes, remove_orphans=True, quiet=True)
        except DockerException as exc:
            raise _convert(exc, "`docker compose down`") from exc

    def compose_logs(self, service: str | None, follow: bool, tail: int | None) -> Iterator[str]:
        from python_on_whales.exceptions import DockerException

        try:
            stream = self.compose.compose.logs(
                services=[service] if service else [], follow=follow, stream=True, tail=str(tail) if tail else None
            )
            for _source, chunk in stream:
                yield chunk.decode(errors="replace")
        except DockerException as exc:
            raise _convert(exc, "`docker compose logs`") from exc

    # -- containers ------------------------------------------------------------------------------
    def all_containers(self, service: str | None = None) -> dict[str, list[Any]]:
        """This project's containers (running or not; only `service`'s if given) by service name,
        each service's in replica order (Compose's container number). One list call, then one
        inspect per container (the SDK's): their attrs are fresh."""
        labels = [f"{PROJECT_LABEL}={self.project_name}"] + ([f"{SERVICE_LABEL}={service}"] if service else [])
        found = self.sdk.containers.list(all=True, filters={"label": labels})
        out: dict[str, list[Any]] = {}
        for c in sorted(found, key=lambda c: int(c.labels.get(NUMBER_LABEL) or 0)):
            out.setdefault(c.labels.get(SERVICE_LABEL, c.name), []).append(c)
        return out

    def containers(self) -> dict[str, Any]:
        """This project's containers by service name: the first replica of each service."""
        return {svc: cs[0] for svc, cs in self.all_containers().items()}

    def replicas(self, service: str) -> list[Any]:
        """Every container of a service, in replica order (a gateway slot runs several)."""
        return self.all_containers(service).get(service, [])

    def volumes(self) -> list[str]:
        """This project's volumes by their name in docker-compose.yml (e.g. `postgres-data`)."""
        found = self.sdk.volumes.list(filters={"label": f"{PROJECT_LABEL}={self.project_name}"})
        return sorted((v.attrs.get("Labels") or {}).get(VOLUME_LABEL, v.name) for v in found)

    def container(self, service: str) -> Any | None:
        """A service's first container (its first replica), if it has one."""
        return next(iter(self.replicas(service)), None)

    def tail_logs(self, service: str, lines: int = 30) -> str:
        found = self.replicas(service)
        if not found:
            return "(no container)"
        parts = []
        for c in found:
            try:
                text = c.logs(tail=lines).decode(errors="replace").rstrip()
            except Exception as exc:  # noqa: BLE001
                text = f"(logs unavailable: {exc})"
            parts.append(text if len(found) == 1 else f"--- {c.name}\n{text}")
        return "\n".join(parts)

    def exec(self, service: str, cmd: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
        """The exit code and output of `cmd` in the service's container; 127 without a container,
        126 when Docker cannot run it there (the container is stopped or restarting)."""
        import docker

        c = self.container(service)
        if c is None:
            return 127, f"no container for service `{service}`"
        try:
            res = c.exec_run(cmd, environment=env or {}, demux=False)
        except docker.errors.APIError as exc:
            return 126, f"`{service}` cannot run a command: {exc.explanation or exc}"
        return res.exit_code, (res.output or b"").decode(errors="replace")

    def put_file(self, service: str, path: str, data: bytes, mode: int = 0o600) -> None:
        """Write `data` as `path` into the service's container (through the API, not a command
        line: a script's content never appears in a process argument)."""
        import io
        import tarfile

        c = self.container(service)
        if c is None:
            raise DockerError(f"no container for service `{service}`", hint="`bin/ops up` starts it")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(path.rsplit("/", 1)[1])
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        try:
            c.put_archive(path.rsplit("/", 1)[0] or "/", buf.getvalue())
        except Exception as exc:  # noqa: BLE001 (the SDK's errors, converted)
            raise _convert(exc, f"copy a file into `{service}`") from exc

    def run_image(self, image: str, command: list[str]) -> bytes:
        """The standard output of `command` run once in a throwaway container of `image` (no
        network, its entrypoint replaced)."""
        try:
            return bytes(
                self.sdk.containers.run(
                    image,
                    command[1:],
                    entrypoint=command[:1],
                    remove=True,
                    network_mode="none",
                    stdout=True,
                    stderr=False,
                )
            )
        except Exception as exc:  # noqa: BLE001 (the SDK's errors, converted)
            raise _convert(exc, f"run {command[0]} in {image}") from exc

    def image_files(self, image: str, path: str) -> dict[str, bytes]:
        """The files under `path` in `image` (relative name -> content), read from a created,
        never started, container."""
        import io
        import tarfile

        try:
            c = self.sdk.containers.create(image, entrypoint=["true"], network_mode="none")
        except Exception as exc:  # noqa: BLE001 (the SDK's errors, converted)
            raise _convert(exc, f"create a container of {image}") from exc
        try:
            stream, _ = c.get_archive(path)
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                top = path.rstrip("/").rsplit("/", 1)[-1]
                return {
                    m.name.removeprefix(top + "/"): tar.extractfile(m).read()  # type: ignore[union-attr]
                    for m in tar.getmembers()
                    if m.isfile()
                }
        except Exception as exc:  # noqa: BLE001 (the SDK's errors, converted)
            raise _convert(exc, f"read {path} from {image}") from exc
        finally:
            c.remove(force=True)

    # -- images ----------------------------------------------------------------------------------
    @cached_property
    def _images(self) -> dict[str, Any]:
        """Images looked up in this run, by reference (None: not present); emptied by a build,
        import or pull, so the choice of images looks each one up once."""
        return {}

    def _image(self, ref: str) -> Any | None:
        import docker.errors

        if ref not in self._images:
            try:
                self._images[ref] = self.sdk.images.get(ref)
            except docker.errors.ImageNotFound:
                self._images[ref] = None
        return self._images[ref]

    def image_labels(self, ref: str) -> dict[str, str] | None:
        img = self._image(ref)
        return None if img is None else dict(img.labels or {})

    def image_id(self, ref: str) -> str | None:
        img = self._image(ref)
        return None if img is None else str(img.id)

    def image_size(self, ref: str) -> int:
        img = self._image(ref)
        return 0 if img is None else int(img.attrs.get("Size") or 0)

    def image_exists(self, ref: str) -> bool:
        return self.image_labels(ref) is not None

    def pull(self, ref: str) -> bool:
        import docker.errors

        self._images.clear()
        try:
            self.sdk.images.pull(ref)
            return True
        except docker.errors.APIError:
            return False

    def build(
        self,
        context: Path,
        tag: str,
        buildargs: dict[str, str],
        labels: dict[str, str],
        on_line: Callable[[str], None],
        cpu_shares: int | None = None,
    ) -> None:
        import docker.errors

        self._images.clear()
        try:
            limits = {"cpushares": cpu_shares} if cpu_shares else None
            for chunk in self.sdk.api.build(
                path=str(context),
                tag=tag,
                buildargs=buildargs,
                labels=labels,
                rm=True,
                forcerm=True,
                decode=True,
                container_limits=limits,
            ):
                if "error" in chunk:
                    raise DockerError(
                        f"building `{tag}` failed: {chunk['error'].strip()}",
                        hint=f"the Dockerfile is in `{context}`; fix it or the network and retry",
                    )
                line = chunk.get("stream", "").strip()
                if line:
                    on_line(line)
        except docker.errors.APIError as exc:
            raise DockerError(f"building `{tag}` failed: {exc}") from exc

    def import_rootfs(self, tar_stream: Any, tag: str) -> None:
        self._images.clear()
        repo, _, t = tag.partition(":")
        self.sdk.api.import_image_from_stream(tar_stream, repository=repo, tag=t or "latest")

    # -- swarm (`bin/ops swarm`: the stack is named like the Compose project) --------------------
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

    def serving(self, service: str) -> Docker:
        """This Docker for a service of the Compose stack, or the Swarm stack's tasks on this node
        when the service runs there (`exec` and `put_file` then reach its task's container)."""
        if self.container(service) is None and self.stack_container(service) is not None:
            return StackTasks(self.project, self.project_name)
        return self

    def stack_container(self, service: str) -> Any | None:
        """A running container of the stack's `service` on this node (a swarm task's)."""
        with self._swarm("`docker ps`"):
            found = self.sdk.containers.list(
                ignore_removed=True,
                filters={"label": f"com.docker.swarm.service.name={self.project_name}_{service}", "status": "running"},
            )
        return found[0] if found else None

    def image_config(self, ref: str) -> dict[str, Any]:
        """An image's run configuration (`Entrypoint`, `Cmd`, ...): {} when it is not here."""
        img = self._image(ref)
        return dict(img.attrs.get("Config") or {}) if img is not None else {}


class StackTasks(Docker):
    """The same engine, where a service's container is this node's running task of the Swarm
    stack's service (for `exec` and `put_file` there: the migrations on Swarm)."""

    def container(self, service: str) -> Any | None:
        return self.stack_container(service)
