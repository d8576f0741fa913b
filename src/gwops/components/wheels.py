"""Python images built offline (the gateway, OptiLLM): the host downloads the wheels once per set
of requirements (containers cannot reach the Python package index) and hard-links them into a
build folder next to the component's image/ files."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gwops.errors import OpsError

if TYPE_CHECKING:
    from gwops.images import Images

PLATFORM = ["--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",  # Debian bookworm's python3
            "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_17_x86_64",
            "--platform", "manylinux_2_28_x86_64", "--platform", "any"]


def download(images: Images, name: str, reqs: Path, specs: list[str], no_deps: list[str] = (), what: str = "") -> Path:
    """Wheels for `specs` and the requirements file `reqs` (with their dependencies), and for
    `no_deps` (without), in state/cache/wheels/<name>-<hash>/; downloaded once."""
    key = hashlib.sha256(reqs.read_bytes() + "\0".join([*specs, "|", *no_deps]).encode()).hexdigest()[:8]
    dest = images.cache / "wheels" / f"{name}-{key}"
    stamp = dest / ".complete"
    if stamp.exists():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    images.log.parent.mkdir(parents=True, exist_ok=True)
    images.say(f"{name}: downloading {what or name} wheels for the image (log: {images.log})")
    base = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q", "-d", str(dest), *PLATFORM]
    cmds = [[*base, *specs, "-r", str(reqs)]] + ([[*base, "--no-deps", *no_deps]] if no_deps else [])
    with images.log.open("a") as fh:
        for cmd in cmds:
            rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=1800, check=False).returncode
            if rc != 0:
                raise OpsError(f"downloading the {what or name} wheels failed (exit {rc})",
                               hint=f"read `{images.log}`; the host needs access to the Python package index")
    stamp.write_text("\n".join(sorted(p.name for p in dest.glob("*.whl"))) + "\n")
    return dest


def context(images: Images, name: str, image_dir: Path, found: Path) -> Path:
    """image/ plus the wheels (./wheels), hard-linked into a build folder under state/cache/."""
    ctx = images.cache / "build" / name
    shutil.rmtree(ctx, ignore_errors=True)
    shutil.copytree(image_dir, ctx)
    (ctx / "wheels").mkdir()
    for whl in found.glob("*.whl"):
        try:
            os.link(whl, ctx / "wheels" / whl.name)
        except OSError:
            shutil.copy2(whl, ctx / "wheels" / whl.name)
    return ctx
