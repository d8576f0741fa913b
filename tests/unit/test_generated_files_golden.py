"""The files `up` and `swarm deploy` write beside the compose fragments and the LiteLLM config
(those have goldens of their own), each compared byte for byte with its golden file in
tests/golden_files/ (UPDATE_GOLDEN=1 rewrites them after a reviewed change): HAProxy's config,
Prometheus' config and rules, Alertmanager's config and Grafana's provisioning, for Compose and
for the Swarm stack. Two settings are used: the defaults, and alerts with receivers and SMTP."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gwops import components
from gwops.components.base import FilesContext
from gwops.project import Project
from gwops.render import render_proxy
from gwops.settings import GatewaySettings, MonitoringSettings, ReceiverSettings, SmtpSettings, StackSettings
from gwops.swarm import stackfile

pytestmark = pytest.mark.unit

GOLDEN = Path(__file__).parents[1] / "golden_files"
ENV = {"LITELLM_MASTER_KEY": "sk-golden-master-key", "SMTP_PASSWORD": "golden-smtp-password"}
CASES = {
    "default": StackSettings(),
    "alerts": StackSettings(
        gateway=GatewaySettings(replicas=3, max_inflight=32),
        monitoring=MonitoringSettings(
            scrape_interval=5,
            receivers=[ReceiverSettings(name="ops", webhooks=["https://hooks.example/x"], emails=["ops@example.org"])],
            smtp=SmtpSettings(
                smarthost="mail.example.org:587", sender="gw@example.org", username="gw", password_env="SMTP_PASSWORD"
            ),
        ),
    ),
}


def check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{name} has no golden file (UPDATE_GOLDEN=1 writes it)"
    assert text == path.read_text(), f"{name} differs from its golden file"


def generated(root: Path) -> dict[str, str]:
    """Every file written under `root`, but the secrets and Grafana's dashboards (JSON built by
    the SDK, checked by tests/unit/test_grafana.py)."""
    return {
        str(p.relative_to(root)): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "secrets" not in p.parts and p.suffix != ".json" and p.name != "dashboards.sha256"
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_compose_stack_files_golden(tmp_path, case):
    settings = CASES[case]
    project = Project(tmp_path)
    ctx = FilesContext(project, settings, "gwops-golden", ENV, components.REGISTRY)
    for name in ("prometheus", "alertmanager", "grafana", "postgres_exporter"):
        components.get(name).files(ctx)  # type: ignore[union-attr]
    render_proxy(project, "blue", settings.gateway)
    files = generated(project.state_dir)
    assert {
        "proxy/haproxy.cfg",
        "prometheus/prometheus.yml",
        "prometheus/rules/gwops.rules.yml",
        "alertmanager/alertmanager.yml",
        "postgres_exporter/queries.yml",
        "grafana/provisioning/datasources/prometheus.yml",
        "grafana/provisioning/dashboards/gwops.yml",
    } <= set(files)
    for rel, text in files.items():
        assert ENV["LITELLM_MASTER_KEY"] not in text and ENV["SMTP_PASSWORD"] not in text, rel
        check(f"{case}/compose/{rel}", text)


@pytest.mark.parametrize("case", sorted(CASES))
def test_swarm_stack_files_golden(case):
    files = stackfile.config_files(CASES[case], "gwops-golden")
    assert set(files) == {"haproxy.cfg", "slot.map", "prometheus.yml", "gwops.rules.yml"}
    for name, text in files.items():
        check(f"{case}/swarm/{name}", text)
