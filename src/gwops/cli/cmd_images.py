"""`images build`: drop-in local images built offline; `images save` / `images load`: every image
the stack uses in one verified archive (gwops.bundle)."""

from __future__ import annotations

from pathlib import Path

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


def _images(app: App):
    from gwops import host
    from gwops.docker import Docker
    from gwops.images import Images
    from gwops.projectname import resolve
    from gwops.settings import load_settings

    settings = load_settings(app.project.stack_file)
    host.ensure_engine(app.project.logs_dir, app.say)
    return Images(app.project, settings, Docker(app.project, resolve(app.project, settings)), app.say)


@images.command("save")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def save(app: App, file: Path) -> int:
    """Write every image the stack uses (official or local, and the local base) into FILE, one
    archive with a manifest of image IDs and part checksums, for a site with no registry."""
    from gwops import bundle

    imgs = _images(app)
    refs = imgs.in_use()
    found = [bundle.ImageRef(r, imgs.docker.image_id(r) or "", imgs.docker.image_size(r)) for r in refs]
    bundle.save(file, found, app.say)
    app.out.print(
        f"saved {len(found)} images to {file}; on the other host: `bin/ops images load {file.name}`, then `bin/ops up`",
        markup=False,
    )
    return C.EXIT_OK


@images.command("load")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def load(app: App, file: Path) -> int:
    """Verify FILE (made by `images save`) whole, then load its images. A damaged or cut-short
    archive is refused (exit 2) and nothing is loaded."""
    from gwops import bundle

    imgs = _images(app)
    loaded = bundle.load(file, app.say, imgs.docker.image_id)
    app.out.print(
        f"loaded {len(loaded)} images from {file}; `bin/ops up` starts the stack without building", markup=False
    )
    return C.EXIT_OK


COMMANDS = [images]
