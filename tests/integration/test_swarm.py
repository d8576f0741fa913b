"""`bin/ops swarm`: the stack on a one-node Docker Swarm, deployed from the same config.

One stack serves the whole module (deploy, two rolling updates under load, backup, rm). The
engine is made a one-node swarm for it if it is not one already, and leaves it again after.
The proxy's port is published in host mode: the routing mesh needs IPVS, which these machines lack
(shared/ENVIRONMENT.md)."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import pytest
import yaml

from gwops import envfile
from gwops.loadgen import Background
from gwops.poll import poll
from tests.conftest import unique
from tests.integration.conftest import make_copy, master_key, ops

pytestmark = pytest.mark.integration
RATE = 20  # the load: 20 requests/s, 20% streaming


def docker(*args: str, check: bool = True) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=120).stdout


def providers(root: Path, *models: str) -> None:
    (root / "config/providers.yaml").write_text(
        f"providers:\n  lab:\n    type: mock\n    models: [{', '.join(('gwops-echo', *models))}]\n"
    )


@pytest.fixture(scope="module")
def swarm(tmp_path_factory, local_images):
    joined = json.loads(docker("info", "--format", "{{json .Swarm}}"))["LocalNodeState"] == "active"
    if not joined:
        docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    root = tmp_path_factory.mktemp("swarm") / "repo"
    env = make_copy(root, unique("gwops-swarm"), monitoring=True)  # Prometheus joins the stack
    providers(root)
    settings = yaml.safe_load((root / "config/stack.yaml").read_text())
    url = f"http://127.0.0.1:{settings['gateway']['port']}"
    yield root, env, url, settings["project_name"]
    ops(root, env, "swarm", "rm", "--volumes", "--yes", "--no-backup", timeout=300)
    if not joined:
        docker("swarm", "leave", "--force", check=False)


def chat(url: str, key: str, model: str = "gwops-echo") -> tuple[int, str]:
    """Status and the proxy's backend (`X-Gwops-Slot`)."""
    req = urllib.request.Request(
        f"{url}/v1/chat/completions",
        method="POST",
        data=json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]}).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, r.headers.get("X-Gwops-Slot", "")


def swarm_status(root: Path, env: dict) -> dict:
    st = ops(root, env, "swarm", "status", "--json")
    return json.loads(st.stdout)


def gateway_targets(project: str) -> list[tuple[str, str]]:
    """(config version, health) of each gateway target Prometheus has found (swarm service
    discovery), asked inside its task's container: it is not published."""
    cid = docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={project}_prometheus").split()[0]
    out = json.loads(docker("exec", cid, "wget", "-q", "-O", "-", "http://127.0.0.1:9090/api/v1/targets"))
    return sorted(
        (t["labels"].get("config_version", ""), t["health"])
        for t in out["data"]["activeTargets"]
        if t["labels"]["job"] == "gateway"
    )


def failed(res) -> str:
    return "; ".join(f"{o.kind}/{o.conn}: {o.error[:80]}" for o in res.failures[:5])


def test_outside_a_swarm_deploy_says_how_to_make_one(tmp_path, docker_engine):
    if json.loads(docker("info", "--format", "{{json .Swarm}}"))["LocalNodeState"] == "active":
        pytest.skip("this engine is in a swarm already")
    root = tmp_path / "repo"
    env = make_copy(root, unique("gwops-noswarm"))
    r = ops(root, env, "swarm", "deploy")
    assert r.returncode == 3 and "not part of a swarm" in r.stderr and "docker swarm init" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (root / "state/swarm/stack.yml").exists()


