"""The stack as every command sees it: its project, settings, Docker and proxy, and the steps
`up`, `reload` and `swarm deploy` share (compile, images, render, component files), `down`, and
the safety backup. The staged `up` is gwops.up, `status` gwops.status; what is the gateway's
own (gating, standbys, database wiring, stop and start) is its component's."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gwops import components, projectname, slots
from gwops.components import gateway, optillm, postgres
from gwops.components.base import Component, FilesContext, ImageChoice
from gwops.config import store
from gwops.config.pipeline import Compiled, compile_sources
from gwops.constants import SLOTS
from gwops.docker import Docker
from gwops.errors import AbortedError, OpsError, SafetyBackupError
from gwops.health import gateway_url
from gwops.images import Images
from gwops.lock import exclusive
from gwops.project import Project
from gwops.proxy import Proxy
from gwops.render import render_overrides, render_proxy
from gwops.settings import StackSettings, load_settings

if TYPE_CHECKING:
    from gwops.backup.service import Backups

Say = Callable[[str], None]
Containers = dict[str, list[Any]]  # Docker.all_containers(): a service's containers by its name


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


class Stack:
    """A gwops.components.base.StackContext: what the components see of the stack."""

    registry: tuple[Component, ...] = components.REGISTRY

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

    def managed_env(self, active: str) -> dict[str, str]:
        return {
            projectname.ENV_KEY: self.project_name,
            "COMPOSE_FILE": self.project.compose_file_var(),
            "COMPOSE_PROFILES": active,
        }

    def compile(self, env: dict[str, str] | None) -> Compiled:
        """The config compiled against this stack (its settings, the ports it publishes)."""
        return compile_sources(
            self.project.config_dir,
            self.settings.naming,
            env,
            self.settings,
            self.project.stack_file,
            components.published_ports(self.settings),
        )

    def validate(self, env: dict[str, str] | None) -> Compiled:
        compiled = self.compile(env)
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
            database=gateway.database_wired(self.settings),
            database_reason=gateway.NO_DB_REASON,
        )
        live = [store.version_path(self.project, v) for v in sorted(set(versions.values())) if v]
        for c in self.registry:
            if c.follow_versions is not None and c.enabled(self.settings):
                c.follow_versions(self.project, live)
        entrance = optillm.ENTRANCE_PORT if optillm.enabled(self.settings) else None
        return render_proxy(self.project, st.active, self.settings.gateway, entrance)

    def write_files(self, env: dict[str, str]) -> set[str]:
        """Each enabled component's files under state/<name>/; returns the components whose
        files changed."""
        ctx = FilesContext(self.project, self.settings, self.project_name, env, self.registry)
        return {c.name for c in self.registry if c.files is not None and c.enabled(self.settings) and c.files(ctx)}

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
