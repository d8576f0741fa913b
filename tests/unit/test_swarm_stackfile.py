"""The Swarm stack file (gwops.swarm.stackfile): golden, no secret in it, the settings carried."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from gwops.settings import GatewaySettings, MonitoringSettings, StackSettings, SwarmSettings
from gwops.swarm import stackfile

pytestmark = pytest.mark.unit

GOLDEN = Path(__file__).parents[1] / "golden_swarm" / "stack.yml"
ENV = {
    "LITELLM_MASTER_KEY": "sk-master-VALUE",
    "POSTGRES_PASSWORD": "pg-VALUE",
    "REDIS_PASSWORD": "redis-VALUE",
    "OPENAI_API_KEY": "sk-openai-VALUE",
}


def render(tmp_path: Path, database: bool = False, monitoring: bool = True, **gateway: object) -> str:
    settings = StackSettings(
        gateway=GatewaySettings(**gateway),
        swarm=SwarmSettings(update_monitor=5),
        monitoring=MonitoringSettings(enabled=monitoring),
    )
    for name, text in stackfile.config_files(settings, "gw").items():
        (tmp_path / name).write_text(text)
    secrets = {k: stackfile.secret_name("gw", k, v) for k, v in ENV.items()}
    inp = stackfile.Inputs(
        stack="gw",
        settings=settings,
        version="aaa111",
        # every Swarm service's local image (a new component's too)
        images={c.name: c.local or c.official for c in stackfile.services(settings)},
        image_ids={c.name: f"sha256:{c.name}" for c in stackfile.services(settings)},
        commands={
            "gateway": ["/opt/litellm/bin/python3", "/opt/gwops/gwops_entry.py"],
            "postgres": ["docker-entrypoint.sh", "postgres"],
        },
        secrets=secrets,
        database=database,
        env=ENV,
        socket_gid=998,
    )
    text = stackfile.render(inp, Path("/srv/gw/state/versions/aaa111.yaml"), tmp_path)
    return text.replace(str(tmp_path), "/srv/gw/state/swarm")


def test_stack_file_golden(tmp_path):
    """tests/golden_swarm/stack.yml; UPDATE_GOLDEN=1 rewrites it after a reviewed change."""
    text = render(tmp_path)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_no_secret_value_and_every_secret_external(tmp_path):
    text = render(tmp_path, database=True)
    for value in ENV.values():
        assert value not in text
    doc = yaml.safe_load(text)
    assert set(doc["secrets"]) == set(ENV)
    assert all(s["external"] is True and s["name"].startswith("gw_") for s in doc["secrets"].values())
    gw = doc["services"]["gateway"]
    assert {s["target"] for s in gw["secrets"]} == set(ENV)  # database: its password too
    assert "DATABASE_URL" in gw["entrypoint"][2] and "DATABASE_URL" not in gw.get("environment", {})
    assert not any(k in gw["environment"] for k in ENV)


def test_a_changed_secret_is_a_new_name_and_names_hide_the_value():
    a = stackfile.secret_name("gw", "REDIS_PASSWORD", "one")
    assert (
        a
        == stackfile.secret_name("gw", "REDIS_PASSWORD", "one")
        != stackfile.secret_name("gw", "REDIS_PASSWORD", "two")
    )
    assert a.startswith("gw_redis_password_") and "one" not in a.removeprefix("gw_redis_password_")


def test_rolling_update_settings(tmp_path):
    doc = yaml.safe_load(render(tmp_path, replicas=3, workers=4, ready_timeout=45, port=4100))
    gw = doc["services"]["gateway"]
    assert gw["deploy"]["replicas"] == 3 and gw["deploy"]["endpoint_mode"] == "dnsrr"
    upd = gw["deploy"]["update_config"]
    assert (upd["order"], upd["failure_action"], upd["parallelism"], upd["monitor"]) == (
        "start-first",
        "rollback",
        1,
        "5s",
    )
    hc = gw["healthcheck"]  # unhealthy `ready_timeout` after the start: 39 s, then 3 misses 2 s apart
    assert (hc["start_period"], hc["interval"], hc["retries"]) == ("39s", "2s", 3)
    # a timeout under 6 s: shorter checks, still unhealthy after it (not after 3 misses 2 s apart)
    assert stackfile.gateway_health(1) == {"interval": 1, "retries": 1, "start_period": 0}
    assert stackfile.gateway_health(4) == {"interval": 1, "retries": 3, "start_period": 1}
    assert gw["command"][:2] == ["/opt/litellm/bin/python3", "/opt/gwops/gwops_entry.py"]
    assert gw["command"][-5:] == ["--num_workers", "4", "--run_gunicorn", "--prometheus_metrics_port", "9400"]
    assert gw["configs"][0]["target"] == "/app/config.yaml"
    assert gw["labels"]["gwops.image-id"] == "sha256:gateway"  # a rebuilt local image is a new spec
    assert doc["configs"]["litellm_config"]["name"] == "gw_litellm_aaa111"
    assert doc["services"]["proxy"]["ports"] == [{"target": 4000, "published": 4100, "protocol": "tcp", "mode": "host"}]
    for svc in ("postgres", "redis"):
        assert doc["services"][svc]["deploy"]["placement"]["constraints"] == ["node.labels.gwops.state == true"]
    # the proxy balances over the gateway service's healthy tasks, with room for start-first updates
    cfg = (tmp_path / "haproxy.cfg").read_text()
    assert "server-template gw 6 gateway:4000" in cfg and "active slot_swarm" in (tmp_path / "slot.map").read_text()


def test_prometheus_finds_the_tasks_by_swarm_service_discovery(tmp_path):
    doc = yaml.safe_load(render(tmp_path))
    prom = doc["services"]["prometheus"]
    assert "/var/run/docker.sock:/var/run/docker.sock:ro" in prom["volumes"] and prom["user"] == "65534:998"
    assert "ports" not in prom and prom["deploy"]["placement"]["constraints"] == ["node.role == manager"]
    assert {"source": "LITELLM_MASTER_KEY", "target": "gateway-metrics.key"} in prom["secrets"]
    cfg = yaml.safe_load((tmp_path / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    assert set(jobs) == {"gateway", "proxy"}
    gw = jobs["gateway"]
    assert gw["dockerswarm_sd_configs"][0]["role"] == "tasks" and gw["authorization"]["credentials_file"]
    keep = {r["regex"] for r in gw["relabel_configs"] if r.get("action") == "keep"}
    assert keep == {"gw_gateway", "running", "gw_egress"}
    # without monitoring: no Prometheus, no config of its
    off = yaml.safe_load(render(tmp_path / "x" if (tmp_path / "x").mkdir() is None else tmp_path, monitoring=False))
    assert "prometheus" not in off["services"] and "prometheus_config" not in off["configs"]
