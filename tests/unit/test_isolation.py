"""One checkout, one stack: the derived Compose project name, and a Compose plugin that no
checkout's removal can break (placed and repaired in a temporary DOCKER_CONFIG, with a fake binary)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gwops import host, projectname
from gwops.errors import PrerequisiteError, UsageError
from gwops.project import Project
from gwops.settings import StackSettings, load_settings
from tests.conftest import REPO

pytestmark = pytest.mark.unit
DERIVED = projectname.VALID


# -- project name ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, stem",
    [
        ("gwops", "gwops"),
        ("My Repo.v2!", "my-repo-v2-"),
        ("__weird--name__", "weird-name"),
        ("ÄÖÜ", "gwops"),
        ("a" * 80, "a" * projectname.MAX_STEM),
    ],
)
def test_derived_name_follows_compose_rules(tmp_path, name, stem):
    derived = projectname.derive(tmp_path / name)
    assert DERIVED.fullmatch(derived), derived
    assert derived.startswith(stem.rstrip("-")) and len(derived.rsplit("-", 1)[1]) == 8


def test_derived_name_is_stable_and_differs_between_checkouts(tmp_path):
    a, b = tmp_path / "a" / "gwops", tmp_path / "b" / "gwops"
    assert projectname.derive(a) == projectname.derive(a) == projectname.derive(tmp_path / "a" / "x" / ".." / "gwops")
    assert projectname.derive(a) != projectname.derive(b)
    assert projectname.derive(a).startswith("gwops-") and projectname.derive(b).startswith("gwops-")


def test_resolve_explicit_then_env_then_derived(tmp_path):
    project = Project(tmp_path)
    assert projectname.resolve(project, StackSettings()) == projectname.derive(tmp_path)
    (tmp_path / ".env").write_text("POSTGRES_USER=litellm\nCOMPOSE_PROJECT_NAME=gwops\n")
    assert projectname.resolve(project, StackSettings()) == "gwops"  # an existing stack keeps its name
    assert projectname.resolve(project, StackSettings(project_name="mine")) == "mine"  # stack.yaml wins


def test_resolve_refuses_an_invalid_name_in_env(tmp_path):
    (tmp_path / ".env").write_text("COMPOSE_PROJECT_NAME=Not Valid\n")
    with pytest.raises(UsageError) as info:
        projectname.resolve(Project(tmp_path), StackSettings())
    assert "COMPOSE_PROJECT_NAME" in info.value.message and "delete the line" in info.value.hint


def test_shipped_settings_leave_the_name_to_the_checkout():
    assert StackSettings().project_name is None
    assert load_settings(REPO / "config/stack.yaml").project_name is None


def test_up_writes_the_resolved_name_into_env(tmp_path):
    from gwops.stack import Stack

    stack = Stack(Project(tmp_path), lambda m: None, StackSettings())
    assert stack.managed_env("blue")["COMPOSE_PROJECT_NAME"] == projectname.derive(tmp_path)
    assert stack.docker.project_name == stack.project_name


# -- compose plugin -------------------------------------------------------------------------------
FAKE = b"#!/bin/sh\necho 2.40.3\n"


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A temporary DOCKER_CONFIG, a fake bundled binary in a fake .venv, and a version probe that
    answers when the plugin entry leads to an executable copy of that binary."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    binary = tmp_path / "venv/lib/python3.11/site-packages/compose/docker-compose"
    binary.parent.mkdir(parents=True)
    binary.write_bytes(FAKE)
    monkeypatch.setattr(host, "_bundled_compose", lambda: binary)
    monkeypatch.setattr(host, "_bundled_version", lambda: "2.40.3")

    def probe() -> str | None:
        entry = host.plugin_dir() / "docker-compose"
        ok = entry.is_file() and os.access(entry, os.X_OK) and entry.read_bytes() == FAKE
        return "2.40.3" if ok else None

    monkeypatch.setattr(host, "compose_answers", probe)
    said: list[str] = []
    return host.plugin_dir() / "docker-compose", said


def _copy() -> Path:
    return host.plugin_dir() / host.STORE / "docker-compose-2.40.3"


def _no_leftovers() -> None:
    names = [p.name for p in host.plugin_dir().rglob("*")]
    assert not [n for n in names if ".tmp-" in n], names


def test_plugin_is_a_copy_owned_by_no_checkout(plugin):
    link, said = plugin
    assert host.ensure_compose(said.append) == "2.40.3"
    assert link.is_symlink() and not Path(os.readlink(link)).is_absolute()
    assert link.resolve() == _copy() and _copy().read_bytes() == FAKE
    assert oct(_copy().stat().st_mode & 0o777) == "0o755"
    assert said and "made Compose v2 visible" in said[0]
    said.clear()
    assert host.ensure_compose(said.append) == "2.40.3" and not said  # working: nothing touched
    _no_leftovers()


def test_dangling_link_of_the_old_layout_is_repaired(plugin, tmp_path):
    link, said = plugin
    link.parent.mkdir(parents=True)
    link.symlink_to(tmp_path / "deleted-checkout/.venv/lib/python3.11/site-packages/compose/docker-compose")
    assert host.ensure_compose(said.append) == "2.40.3"
    assert link.resolve() == _copy() and "repaired" in said[0]
    _no_leftovers()


def test_broken_copy_we_made_is_repaired(plugin):
    link, said = plugin
    host.ensure_compose(said.append)
    _copy().write_bytes(b"\0" * 10)  # e.g. a full disk during an earlier copy
    said.clear()
    assert host.ensure_compose(said.append) == "2.40.3"
    assert _copy().read_bytes() == FAKE and "repaired" in said[0]


@pytest.mark.parametrize("foreign", ["file", "dangling link"])
def test_a_broken_plugin_that_is_not_ours_is_reported_not_overwritten(plugin, tmp_path, foreign):
    link, said = plugin
    link.parent.mkdir(parents=True)
    if foreign == "file":
        link.write_bytes(b"someone else's")
    else:
        link.symlink_to(tmp_path / "opt/compose/bin/docker-compose")
    before = link.read_bytes() if foreign == "file" else os.readlink(link)
    with pytest.raises(PrerequisiteError) as info:
        host.ensure_compose(said.append)
    assert f"`{link}` exists but `docker compose version` fails" in info.value.message
    assert "does not overwrite it" in info.value.hint
    assert (link.read_bytes() if foreign == "file" else os.readlink(link)) == before
    assert not (host.plugin_dir() / host.STORE).exists()


# -- down --volumes without its backup ------------------------------------------------------------
class _FakeDocker:
    """Postgres stopped (no container), its volume still there."""

    def __init__(self, vols: list[str]):
        self.vols, self.downs = vols, []

    def container(self, service: str):
        return None

    def volumes(self) -> list[str]:
        return self.vols

    def compose_down(self, volumes: bool) -> None:
        self.downs.append(volumes)


@pytest.mark.parametrize("vols, refused", [(["postgres-data", "redis-data"], True), ([], False)])
def test_down_volumes_refuses_when_its_backup_cannot_run(tmp_path, vols, refused):
    from gwops.errors import SafetyBackupError
    from gwops.stack import Stack

    stack = Stack(Project(tmp_path), lambda m: None, StackSettings(project_name="p"))
    stack.docker = _FakeDocker(vols)
    if refused:
        with pytest.raises(SafetyBackupError) as info:
            stack.down(True, lambda q: True)
        assert "`postgres` is not running, but its volume `postgres-data` exists" in info.value.message
        assert "`--no-backup`" in info.value.hint and info.value.exit_code == 1 and stack.docker.downs == []
    else:
        assert stack.down(True, lambda q: True) is None and stack.docker.downs == [True]  # nothing to lose
    assert stack.down(True, lambda q: True, backup=False) is None and stack.docker.downs[-1] is True