def test_deploy_serves_with_secrets_out_of_the_stack_file(swarm):
    root, env, url, project = swarm
    r = ops(root, env, "swarm", "deploy")
    assert r.returncode == 0, r.stderr
    assert "swarm stack is up" in r.stderr and "Postgres and Redis on" in r.stderr, r.stderr
    assert chat(url, master_key(root)) == (200, "slot_swarm")
    # the database is on with the local image: migrated before any gateway task started
    assert "starting Postgres first" in r.stderr and "LiteLLM migrations applied" in r.stderr, r.stderr
    key = ops(root, env, "keys", "create", "--alias", "swarm-user")
    assert key.returncode == 0, key.stderr
    assert chat(url, key.stdout.strip()) == (200, "slot_swarm")
    poll(lambda: "swarm-user" in ops(root, env, "spend", "--by", "key").stdout or None, 60, 1)

    stack_file = root / "state/swarm/stack.yml"
    docker("stack", "config", "--compose-file", str(stack_file))  # valid for `docker stack deploy`
    text = stack_file.read_text()
    inspect = docker("service", "inspect", f"{project}_gateway", f"{project}_postgres", f"{project}_redis")
    secrets = {k: v for k, v in envfile.read(root / ".env").items() if k in envfile.SECRET_KEYS and v}
    assert {"LITELLM_MASTER_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD"} <= set(secrets)
    for key, value in secrets.items():
        assert value not in text, f"{key}'s value is in the stack file"
        assert value not in inspect, f"{key}'s value is in a service's spec"
    assert "external: true" in text

    st = swarm_status(root, env)
    assert st["overall"] == "healthy"
    assert {r["service"]: (r["running"], r["desired"]) for r in st["services"]}["gateway"] == (2, 2)

    # the Compose view of the checkout points at the Swarm one
    compose_status = ops(root, env, "status")
    assert compose_status.returncode == 2 and "bin/ops swarm status" in compose_status.stdout, compose_status.stdout

    # a Compose stack of the same checkout would share the data volume: refused
    up = ops(root, env, "up")
    assert up.returncode == 3 and "runs on Docker Swarm" in up.stderr, up.stderr


def test_a_config_change_rolls_out_under_load_with_no_failed_request(swarm):
    root, env, url, project = swarm
    before = {r["service"]: r for r in swarm_status(root, env)["services"]}["gateway"]["config_version"]
    providers(root, "extra-1")
    with Background(url, master_key(root), rate=RATE, stream_share=0.2) as bg:
        r = ops(root, env, "swarm", "deploy", timeout=900)
        assert r.returncode == 0, r.stderr
        assert "rolled out" in r.stderr, r.stderr
    res = bg.result
    print(res.summary())
    assert len(res.outcomes) > 10 * RATE
    assert res.failures == [], failed(res)
    gw = {r["service"]: r for r in swarm_status(root, env)["services"]}["gateway"]
    assert gw["config_version"] != before and (gw["running"], gw["desired"]) == (2, 2) and gw["update"] == "completed"
    # the old tasks were drained and stopped: two gateway containers run, both of the new spec
    running = docker("ps", "--filter", f"label=com.docker.swarm.service.name={project}_gateway", "-q").split()
    assert len(running) == 2
    for cid in running:
        task = docker("inspect", cid, "--format", '{{index .Config.Labels "com.docker.swarm.task.id"}}').strip()
        assert f"_litellm_{gw['config_version']}" in docker("inspect", task)  # the task's spec names its config
    assert chat(url, master_key(root), "extra-1")[0] == 200
    # Prometheus followed the rollout by itself: it scrapes the two new tasks, and only them
    new = gw["config_version"]
    poll(lambda: True if gateway_targets(project) == [(new, "up"), (new, "up")] else None, 60, 1)


