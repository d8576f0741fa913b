"""The warm `up` skips only what Compose would leave as it is, and its cached compose model is
keyed by every input of `docker compose config`."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from gwops.components.base import ImageChoice
from gwops.docker import CONFIG_HASH_LABEL, IMAGE_LABEL, ComposeModel, Docker
from gwops.project import Project
from gwops.stack import healthy
from gwops.up import image_of, levels_of

pytestmark = pytest.mark.unit
MODEL = ComposeModel(
    depends_on={"gateway-blue": ["postgres", "redis"], "postgres": [], "redis": []},
    scale={"gateway-blue": 2, "postgres": 1, "redis": 1},
    hashes={"gateway-blue": "h-gw", "postgres": "h-pg", "redis": "h-rd"},
)


def container(status="running", config_hash="h-gw", image="sha256:gw", health="healthy"):
    state = {"Status": status, **({"Health": {"Status": health}} if health else {})}
    return SimpleNamespace(
        status=status, labels={CONFIG_HASH_LABEL: config_hash, IMAGE_LABEL: image}, attrs={"State": state}
    )


class _Images(Docker):
    """No engine: image ids from a dict."""

    def __init__(self, project: Project, ids: dict[str, str]):
        super().__init__(project, "p")
        self.ids = ids

    def image_id(self, ref: str) -> str | None:
        return self.ids.get(ref)


@pytest.fixture
def docker(tmp_path):
    return _Images(Project(tmp_path), {"gw:1": "sha256:gw"})


def test_up_to_date_only_when_compose_would_change_nothing(docker):
    two = [container(), container()]
    assert docker.up_to_date("gateway-blue", two, MODEL, "gw:1")
    assert not docker.up_to_date("gateway-blue", two[:1], MODEL, "gw:1")  # a replica missing
    assert not docker.up_to_date("gateway-blue", [container(), container(status="exited")], MODEL, "gw:1")
    assert not docker.up_to_date("gateway-blue", [container(), container(config_hash="old")], MODEL, "gw:1")
    assert not docker.up_to_date("gateway-blue", [container(), container(image="sha256:old")], MODEL, "gw:1")
    assert not docker.up_to_date("gateway-blue", two, MODEL, "gw:2")  # image not present
    assert not docker.up_to_date("gateway-blue", [], MODEL, "gw:1")


def test_healthy_needs_every_replica_running_and_healthy():
    assert healthy([container(), container(health=None)])
    assert not healthy([container(), container(health="starting")])
    assert not healthy([])


def test_model_gives_levels_and_image_of_a_slot():
    assert levels_of(MODEL.as_config()) == [["postgres", "redis"], ["gateway-blue"]]
    choices = [ImageChoice("gateway", "gw:1", "local", "present"), ImageChoice("postgres", "pg:1", "local", "present")]
    assert image_of("gateway-green", choices) == "gw:1" and image_of("postgres", choices) == "pg:1"
    assert image_of("redis", choices) is None


def test_model_cache_key_follows_files_env_file_and_named_variables(tmp_path, monkeypatch):
    project = Project(tmp_path)
    (tmp_path / "docker-compose.yml").write_text("services:\n  a:\n    image: ${A_IMAGE:-x}\n")
    (tmp_path / ".env").write_text("K=1\n")
    d = Docker(project, "p")
    base = d._model_key("2.40.3")
    monkeypatch.setenv("UNRELATED_VARIABLE", "1")
    assert d._model_key("2.40.3") == base
    monkeypatch.setenv("A_IMAGE", "y")  # overrides .env in interpolation
    assert d._model_key("2.40.3") != base
    monkeypatch.delenv("A_IMAGE")
    (tmp_path / ".env").write_text("K=2\n")
    assert d._model_key("2.40.3") != base
    (tmp_path / ".env").write_text("K=1\n")
    assert d._model_key("2.40.3") == base and d._model_key("2.41.0") != base


def test_model_cache_is_used_while_the_key_holds_and_holds_no_values(tmp_path):
    project = Project(tmp_path)
    (tmp_path / "docker-compose.yml").write_text("services: {}\n")
    (tmp_path / ".env").write_text("SECRET=s3cr3t-value\n")
    calls = []

    class _Compose(Docker):
        def compose_config(self):
            calls.append("config")
            return {"services": {"a": {"environment": {"SECRET": "s3cr3t-value"}, "scale": 2}}}

        def _config_hashes(self):
            return {"a": "h"}

    d = _Compose(project, "p")
    first = d.compose_model("v")
    assert first == ComposeModel({"a": []}, {"a": 2}, {"a": "h"}) and d.compose_model("v") == first
    assert calls == ["config"]
    cache = tmp_path / "state/cache/compose-model.json"
    assert "s3cr3t" not in cache.read_text() and json.loads(cache.read_text())["hashes"] == {"a": "h"}
    assert oct(cache.stat().st_mode & 0o777) == "0o600"
    (tmp_path / "docker-compose.yml").write_text("services: {}\n# changed\n")
    d.compose_model("v")
    assert calls == ["config", "config"]
