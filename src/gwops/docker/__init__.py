"""The one place that talks to Docker: a python-on-whales client for Compose and the docker SDK
for containers, exec, images and builds. Nothing else in the project runs `docker`. `Docker`
is one facade: Compose and containers here, images (gwops.docker.images) and Swarm
(gwops.docker.swarm) in their own modules."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from gwops import logview
from gwops.constants import SLOTS
from gwops.docker.convert import convert as _convert
from gwops.docker.images import ImageOps
from gwops.docker.swarm import SwarmOps
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


class Docker(ImageOps, SwarmOps):
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
        # a container removed between the list and its inspect (Compose recreating one) is not there
        found = self.sdk.containers.list(all=True, filters={"label": labels}, ignore_removed=True)
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
                raw = c.logs(tail=lines).decode(errors="replace").rstrip()
                text = "\n".join(logview.readable(line) for line in raw.splitlines())
            except Exception as exc:  # noqa: BLE001
                text = f"(logs unavailable: {exc})"
            parts.append(text if len(found) == 1 else f"--- {c.name}\n{text}")
        return "\n".join(parts)

    @staticmethod
    def log_lines(
        container: Any, since: float | None = None, follow: bool = False, tail: int | None = None
    ) -> Iterator[tuple[str, str]]:
        """A container's output as (Docker's RFC 3339 timestamp, line), from `since` (a Unix time)
        on, or its last `tail` lines; `follow` keeps reading until the container stops."""
        from docker.errors import APIError, NotFound

        rest = b""
        try:
            stream = container.logs(
                stream=True, follow=follow, timestamps=True, since=since, tail="all" if tail is None else tail
            )
            for chunk in stream:
                *lines, rest = (rest + chunk).split(b"\n")
                for line in lines:
                    stamp, _, text = line.decode(errors="replace").partition(" ")
                    yield stamp, text.rstrip("\r")
        except (APIError, NotFound) as exc:
            raise DockerError(f"reading the log of {container.name} failed: {exc}") from exc
        if rest:
            stamp, _, text = rest.decode(errors="replace").partition(" ")
            yield stamp, text

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

    def serving(self, service: str) -> Docker:
        """This Docker for a service of the Compose stack, or the Swarm stack's tasks on this node
        when the service runs there (`exec` and `put_file` then reach its task's container)."""
        if self.container(service) is None and self.stack_container(service) is not None:
            return StackTasks(self.project, self.project_name)
        return self


class StackTasks(Docker):
    """The same engine, where a service's container is this node's running task of the Swarm
    stack's service (for `exec` and `put_file` there: the migrations on Swarm)."""

    def container(self, service: str) -> Any | None:
        return self.stack_container(service)
