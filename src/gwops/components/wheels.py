"""Images built offline (the gateway, OptiLLM): the host downloads the wheels once per set of
requirements (containers cannot reach the Python package index), and npm packages once per lock
file, and hard-links them into a build folder next to the component's image/ files."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gwops import constants as C
from gwops.errors import OpsError

if TYPE_CHECKING:
    from gwops.components.base import BuildContext

PLATFORM = [
    "--only-binary=:all:",
    "--python-version",
    "3.11",
    "--implementation",
    "cp",  # Debian bookworm's python3
    "--platform",
    "manylinux2014_x86_64",
    "--platform",
    "manylinux_2_17_x86_64",
    "--platform",
    "manylinux_2_28_x86_64",
    "--platform",
    "any",
]


def pip_download(images: BuildContext, dest: Path, args: list[list[str]], what: str) -> Path:
    """`pip download -d dest` with each of `args` on the host, once: a stamp marks `dest` complete."""
    stamp = dest / ".complete"
    if stamp.exists():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    images.log.parent.mkdir(parents=True, exist_ok=True)
    images.say(f"downloading {what} for a local image (log: {images.log})")
    base = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q", "-d", str(dest)]
    with images.log.open("a") as fh:
        for a in args:
            rc = subprocess.run([*base, *a], stdout=fh, stderr=subprocess.STDOUT, timeout=1800, check=False).returncode
            if rc != 0:
                raise OpsError(
                    f"downloading {what} failed (exit {rc})",
                    hint=f"read `{images.log}`; the host needs access to the Python package index",
                )
    stamp.write_text("\n".join(sorted(p.name for p in dest.iterdir() if p.name != ".complete")) + "\n")
    return dest


def download(
    images: BuildContext, name: str, reqs: Path, specs: list[str], no_deps: tuple[str, ...] = (), what: str = ""
) -> Path:
    """Wheels for `specs` and the requirements file `reqs` (with their dependencies), and for
    `no_deps` (without), in state/cache/wheels/<name>-<hash>/; downloaded once."""
    key = hashlib.sha256(reqs.read_bytes() + "\0".join([*specs, "|", *no_deps]).encode()).hexdigest()[:8]
    args = [[*PLATFORM, *specs, "-r", str(reqs)]] + ([[*PLATFORM, "--no-deps", *no_deps]] if no_deps else [])
    return pip_download(images, images.cache / "wheels" / f"{name}-{key}", args, f"the {what or name} wheels")


def context(images: BuildContext, name: str, image_dir: Path, found: Path) -> Path:
    """image/ plus the wheels (./wheels), hard-linked into a build folder under state/cache/."""
    ctx = images.cache / "build" / name
    shutil.rmtree(ctx, ignore_errors=True)
    shutil.copytree(image_dir, ctx, ignore=shutil.ignore_patterns(*C.IMAGE_LOCAL_ONLY))
    (ctx / "wheels").mkdir()
    for whl in found.glob("*.whl"):
        try:
            os.link(whl, ctx / "wheels" / whl.name)
        except OSError:
            shutil.copy2(whl, ctx / "wheels" / whl.name)
    return ctx


def npm_ci(images: BuildContext, name: str, package_dir: Path, what: str) -> Path:
    """`npm ci` of `package_dir`'s package.json and package-lock.json on the host, once per lock
    (install scripts off: nothing is fetched but the locked packages); returns its node_modules."""
    lock = (package_dir / "package-lock.json").read_bytes()
    dest = images.cache / "npm" / f"{name}-{hashlib.sha256(lock).hexdigest()[:8]}"
    stamp = dest / ".complete"
    if stamp.exists():
        return dest / "node_modules"
    npm = shutil.which("npm")
    if npm is None and os.geteuid() == 0 and shutil.which("apt-get"):
        from gwops.host import apt_install

        apt_install(["npm"], images.say, images.log.parent / "apt.log")
        npm = shutil.which("npm")
    if npm is None:
        raise OpsError(
            f"downloading {what} needs `npm` on the host",
            hint="install Node.js and npm (Debian/Ubuntu: `sudo apt-get install -y npm`), then retry",
        )
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for f in ("package.json", "package-lock.json"):
        shutil.copy2(package_dir / f, dest / f)
    images.log.parent.mkdir(parents=True, exist_ok=True)
    images.say(f"downloading {what} for a local image (log: {images.log})")
    with images.log.open("a") as fh:
        rc = subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--omit=dev"],
            cwd=dest,
            stdout=fh,
            stderr=subprocess.STDOUT,
            timeout=900,
            check=False,
        ).returncode
    if rc != 0:
        raise OpsError(
            f"downloading {what} failed (`npm ci` exit {rc})",
            hint=f"read `{images.log}`; the host needs access to the npm registry",
        )
    stamp.write_text("ok\n")
    return dest / "node_modules"


def link_tree(src: Path, dst: Path) -> None:
    """A copy of `src` at `dst`, hard-linked where the filesystem allows."""

    def link(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    shutil.copytree(src, dst, symlinks=True, copy_function=link)


# -- locks: every wheel of an image pinned with its SHA-256 ------------------------------------------
Locked = dict[str, tuple[str, str]]  # normalized name -> (version, sha256)


def _normalize(name: str) -> str:
    return name.replace("_", "-").replace(".", "-").lower()


def locked_in(found: Path) -> Locked:
    """The wheels of a download folder as a lock: name, version and SHA-256 of each file."""
    out: Locked = {}
    for whl in sorted(found.glob("*.whl")):
        name, version = whl.name.split("-")[:2]
        out[_normalize(name)] = (version, hashlib.sha256(whl.read_bytes()).hexdigest())
    return out


def write_lock(found: Path, path: Path, header: str) -> int:
    """A pip requirements file pinning every wheel in `found` by version and hash (written whole
    or not at all); returns how many."""
    entries = locked_in(found)
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    for name, (version, digest) in sorted(entries.items()):
        lines.append(f"{name}=={version} \\\n    --hash=sha256:{digest}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)
    return len(entries)


def read_lock(path: Path) -> Locked:
    out: Locked = {}
    text = path.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        spec, _, rest = line.partition(" ")
        name, _, version = spec.partition("==")
        digest = rest.split("--hash=sha256:", 1)[1].split()[0] if "--hash=sha256:" in rest else ""
        out[_normalize(name)] = (version, digest)
    return out


def lock_changes(old: Locked, new: Locked) -> list[str]:
    """What differs between two locks, one line a package: `+ name 1.2`, `- name 1.1`,
    `~ name 1.1 -> 1.2` (or `(rebuilt)` when only the file's hash changed)."""
    out = []
    for name in sorted(old.keys() | new.keys()):
        if name not in old:
            out.append(f"+ {name} {new[name][0]}")
        elif name not in new:
            out.append(f"- {name} {old[name][0]}")
        elif old[name][0] != new[name][0]:
            out.append(f"~ {name} {old[name][0]} -> {new[name][0]}")
        elif old[name][1] != new[name][1]:
            out.append(f"~ {name} {old[name][0]} (another file: hash changed)")
    return out


def download_locked(images: BuildContext, name: str, lock: Path, what: str, seed: Path | None = None) -> Path:
    """Exactly the wheels of `lock`, each checked against its hash (`--require-hashes`), in
    state/cache/wheels/<name>-lock-<hash>/; downloaded once per lock (`seed`: the folder the
    lock was just made from, linked instead)."""
    key = hashlib.sha256(lock.read_bytes()).hexdigest()[:12]
    dest = images.cache / "wheels" / f"{name}-lock-{key}"
    if seed is not None and not (dest / ".complete").exists() and locked_in(seed) == read_lock(lock):
        shutil.rmtree(dest, ignore_errors=True)
        link_tree(seed, dest)
    args = [[*PLATFORM, "--no-deps", "--require-hashes", "-r", str(lock)]]
    return pip_download(images, dest, args, f"the {what or name} wheels")
