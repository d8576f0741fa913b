"""Shared fixtures: isolation for every test, and a real Docker engine for integration tests.

Integration tests skip when no engine answers, except under CI (CI=true), where a missing
engine is a failure: they must run there.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

# Ryuk (testcontainers' reaper) comes from a registry we cannot reach; tests clean up themselves.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("GWOPS_ROOT", raising=False)


def _engine() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory: pytest.TempPathFactory) -> None:
    if not _engine():
        if os.environ.get("CI"):
            pytest.fail("no Docker engine answers, and integration tests must run in CI")
        pytest.skip("no Docker engine (integration tests need one; `bin/test` starts it)")
    _remove_leftovers(tmp_path_factory.getbasetemp())


def _docker(*args: str) -> list[str]:
    out = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    return out.stdout.split() if out.returncode == 0 else []


def _remove_leftovers(basetemp: Path) -> None:
    """Remove the stacks an earlier, interrupted test run left behind: their containers restart
    with the engine (restart policies) and take the CPU that timing-sensitive tests need (a CI run
    once failed a reload that way). A test stack is one whose Compose working directory is under
    pytest's temporary root but not this run's; testcontainers' containers are all leftovers here."""
    root = str(basetemp.parent)
    projects: set[str] = set()
    for line in _docker(
        "ps",
        "-a",
        "--filter",
        "label=com.docker.compose.project",
        "--format",
        '{{.Label "com.docker.compose.project"}}|{{.Label "com.docker.compose.project.working_dir"}}',
    ):
        project, _, workdir = line.partition("|")
        if workdir.startswith(root + os.sep) and not workdir.startswith(str(basetemp)):
            projects.add(project)
    for stack in _docker("stack", "ls", "--format", "{{.Name}}"):  # test_swarm.py's (none outside a swarm)
        if stack.startswith("gwops-swarm-"):
            _docker("stack", "rm", stack)
    doomed = _docker("ps", "-aq", "--filter", "label=org.testcontainers=true")
    for project in sorted(projects):
        doomed += _docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}")
    if doomed:
        _docker("rm", "-f", "-v", *doomed)
    for project in sorted(projects):
        label = f"label=com.docker.compose.project={project}"
        for kind in ("network", "volume"):
            names = _docker(kind, "ls", "-q", "--filter", label)
            if names:
                _docker(kind, "rm", *names)


# built in the background, at the lowest CPU weight, while the first integration tests run: the
# llama.cpp compile takes about 10 minutes of both cores; it only gets CPU time the tests leave
BACKGROUND = ("llama_cpp",)
# the later LiteLLM release test_data.py upgrades the stack to (its lock is in config/locks/): its
# gateway image is built first in the background thread (a minute or two, at the lowest weight)
UPGRADE_TO = "1.108.7"
_background: dict[str, Any] = {"upgrade": threading.Event()}


def _images():
    from gwops.docker import Docker
    from gwops.images import Images
    from gwops.project import Project
    from gwops.settings import load_settings

    project = Project(REPO)
    settings = load_settings(project.stack_file)
    return Images(project, settings, Docker(project, "gwops-test-images"), lambda m: None), settings


@pytest.fixture(scope="session")
def local_images(docker_engine: None) -> dict[str, str]:
    """The local images, built (cached) through the same code `bin/ops images build` runs; the
    slow ones start building in the background (see `background_images`)."""
    from gwops.components import REGISTRY

    images, settings = _images()
    buildable = [c.name for c in REGISTRY if c.local]  # Grafana has no offline build
    for svc in buildable:
        if svc not in BACKGROUND:
            images.build(svc)
    if "thread" not in _background:

        def build() -> None:
            try:
                from gwops.images import Images
                from gwops.upgrade import target_settings

                bg, base = _images()
                try:
                    Images(bg.project, target_settings(base, UPGRADE_TO), bg.docker, bg.say).build(
                        "gateway", cpu_shares=2
                    )
                except BaseException as exc:
                    _background["upgrade_error"] = exc
                finally:
                    _background["upgrade"].set()
                for svc in BACKGROUND:
                    bg.build(svc, cpu_shares=2)
            except BaseException as exc:  # reported by `background_images`
                _background["error"] = exc

        _background["thread"] = threading.Thread(target=build, name="background-images", daemon=True)
        _background["thread"].start()
    return {svc: getattr(settings.images, svc).local for svc in buildable}


@pytest.fixture(scope="session")
def background_images(local_images: dict[str, str]) -> dict[str, str]:
    """The images built in the background, waited for (a test that needs one, or that must not
    run beside the build: it removes the base image)."""
    _background["thread"].join(timeout=3600)
    if _background["thread"].is_alive():
        pytest.fail("the background image build did not finish within an hour")
    if "error" in _background:
        raise _background["error"]
    return local_images


@pytest.fixture(scope="session")
def upgrade_image(local_images: dict[str, str]) -> str:
    """The gateway image of LiteLLM UPGRADE_TO, built in the background, waited for."""
    if not _background["upgrade"].wait(timeout=1800):
        pytest.fail(f"the LiteLLM {UPGRADE_TO} gateway image was not built within 30 minutes")
    if "upgrade_error" in _background:
        raise _background["upgrade_error"]
    return f"gwops/litellm:{UPGRADE_TO}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
