"""What a service of the stack is: one `Component`, defined in its own folder under
gwops/components/ next to its compose fragment (`compose.yml.j2`) and the build context of its
local drop-in image (`image/`), and listed once in the registry (gwops/components/__init__.py).

The core iterates over the registry: images (choice and local builds), the compose fragments
written to compose.d/, the health gates of `up`, the rows of `status`. Start order comes from
each fragment's `depends_on`, as plain `docker compose` reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import jinja2

from gwops.pins import COMPONENTS as PINS
from gwops.pins import compose_file

if TYPE_CHECKING:
    from gwops.docker import Docker
    from gwops.health import Health
    from gwops.project import Project
    from gwops.proxy import Proxy
    from gwops.routecheck import RouteChecks
    from gwops.settings import StackSettings

COMPONENTS_DIR = Path(__file__).parent


class StackContext(Protocol):
    """What a component may use of the stack it runs in (gwops.stack.Stack is one): a component
    depends on this, never on the modules that drive it."""

    project: Project
    settings: StackSettings
    project_name: str
    docker: Docker
    proxy: Proxy
    registry: tuple[Component, ...]  # every component (gwops.components.REGISTRY)

    @property
    def url(self) -> str: ...
    def say(self, message: str) -> None: ...


class BuildContext(Protocol):
    """What a component's image build context is made with (gwops.images.Images is one)."""

    project: Project
    settings: StackSettings
    cache: Path  # state/cache: downloads kept between builds
    log: Path  # where downloads and builds write their output

    def say(self, message: str) -> None: ...


@dataclass(frozen=True)
class ImageChoice:
    service: str  # the component: postgres, redis, gateway, proxy, ...
    image: str
    kind: str  # "local" or "official"
    how: str  # "present", "pulled", "built"

    def line(self) -> str:
        """What `up` and `swarm deploy` say of the choice."""
        return f"{self.service}: {self.kind} image {self.image} ({self.how})"


@dataclass(frozen=True)
class GateContext:
    """What a component's gate may use during `up`: the stack, the health checker, the active
    gateway slot and the checks the gateway's gate makes."""

    stack: StackContext
    health: Health
    active: str
    master_key: str
    routes: RouteChecks


@dataclass(frozen=True)
class FilesContext:
    """What a component's files are written from."""

    project: Project
    settings: StackSettings
    project_name: str
    env: dict[str, str]  # `.env`
    registry: tuple[Component, ...]  # every component (gwops.components.REGISTRY)

    def dir(self, component: str) -> Path:
        return self.project.state_dir / component


@dataclass(frozen=True)
class MetricsTarget:
    """Where Prometheus scrapes a component: a job, a port on its compose service(s) (every
    container of each: Docker's DNS answers a service name with one address per container), a
    path, and whether the scrape carries the gateway's key (read from a file)."""

    job: str
    port: int
    path: str = "/metrics"
    gateway_key: bool = False
    swarm: bool = True  # scraped in the Swarm stack too (where the component has a Swarm service)


@dataclass(frozen=True)
class Component:
    name: str  # its key everywhere: `images.<name>` in stack.yaml, `bin/ops images build <name>`
    package: str  # its module (`__name__`): its folder holds compose.yml.j2 and image/
    description: str = ""
    # the compose services it runs, given the active gateway slot: the first are the ones `status`
    # always lists (a missing one is `absent`); the rest are listed when they exist
    services: Callable[[str], tuple[list[str], list[str]]] | None = None
    # core: the gateway needs it; `up` gates it before the gateway serves and `status` counts it in
    # the overall state. Not core (monitoring): started once the gateway serves; a failure there
    # is reported, never a reason the gateway does not serve.
    core: bool = True
    # off in this stack's settings: its fragment defines no service, no image is chosen or built
    enabled: Callable[[StackSettings], bool] = lambda _s: True
    # its files under state/<name>/ (configs, rules, secrets), written before it starts: returns
    # True when one changed. `apply` then makes a running container take them (None: restart it)
    files: Callable[[FilesContext], bool] | None = None
    apply: Callable[[StackContext], None] | None = None
    # the application-level gate of `up`, after the container's own healthcheck passed
    gate: Callable[[GateContext, str], None] | None = None
    # a reason the container's healthcheck output proves it will never heal (fail at once)
    hopeless: Callable[[Health, str], None] | None = None
    # a path answering 200 on its first published port once it serves (`/-/ready`): `up` counts
    # it healthy then, without waiting for Docker's first healthcheck, which Docker 20.10 runs
    # one whole `interval` after the start (it has no `start_interval`)
    ready_path: str | None = None
    # extra facts on its `status` row (e.g. postgres: does the password in `.env` log in)
    status_row: Callable[[StackContext, dict[str, Any]], None] | None = None
    # the image's build arguments beyond BASE_IMAGE, and a build context other than image/
    build_args: Callable[[StackSettings], dict[str, str]] = lambda _s: {}
    build_context: Callable[[BuildContext], Path] | None = None
    # files outside image/ whose content is an input of the build (the gateway's lock)
    build_inputs: Callable[[BuildContext], list[Path]] | None = None
    metrics: MetricsTarget | None = None
    # the host ports it publishes: (bind address, port, the setting that sets it)
    ports: Callable[[StackSettings], list[tuple[str, int, str]]] | None = None
    # files it derives from the gateway's live config versions (both slots), rewritten whenever
    # they are rendered (`up`, `reload`): returns True when one changed
    follow_versions: Callable[[Project, list[Path]], bool] | None = None
    # before a reload stops the drained old gateway slot (its compose service): waits until the
    # component has seen it one last time (Prometheus: one more scrape); returns a warning or None
    last_look: Callable[[StackContext, str], str | None] | None = None
    # the named volumes its data lives in (the Swarm stack file declares them; docker-compose.yml
    # holds Compose's)
    volumes: tuple[str, ...] = ()
    # False: only its local build runs (the official image lacks what the stack adds to it, as
    # OptiLLM's lacks the guard); it is never pulled
    pull: bool = True

    def ready_url(self, settings: StackSettings) -> str | None:
        """Where the host asks whether it serves (`ready_path` on its first published port)."""
        from gwops.health import gateway_url

        published = self.ports(settings) if self.ports is not None else []
        if self.ready_path is None or not published:
            return None
        bind, port, _setting = published[0]
        return f"{gateway_url(bind, port)}{self.ready_path}"

    @property
    def official(self) -> str:
        """The official image, pinned (its registry line, gwops.pins: the default of `images.<name>.official`)."""
        return PINS[self.name].official

    @property
    def local(self) -> str | None:
        """The tag of the drop-in image built offline from `image/` (None: none can be)."""
        return PINS[self.name].local

    @property
    def service(self) -> str:
        """Its compose service (`node_exporter` runs as `node-exporter`); see `services`."""
        return self.name.replace("_", "-")

    @property
    def folder(self) -> Path:
        return COMPONENTS_DIR / self.package.rsplit(".", 1)[-1]

    @property
    def image_dir(self) -> Path:
        return self.folder / "image"

    @property
    def compose_file(self) -> str:
        """Its generated compose fragment, relative to the project (listed in COMPOSE_FILE)."""
        return compose_file(self.name)

    @property
    def swarm_template(self) -> str | None:
        """Its service in the Swarm stack file (`swarm.yml.j2` in its folder), if it has one."""
        return f"{self.folder.name}/swarm.yml.j2" if (self.folder / "swarm.yml.j2").exists() else None

    def image_absent(self, settings: StackSettings, docker: Docker) -> bool:
        """A component with no offline build whose official image is not on this host (Grafana):
        `up` runs the stack without it, so neither its missing container, its scrape job without a
        target nor its port is a fault."""
        pin = getattr(settings.images, self.name)
        return not pin.local and not docker.image_exists(pin.official)

    def service_names(self, active: str) -> list[str]:
        shown, others = self.services(active) if self.services else ([self.service], [])
        return [*shown, *others]

    def render_fragment(self, settings: StackSettings, image: str | None, **variables: Any) -> str:
        """Its compose fragment. One turned off in `settings`, or with no image on this host,
        defines no service (and says why)."""
        if not self.enabled(settings) or not image:
            why = (
                "it is off in config/stack.yaml"
                if not self.enabled(settings)
                else f"its image ({self.official}) is not on this host: `docker pull {self.official}`, then `bin/ops up`"
            )
            return f"# AUTO-GENERATED by gwops: no `{self.name}` service: {why}\nservices: {{}}\n"
        return self.render("compose.yml.j2", settings=settings, image=image, metrics=self.metrics, **variables)

    def render(self, template: str, **variables: Any) -> str:
        return template_env(self.folder).get_template(template).render(**variables)


def template_env(folder: Path) -> jinja2.Environment:
    """Strict, deterministic templates; `_partials.j2` (shared macros) is found from any folder."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(folder), str(COMPONENTS_DIR)]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