def test_a_gateway_that_never_gets_ready_is_rolled_back_with_no_failed_request(swarm):
    root, env, url, project = swarm
    live = {r["service"]: r for r in swarm_status(root, env)["services"]}["gateway"]["config_version"]
    stack_file = root / "config/stack.yaml"
    good = stack_file.read_text()
    s = yaml.safe_load(good)
    s["gateway"]["ready_timeout"] = 1  # the new task's health check gives up before LiteLLM is up
    stack_file.write_text(yaml.safe_dump(s))
    providers(root, "extra-1", "never-ready")
    try:
        with Background(url, master_key(root), rate=RATE, stream_share=0.2) as bg:
            r = ops(root, env, "swarm", "deploy", timeout=900)
    finally:
        stack_file.write_text(good)
    assert r.returncode == 4 and "Swarm rolled `gateway` back" in r.stderr, r.stderr
    res = bg.result
    print(res.summary())
    assert res.failures == [], failed(res)
    gw = {r["service"]: r for r in swarm_status(root, env)["services"]}["gateway"]
    assert gw["config_version"] == live and (gw["running"], gw["desired"]) == (2, 2)


def test_a_config_whose_route_fails_its_check_is_rolled_back(swarm):
    """The new tasks are healthy, but a required provider is down: the route check through the
    proxy fails after the rollout, and `swarm deploy` rolls the gateway back itself."""
    root, env, url, project = swarm
    live = {r["service"]: r for r in swarm_status(root, env)["services"]}["gateway"]["config_version"]
    (root / "config/providers.yaml").write_text(
        "providers:\n  lab:\n    type: mock\n    models: [gwops-echo, extra-1]\n"
        "  down:\n    type: openai_compatible\n    base_url: http://localhost:9/v1\n    models: [dead-model]\n    required: true\n"
    )
    try:
        with Background(url, master_key(root), rate=RATE, stream_share=0.2) as bg:
            r = ops(root, env, "swarm", "deploy", timeout=900)
    finally:
        providers(root, "extra-1")
    assert r.returncode == 4 and "chat completion via `dead-model`" in r.stderr and "rolled back" in r.stderr, r.stderr
    res = bg.result
    print(res.summary())
    assert res.failures == [], failed(res)
    gw = {r["service"]: r for r in swarm_status(root, env)["services"]}["gateway"]
    assert gw["config_version"] == live and (gw["running"], gw["desired"]) == (2, 2)


def test_backup_works_against_the_swarm_stack_and_rm_keeps_the_volumes(swarm):
    root, env, url, project = swarm
    b = ops(root, env, "backup")
    assert b.returncode == 0, b.stderr
    assert "verified" in (b.stdout + b.stderr)

    pg = docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={project}_postgres").split()[0]
    docker("exec", pg, "psql", "-U", "litellm", "-d", "litellm", "-c", "CREATE TABLE kept AS SELECT 42 AS answer")
    key = ops(root, env, "keys", "create", "--alias", "kept-user").stdout.strip()
    assert chat(url, key)[0] == 200

    r = ops(root, env, "swarm", "rm", timeout=300)
    assert r.returncode == 0 and "volumes kept" in r.stderr, r.stderr
    assert not docker("ps", "-aq", "--filter", f"label=com.docker.stack.namespace={project}").split()
    volumes = docker("volume", "ls", "-q").split()
    assert f"{project}_postgres-data" in volumes and f"{project}_redis-data" in volumes

    # deployed again, the data is there: the same volumes
    r = ops(root, env, "swarm", "deploy")
    assert r.returncode == 0, r.stderr
    pg = docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={project}_postgres").split()[0]
    assert (
        docker("exec", pg, "psql", "-U", "litellm", "-d", "litellm", "-tAc", "SELECT answer FROM kept").strip() == "42"
    )
    assert "database: up to date" in r.stderr, r.stderr
    assert chat(url, key)[0] == 200  # the key made before is served again
    r = ops(root, env, "swarm", "rm", "--volumes", "--yes", timeout=300)
    assert r.returncode == 0 and "backup" in r.stderr and "volumes deleted" in r.stderr, r.stderr
    volumes = docker("volume", "ls", "-q").split()
    assert f"{project}_postgres-data" not in volumes and f"{project}_redis-data" not in volumes
