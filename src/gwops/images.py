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
import sys
from collections.abc import Callable
from pathlib import Path

from gwops import constants as C
from gwops.docker import Docker
from gwops.errors import OpsError, PrerequisiteError
from gwops.host import apt_install
from gwops.project import Project
from gwops.render import ImageChoice
from gwops.settings import ImagePin, StackSettings

Say = Callable[[str], None]
INPUTS_LABEL = "gwops.inputs-sha256"
SERVICES = (C.POSTGRES_SERVICE, C.REDIS_SERVICE, C.PROXY_SERVICE, C.GATEWAY_SERVICE)
IMAGE_DIRS = {C.POSTGRES_SERVICE: "postgres", C.REDIS_SERVICE: "redis", C.GATEWAY_SERVICE: "litellm",
              C.PROXY_SERVICE: "haproxy"}


def pin_of(settings: StackSettings, service: str) -> ImagePin:
    return getattr(settings.images, service)


class Images:
    def __init__(self, project: Project, settings: StackSettings, docker: Docker, say: Say):
        self.project, self.settings, self.docker, self.say = project, settings, docker, say
        self.cache = project.state_dir / "cache"
        self.log = project.logs_dir / "images-build.log"

    # -- choice ----------------------------------------------------------------------------------
    def choose(self, build: bool = True) -> list[ImageChoice]:
        return [self.choose_one(svc, build) for svc in SERVICES]

    def choose_one(self, service: str, build: bool = True) -> ImageChoice:
        pin = pin_of(self.settings, service)
        prefer = self.settings.images.prefer
        if prefer != "local" and self.docker.image_exists(pin.official):
            return ImageChoice(service, pin.official, "official", "present")
        if prefer != "official" and self.is_current(service):
            return ImageChoice(service, pin.local, "local", "present")
        if prefer != "local":
            self.say(f"{service}: pulling {pin.official}")
            if self.docker.pull(pin.official):
                return ImageChoice(service, pin.official, "official", "pulled")
            if prefer == "official":
                raise OpsError(f"cannot pull `{pin.official}` for `{service}` and `images.prefer` is `official`",
                               hint="check registry access, or set `images.prefer: auto` in config/stack.yaml")
            self.say(f"{service}: {pin.official} cannot be pulled (no registry access?): building a local image")
        if not build:
            raise OpsError(f"no image for `{service}`", hint="run `bin/ops images build`")
        self.build(service)
        return ImageChoice(service, pin.local, "local", "built")

    # -- local builds ----------------------------------------------------------------------------
    def _context(self, service: str) -> Path:
        return self.project.root / "images" / IMAGE_DIRS[service]

    def _buildargs(self, service: str) -> dict[str, str]:
        args = {"BASE_IMAGE": self.settings.images.base}
        if service == C.GATEWAY_SERVICE:
            args["LITELLM_VERSION"] = self.settings.images.litellm_version
        return args

    def _inputs_hash(self, service: str) -> str:
        h = hashlib.sha256()
        ctx = self._context(service)
        for f in sorted(p for p in ctx.rglob("*") if p.is_file()):
            h.update(str(f.relative_to(ctx)).encode() + b"\0" + f.read_bytes())
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

    def build(self, service: str, force: bool = False) -> str:
        """Build the local image for `service` unless it is current. Returns what happened."""
        self.ensure_base()
        tag = pin_of(self.settings, service).local
        inputs = self._inputs_hash(service)
        if not force and self.is_current(service, inputs):
            self.say(f"{service}: local image {tag} is up to date")
            return "current"
        context = self._context(service)
        if service == C.GATEWAY_SERVICE:
            context = self._gateway_context()
        self.say(f"{service}: building local image {tag} (log: {self.log})")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("a") as fh:
            def on_line(line: str) -> None:
                fh.write(line + "\n")
                if line.startswith("Step "):
                    self.say(f"{service}:   {line[:100]}")
            self.docker.build(context, tag, self._buildargs(service),
                              {INPUTS_LABEL: inputs, "gwops.local": "true"}, on_line)
        return "built"

    def ensure_base(self) -> None:
        base = self.settings.images.base
        if self.docker.image_exists(base):
            return
        if not shutil.which("debootstrap"):
            if os.geteuid() != 0 or not shutil.which("apt-get"):
                raise PrerequisiteError("`debootstrap` is needed to build the local base image",
                                        hint="install it: `sudo apt-get install -y debootstrap`")
            apt_install(["debootstrap"], self.say, self.project.logs_dir / "apt.log")
        if os.geteuid() != 0:
            raise PrerequisiteError("building the local base image needs root (debootstrap)",
                                    hint="run `sudo bin/ops images build` once")
        rootfs = self.cache / "rootfs"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(rootfs, ignore_errors=True)
        rootfs.parent.mkdir(parents=True, exist_ok=True)
        self.say(f"base: debootstrap of Debian bookworm into {rootfs} (about 30 s; log: {self.log})")
        with self.log.open("a") as fh:
            rc = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(rootfs)],
                                stdout=fh, stderr=subprocess.STDOUT, timeout=1800, check=False).returncode
        if rc != 0:
            raise OpsError(f"debootstrap failed (exit {rc})", hint=f"read `{self.log}`; is the Debian mirror reachable?")
        self.say(f"base: importing {base}")
        proc = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        try:
            self.docker.import_rootfs(proc.stdout, base)
        finally:
            proc.stdout.close() if proc.stdout else None
            proc.wait()
        shutil.rmtree(rootfs, ignore_errors=True)

    def wheels(self) -> Path:
        """Download LiteLLM and its dependencies as wheels on the host, once per version."""
        version = self.settings.images.litellm_version
        reqs = self._context(C.GATEWAY_SERVICE) / "requirements.txt"
        dest = self.cache / "wheels" / f"litellm-{version}-{hashlib.sha256(reqs.read_bytes()).hexdigest()[:8]}"
        stamp = dest / ".complete"
        if stamp.exists():
            return dest
        dest.mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.say(f"gateway: downloading LiteLLM {version} wheels for the image (about 30 s; log: {self.log})")
        cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q", "-d", str(dest),
               "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",
               "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_17_x86_64",
               "--platform", "manylinux_2_28_x86_64", "--platform", "any",
               f"litellm[proxy]=={version}", "-r", str(reqs)]
        with self.log.open("a") as fh:
            rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=1800, check=False).returncode
        if rc != 0:
            raise OpsError(f"downloading the LiteLLM {version} wheels failed (exit {rc})",
                           hint=f"read `{self.log}`; the host needs access to the Python package index")
        stamp.write_text("\n".join(sorted(p.name for p in dest.glob("*.whl"))) + "\n")
        return dest

    def _gateway_context(self) -> Path:
        wheels = self.wheels()
        ctx = self.cache / "build" / "litellm"
        shutil.rmtree(ctx, ignore_errors=True)
        shutil.copytree(self._context(C.GATEWAY_SERVICE), ctx)
        (ctx / "wheels").mkdir()
        for whl in wheels.glob("*.whl"):
            try:
                os.link(whl, ctx / "wheels" / whl.name)
            except OSError:
                shutil.copy2(whl, ctx / "wheels" / whl.name)
        return ctx
