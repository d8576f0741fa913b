"""`images build`, `images list`: drop-in local images built offline."""

from __future__ import annotations

import click

from gwops import components
from gwops import constants as C
from gwops.cli.app import App

pass_app = click.make_pass_decorator(App)


@click.group()
def images() -> None:
    """Local images (built offline from Debian packages and host-downloaded wheels)."""


@images.command("build")
@click.argument("services", nargs=-1, type=click.Choice(components.names()))
@click.option("--force", is_flag=True, help="Rebuild even when the inputs did not change.")
@pass_app
def build(app: App, services: tuple[str, ...], force: bool) -> int:
    """Build local images for SERVICES (default: every component on in config/stack.yaml)."""
    from gwops import host
    from gwops.docker import Docker
    from gwops.images import Images
    from gwops.lock import exclusive
    from gwops.projectname import resolve
    from gwops.settings import load_settings

    settings = load_settings(app.project.stack_file)
    host.ensure_engine(app.project.logs_dir, app.say)
    host.ensure_compose(app.say)
    imgs = Images(app.project, settings, Docker(app.project, resolve(app.project, settings)), app.say)
    with exclusive(app.project.state_dir / "ops.lock", "build images"):
        for svc in services or [c.name for c in components.REGISTRY if c.local and c.enabled(settings)]:
            imgs.build(svc, force=force)
    return C.EXIT_OK


COMMANDS = [images]
