"""The monitoring templates, rendered with their defaults, checked by the real tools: `promtool check
config`, `promtool check rules` and `promtool test rules` (rules_test.yml) in the local prometheus
image, and `amtool check-config` in the local alertmanager image.

gwops.rules.yml next to this file is the rules template rendered with default thresholds (what
rules_test.yml was written against); a unit test keeps it current.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest

HERE = Path(__file__).resolve().parent
COMPONENTS = HERE.parents[1] / "src" / "gwops" / "components"
PROMETHEUS_IMAGE = os.environ.get("GWOPS_PROMETHEUS_IMAGE", "gwops/prometheus:2.42.0")
ALERTMANAGER_IMAGE = os.environ.get("GWOPS_ALERTMANAGER_IMAGE", "gwops/alertmanager:0.25.0")
TOKEN_FILE = "/run/secrets/gateway-metrics.key"


def prometheus_key() -> str:
    from gwops.components.prometheus import KEY_FILE

    return KEY_FILE


def render(component: str, template: str, **variables: object) -> str:
    """Rendered as the components' templates are (strict, trim_blocks, lstrip_blocks)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(COMPONENTS / component)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    return env.get_template(template).render(**variables)


@pytest.mark.unit
def test_rendered_rules_copy_is_current() -> None:
    fresh = render("prometheus", "rules/gwops.rules.yml.j2")
    assert (HERE / "gwops.rules.yml").read_text() == fresh, (
        "tests/monitoring/gwops.rules.yml is stale: write the template rendered with its defaults there"
    )


def _image(ref: str, component: str) -> str:
    present = subprocess.run(["docker", "image", "inspect", ref], capture_output=True, timeout=30).returncode == 0
    if not present:
        build = (
            f"docker build --build-arg BASE_IMAGE=gwops/debian:bookworm -t {ref} src/gwops/components/{component}/image"
        )
        if os.environ.get("CI"):
            pytest.fail(f"image {ref} is absent, and monitoring tests must run in CI ({build})")
        pytest.skip(f"image {ref} is absent (build it: {build})")
    return ref


@pytest.fixture(scope="module")
def prometheus_image(docker_engine: None) -> str:
    return _image(PROMETHEUS_IMAGE, "prometheus")


@pytest.fixture(scope="module")
def alertmanager_image(docker_engine: None) -> str:
    return _image(ALERTMANAGER_IMAGE, "alertmanager")


@pytest.fixture
def rendered(tmp_path: Path) -> Path:
    """The files `bin/ops up` writes for Prometheus (state/prometheus/: prometheus.yml from the
    component registry, rules/; the gateway key in state/secrets/), with the default settings,
    and unit/ (rules_test.yml next to the rules it tests), all readable by nobody."""
    from gwops import components
    from gwops.components import prometheus
    from gwops.components.base import FilesContext
    from gwops.project import Project
    from gwops.settings import StackSettings

    project = Project(tmp_path)
    prometheus.files(
        FilesContext(project, StackSettings(), "test", {"LITELLM_MASTER_KEY": "sk-" + "x" * 40}, components.REGISTRY)
    )
    (tmp_path / "unit").mkdir()
    shutil.copy(tmp_path / "state/prometheus/rules/gwops.rules.yml", tmp_path / "unit" / "gwops.rules.yml")
    shutil.copy(HERE / "rules_test.yml", tmp_path / "unit" / "rules_test.yml")
    for p in [tmp_path, *tmp_path.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return tmp_path


def promtool(image: str, files: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        "docker",
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        f"{files / 'state/prometheus'}:/etc/prometheus:ro",
        "-v",
        f"{files / 'state' / prometheus_key()}:{TOKEN_FILE}:ro",
        "-v",
        f"{files / 'unit'}:/unit:ro",
        "-w",
        "/unit",
        "--entrypoint",
        "promtool",
        image,
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.integration
def test_promtool_check_config(prometheus_image: str, rendered: Path) -> None:
    r = promtool(prometheus_image, rendered, "check", "config", "/etc/prometheus/prometheus.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: 1 rule files found" in r.stdout


@pytest.mark.integration
def test_promtool_check_rules(prometheus_image: str, rendered: Path) -> None:
    r = promtool(prometheus_image, rendered, "check", "rules", "/etc/prometheus/rules/gwops.rules.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: 12 rules found" in r.stdout


@pytest.mark.integration
def test_promtool_test_rules(prometheus_image: str, rendered: Path) -> None:
    r = promtool(prometheus_image, rendered, "test", "rules", "rules_test.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


@pytest.mark.integration
@pytest.mark.parametrize(
    "variables",
    [
        {},
        {
            "receivers": [
                {"name": "ops", "webhooks": ["http://hooks.example:8080/alert"], "emails": ["ops@example.com"]},
                {"name": "chat", "webhooks": ["http://chat.example/hook"]},
            ],
            "smtp": {
                "smarthost": "smtp.example:587",
                "from": "gateway@example.com",
                "auth_username": "gw",
                "auth_password_file": "/run/secrets/smtp_password",
            },
        },
    ],
    ids=["null-receiver", "webhooks-and-email"],
)
def test_amtool_check_config(alertmanager_image: str, tmp_path: Path, variables: dict[str, object]) -> None:
    config = tmp_path / "alertmanager.yml"
    config.write_text(render("alertmanager", "alertmanager.yml.j2", **variables))
    config.chmod(0o644)
    r = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            f"{config}:/etc/alertmanager/alertmanager.yml:ro",
            "--entrypoint",
            "amtool",
            alertmanager_image,
            "check-config",
            "/etc/alertmanager/alertmanager.yml",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout
