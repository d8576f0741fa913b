"""Images: use the official pinned image or a drop-in local build made offline.

Choice per service (`images.prefer: auto`): the official image if the engine has it, else the
local build if present and current, else pull the official one, else build locally. Local builds
start from a Debian base (debootstrap + import), add Debian packages, and for LiteLLM install
wheels the host downloads (containers cannot reach the Python registry). Builds are cached by a
hash of their inputs, stored as an image label: unchanged inputs are not rebuilt.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from gwops import components
from gwops import constants as C
from gwops.components.base import ImageChoice
from gwops.docker import Docker
from gwops.errors import OpsError, PrerequisiteError
from gwops.host import apt_install
from gwops.project import Project
from gwops.settings import ImagePin, StackSettings

Say = Callable[[str], None]
INPUTS_LABEL = "gwops.inputs-sha256"


def pin_of(settings: StackSettings, service: str) -> ImagePin:
    return getattr(settings.images, service)


class Images:
    def __init__(self, project: Project, settings: StackSettings, docker: Docker, say: Say):
        self.project, self.settings, self.docker, self.say = project, settings, docker, say
        self.cache = project.state_dir / "cache"
        self.log = project.logs_dir / "images-build.log"

    # -- choice ----------------------------------------------------------------------------------
    def choose(self, build: bool = True) -> list[ImageChoice]:
        """An image for every component turned on in the settings."""
        return [self.choose_one(c.name, build) for c in components.REGISTRY if c.enabled(self.settings)]

    def choose_one(self, service: str, build: bool = True, pull: bool = True) -> ImageChoice:
        """The image `service` runs. Without `pull` and `build`, only what the engine has (what
        `images save` bundles)."""
        comp = components.get(service)
        pin = pin_of(self.settings, service)
        prefer = self.settings.images.prefer
        official = comp.pull and prefer != "local"  # OptiLLM's official image lacks the guard: never
        if official and self.docker.image_exists(pin.official):
            return ImageChoice(service, pin.official, "official", "present")
        if (prefer != "official" or not comp.pull) and pin.local and self.is_current(service):
            return ImageChoice(service, pin.local, "local", "present")
        if official or not pin.local:
            if pull:
                self.say(f"{service}: pulling {pin.official}")
                if self.docker.pull(pin.official):
                    return ImageChoice(service, pin.official, "official", "pulled")
            if not pin.local:  # no offline build exists (Grafana): the rest of the stack runs without it
                self.say(
                    f"{service}: not started: {pin.official} is not on this host"
                    + (" and cannot be pulled (no registry access?)" if pull else "")
                    + f" and cannot be built offline; fetch it with `docker pull {pin.official}` "
                    "(or `bin/ops images load` a bundle), then `bin/ops up`"
                )
                return ImageChoice(service, pin.official, "missing", "absent")
            if prefer == "official":
                raise OpsError(
                    f"cannot pull `{pin.official}` for `{service}` and `images.prefer` is `official`",
                    hint="check registry access, or set `images.prefer: auto` in config/stack.yaml",
                )
            if pull:
                self.say(f"{service}: {pin.official} cannot be pulled (no registry access?): building a local image")
        if not build:
            stale = self.docker.image_exists(pin.local)
            raise OpsError(
                f"the local image {pin.local} of `{service}` is out of date (its build inputs changed)"
                if stale
                else f"no image for `{service}`",
                hint=f"run `bin/ops images build {service}`",
            )
        self.build(service)
        return ImageChoice(service, pin.local, "local", "built")

    def in_use(self) -> list[str]:
        """The images the components turned on run, chosen as `up` chooses them but with no pull
        and no build (one not on this host with no offline build is left out, and said so), plus
        the base of the local ones (their inputs hash names its ID)."""
        chosen = [
            self.choose_one(c.name, build=False, pull=False) for c in components.REGISTRY if c.enabled(self.settings)
        ]
        refs = [c.image for c in chosen if c.kind != "missing"]
        if any(c.kind == "local" for c in chosen):
            refs.append(self.settings.images.base)
        return refs

    # -- local builds ----------------------------------------------------------------------------
    def _context(self, service: str) -> Path:
        return components.get(service).image_dir

    def _buildargs(self, service: str) -> dict[str, str]:
        return {"BASE_IMAGE": self.settings.images.base, **components.get(service).build_args(self.settings)}

    def _inputs_hash(self, service: str) -> str:
        h = hashlib.sha256()
        ctx = self._context(service)
        for f in sorted(
            p for p in ctx.rglob("*") if p.is_file() and not set(C.IMAGE_LOCAL_ONLY) & set(p.relative_to(ctx).parts)
        ):
            h.update(str(f.relative_to(ctx)).encode() + b"\0" + f.read_bytes())
        extra = components.get(service).build_inputs
        for f in extra(self) if extra else []:
            h.update(f.name.encode() + b"\0" + (f.read_bytes() if f.exists() else b"(none yet)"))
        for k, v in sorted(self._buildargs(service).items()):
            h.update(f"{k}={v}\n".encode())
        # a new base image (another debootstrap) makes every local image stale
        h.update(str(self.docker.image_id(self.settings.images.base)).encode())
        return h.hexdigest()

    def is_current(self, service: str, inputs: str | None = None) -> bool:
        labels = self.docker.image_labels(pin_of(self.settings, service).local)
        if labels is None or not self.docker.image_exists(self.settings.images.base):
            return False
        return labels.get(INPUTS_LABEL) == (inputs or self._inputs_hash(service))

    def build(self, service: str, force: bool = False, cpu_shares: int | None = None) -> str:
        """Build the local image for `service` unless it is current. Returns what happened.
        `cpu_shares`: the build's CPU weight (low: it takes only CPU time nothing else wants)."""
        tag = pin_of(self.settings, service).local
        if not tag:
            official = pin_of(self.settings, service).official
            raise OpsError(f"`{service}` has no offline build", hint=f"fetch its image: `docker pull {official}`")
        self.ensure_base()
        inputs = self._inputs_hash(service)
        if not force and self.is_current(service, inputs):
            self.say(f"{service}: local image {tag} is up to date")
            return "current"
        make_context = components.get(service).build_context
        context = make_context(self) if make_context else self._context(service)
        inputs = self._inputs_hash(service)  # making the context may have made an input (a lock)
        self.say(f"{service}: building local image {tag} (log: {self.log})")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("a") as fh:

            def on_line(line: str) -> None:
                fh.write(line + "\n")
                if line.startswith("Step "):
                    self.say(f"{service}:   {line[:100]}")

            self.docker.build(
                context,
                tag,
                self._buildargs(service),
                {INPUTS_LABEL: inputs, "gwops.local": "true"},
                on_line,
                cpu_shares,
            )
        return "built"

    def ensure_base(self) -> None:
        base = self.settings.images.base
        if self.docker.image_exists(base):
            return
        if not shutil.which("debootstrap"):
            if os.geteuid() != 0 or not shutil.which("apt-get"):
                raise PrerequisiteError(
                    "`debootstrap` is needed to build the local base image",
                    hint="install it: `sudo apt-get install -y debootstrap`",
                )
            apt_install(["debootstrap"], self.say, self.project.logs_dir / "apt.log")
        if os.geteuid() != 0:
            raise PrerequisiteError(
                "building the local base image needs root (debootstrap)", hint="run `sudo bin/ops images build` once"
            )
        rootfs = self.cache / "rootfs"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(rootfs, ignore_errors=True)
        rootfs.parent.mkdir(parents=True, exist_ok=True)
        self.say(f"base: debootstrap of Debian bookworm into {rootfs} (about 30 s; log: {self.log})")
        with self.log.open("a") as fh:
            rc = subprocess.run(
                ["debootstrap", "--variant=minbase", "bookworm", str(rootfs)],
                stdout=fh,
                stderr=subprocess.STDOUT,
                timeout=1800,
                check=False,
            ).returncode
        if rc != 0:
            raise OpsError(
                f"debootstrap failed (exit {rc})", hint=f"read `{self.log}`; is the Debian mirror reachable?"
            )
        self.say(f"base: importing {base}")
        proc = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        try:
            self.docker.import_rootfs(proc.stdout, base)
        finally:
            proc.stdout.close() if proc.stdout else None
            proc.wait()
        shutil.rmtree(rootfs, ignore_errors=True)
