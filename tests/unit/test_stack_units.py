import os
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest

from gwops import components, envfile
from gwops.components.base import ImageChoice
from gwops.errors import ConfigError
from gwops.project import Project
from gwops.render import render_overrides
from gwops.settings import GatewaySettings, StackSettings
from gwops.up import levels_of
from tests.conftest import free_port

pytestmark = pytest.mark.unit


def test_levels_follow_depends_on():
    cfg = {
        "services": {
            "gateway": {"depends_on": {"postgres": {}, "redis": {}}},
            "postgres": {},
            "redis": {},
            "proxy": {"depends_on": {"gateway": {}}},
        }
    }
    assert levels_of(cfg) == [["postgres", "redis"], ["gateway"], ["proxy"]]


def test_env_generated_strong_and_private(tmp_path):
    example = tmp_path / ".env.example"
    example.write_text("# c\nLITELLM_MASTER_KEY=\nPOSTGRES_USER=litellm\nPOSTGRES_PASSWORD=\nREDIS_PASSWORD=\n")
    res = envfile.ensure(tmp_path / ".env", example, {"COMPOSE_PROJECT_NAME": "p"})
    mode = stat.S_IMODE(os.stat(tmp_path / ".env").st_mode)
    assert res.created and mode == 0o600
    assert res.values["LITELLM_MASTER_KEY"].startswith("sk-") and len(res.values["LITELLM_MASTER_KEY"]) > 40
    assert len(res.values["POSTGRES_PASSWORD"]) >= 40 and res.values["COMPOSE_PROJECT_NAME"] == "p"
    again = envfile.ensure(tmp_path / ".env", example, {"COMPOSE_PROJECT_NAME": "p"})
    assert again.values == res.values and not again.created


def test_weak_secret_refused_with_line(tmp_path):
    (tmp_path / ".env").write_text(
        "LITELLM_MASTER_KEY=sk-1234\nPOSTGRES_PASSWORD=x" + "a" * 30 + "bcdefghij\nREDIS_PASSWORD=\n"
    )
    os.chmod(tmp_path / ".env", 0o600)
    with pytest.raises(ConfigError) as info:
        envfile.ensure(tmp_path / ".env", tmp_path / "none", {})
    msgs = {(p.line, p.path) for p in info.value.problems}
    assert msgs == {(1, "LITELLM_MASTER_KEY"), (3, "REDIS_PASSWORD")}


def render_all(project, database=True, **gateway):
    choices = [
        ImageChoice(c.name, c.local, "local", "present")
        if c.local
        else ImageChoice(c.name, c.official, "official", "present")
        for c in components.REGISTRY
    ]
    settings = StackSettings(gateway=GatewaySettings(**gateway))
    return render_overrides(
        project,
        choices=choices,
        settings=settings,
        versions={"blue": "aaa111", "green": "bbb222"},
        provider_env=["OPENAI_API_KEY"],
        database=database,
        database_reason="why",
    )


def test_compose_fragments_golden(tmp_path):
    """Each component's compose fragment, rendered with the defaults, is its golden file
    (tests/golden_compose/; UPDATE_GOLDEN=1 rewrites them after a reviewed change)."""
    project = Project(tmp_path)
    (tmp_path / "compose.d").mkdir()
    (tmp_path / "compose.d/10-images.yml").write_text("services: {}\n")  # an earlier release's override
    changed = render_all(project)
    assert changed == [c.compose_file for c in components.REGISTRY] == project.compose_file_var().split(":")[1:]
    assert not (tmp_path / "compose.d/10-images.yml").exists()
    golden = Path(__file__).parents[1] / "golden_compose"
    for rel in changed:
        text = (tmp_path / rel).read_text()
        if os.environ.get("UPDATE_GOLDEN"):
            golden.mkdir(exist_ok=True)
            (golden / Path(rel).name).write_text(text)
        assert text == (golden / Path(rel).name).read_text(), f"{rel} differs from its golden file"
    assert render_all(project) == []  # deterministic: nothing rewritten


def test_compose_fragments_carry_the_settings(tmp_path):
    project = Project(tmp_path)
    render_all(project, port=4100, replicas=3, workers=4)
    gw = (tmp_path / "compose.d/gateway.yml").read_text()
    assert gw.count("OPENAI_API_KEY: ${OPENAI_API_KEY:?") == 2
    # the database by default, its pool per worker, and no gateway ever migrates
    assert gw.count("@postgres:5432/${POSTGRES_DB:-litellm}?connection_limit=4") == 2
    assert gw.count('DISABLE_SCHEMA_UPDATE: "true"') == 2
    # a slot's containers mount its folder, not a version: they do not change with the version
    assert "./state/slots/blue:/app/slot:ro" in gw and "./state/slots/green:/app/slot:ro" in gw
    assert "aaa111" not in gw and "bbb222" not in gw
    assert gw.count('"--num_workers", "4", "--run_gunicorn"') == 2 and gw.count("scale: 3") == 2
    assert gw.count("image: gwops/litellm:1.106.2") == 2  # both slots
    assert '"127.0.0.1:4100:4000"' in (tmp_path / "compose.d/proxy.yml").read_text()
    # secrets reach the containers only through interpolation from `.env`
    assert "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?" in (tmp_path / "compose.d/postgres.yml").read_text()
    render_all(project, database=False)  # `database.enabled: false`: the master key only
    assert "DATABASE_URL" not in (tmp_path / "compose.d/gateway.yml").read_text()


def test_went_live_keeps_the_previous_version_for_rollback():
    from gwops.slots import SlotState

    st = SlotState()
    st.went_live("blue", "v1")
    st.went_live("blue", "v2")  # a plain restart in the same slot
    st.went_live("green", "v3")  # a reload to the other slot
    assert st.version == "v3" and st.active == "green" and st.idle == "blue"
    assert [h["version"] for h in st.history] == ["v1", "v2"]


def test_proxy_config_does_not_change_with_the_active_slot(tmp_path):
    """Only slot.map follows the switches: `up` reloads HAProxy when its config really changed."""
    from gwops.render import render_proxy

    project = Project(tmp_path)
    assert render_proxy(project, "blue", GatewaySettings()) is True
    assert render_proxy(project, "green", GatewaySettings()) is False
    assert (tmp_path / "state/proxy/slot.map").read_text() == "active slot_green\n"
    cfg = (tmp_path / "state/proxy/haproxy.cfg").read_text()
    assert "option http-server-close" in cfg and "timeout server 630s" in cfg
    assert render_proxy(project, "green", GatewaySettings(drain_timeout=900)) is True
    assert render_proxy(project, "green", GatewaySettings(drain_timeout=900, replicas=3)) is True  # replicas are in it


def test_proxy_takes_a_dead_replica_out_fast_and_retries_only_failed_connections(tmp_path):
    """Each slot is one server per replica, found through Docker's DNS; liveness checks every
    500 ms, live-traffic connection errors mark a replica down at once; retries go elsewhere and
    HAProxy's retry-on stays at its default (connection failures only: nothing is sent twice)."""
    from gwops.render import render_proxy

    render_proxy(Project(tmp_path), "blue", GatewaySettings(replicas=3, max_inflight=50))
    cfg = (tmp_path / "state/proxy/haproxy.cfg").read_text()
    for slot in ("blue", "green"):
        assert (
            f"server-template gw 3 gateway-{slot}:4000 init-addr none resolvers docker resolve-prefer ipv4 maxconn 50 check"
            in cfg
        )
        # a busy last replica is never taken out: unchecked backups over the same replicas
        assert (
            f"server-template spare 3 gateway-{slot}:4000 init-addr none resolvers docker resolve-prefer ipv4 maxconn 50 resolve-opts allow-dup-ip backup\n"
            in cfg
        )
    assert cfg.count("option httpchk GET /health/liveliness") == 2 and cfg.count("balance leastconn") == 2
    assert "inter 500ms" in cfg and "fall 2" in cfg and "observe layer4 error-limit 1 on-error mark-down" in cfg
    assert "option redispatch 1" in cfg and "retries 3" in cfg
    assert "option abortonclose" in cfg and "timeout queue 30s" in cfg  # admission control
    assert "\n    retry-on" not in cfg  # never a retry of a request that reached a gateway


def test_two_components_on_one_port_is_refused_before_anything_starts():
    from gwops.errors import PrerequisiteError
    from gwops.preflight import check_ports
    from gwops.stack import Stack

    stack = Stack.__new__(Stack)  # only the settings and which images are here matter to the check
    stack.docker = SimpleNamespace(image_exists=lambda ref: False)  # Grafana's image absent: its port is not wanted
    stack.settings = StackSettings(monitoring={"prometheus_port": 4000})
    with pytest.raises(
        PrerequisiteError, match=r"`monitoring.prometheus_port` and `gateway.port` are both port 127.0.0.1:4000"
    ):
        check_ports(stack, {})
    port = free_port()
    stack.settings = StackSettings(gateway={"port": port}, monitoring={"enabled": False, "prometheus_port": port})
    check_ports(stack, {})  # monitoring off: its ports are not wanted


def test_status_counts_a_starting_container_healthy_once_its_ready_url_answers():
    """Prometheus' healthcheck runs every 20 s: until its first one, `status` asks `/-/ready`."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from gwops.status import service_row

    class Ready(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200 if self.path == "/-/ready" else 503)
            self.end_headers()

        def log_message(self, *_a):
            pass

    server = HTTPServer(("127.0.0.1", 0), Ready)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    starting = SimpleNamespace(
        attrs={
            "State": {"Status": "running", "Running": True, "Health": {"Status": "starting"}},
            "Config": {"Image": "x"},
            "NetworkSettings": {"Ports": {}},
            "RestartCount": 0,
        }
    )
    pin = SimpleNamespace(local="x", official="y")
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        row = service_row("prometheus", [starting], pin, f"{url}/-/ready")
        assert (row["health"], row["replicas"]) == ("healthy", "1/1")
        row = service_row("prometheus", [starting], pin, f"{url}/elsewhere")  # answers 503: not ready
        assert (row["health"], row["replicas"]) == ("starting", "0/1")
        assert service_row("prometheus", [starting], pin)["health"] == "starting"  # no ready URL
    finally:
        server.shutdown()


def test_a_replica_waiting_for_its_first_healthcheck_is_starting_not_degraded():
    """Right after `up` (which gated every replica's readiness), Docker's first check of the last
    replica can still be due: `starting`, which the gateway's row then settles with the proxy's
    view; a replica that failed its check is still `degraded`."""
    from gwops.status import service_row

    def container(health: str, running: bool = True):  # not running: waiting to restart (Running stays true)
        return SimpleNamespace(
            attrs={
                "State": {
                    "Status": "running" if running else "restarting",
                    "Running": True,
                    "Health": {"Status": health},
                },
                "Config": {"Image": "x"},
                "NetworkSettings": {"Ports": {}},
                "RestartCount": 0,
            }
        )

    pin = SimpleNamespace(local="x", official="y")
    row = service_row("gateway-blue", [container("healthy"), container("starting")], pin)
    assert (row["health"], row["replicas"]) == ("starting", "1/2")
    row = service_row("gateway-blue", [container("healthy"), container("unhealthy")], pin)
    assert (row["health"], row["replicas"]) == ("degraded", "1/2")
    row = service_row("gateway-blue", [container("healthy"), container("starting", running=False)], pin)
    assert row["health"] == "degraded"


def starting_row(state: str, ready: int) -> dict:
    """A gateway slot's `status` row whose Docker healthchecks still say `starting` (2 replicas)."""
    return {
        "service": "gateway-blue",
        "state": state,
        "health": "starting",
        "replicas": f"{ready}/2",
        "ready": ready,
        "total": 2,
    }


def test_the_serving_slot_is_healthy_when_the_proxy_has_every_replica_up(tmp_path):
    from gwops.components import gateway
    from gwops.proxy import SlotStats

    project = Project(tmp_path)
    stats = {"blue": SlotStats({"gw1": "UP", "gw2": "UP", "gw3": "MAINT"}, 0, 0, 0, 0)}
    stack = SimpleNamespace(project=project, proxy=SimpleNamespace(stats=lambda: stats))
    row = starting_row("running", 1)
    gateway.status_row(stack, row)  # a fresh project: blue is the active slot
    assert (row["role"], row["health"], row["replicas"], row["ready"]) == ("serving", "healthy", "2/2", 2)
    row = starting_row("restarting", 0)
    gateway.status_row(stack, row)  # not running: the proxy's stale view does not count
    assert (row["health"], row["replicas"]) == ("starting", "0/2")
    stats["blue"].servers["gw2"] = "DOWN"
    row = starting_row("running", 1)
    gateway.status_row(stack, row)
    assert (row["health"], row["replicas"]) == ("starting", "1/2")

    # the proxy is stopped: Docker cannot exec in it, its runtime API does not answer (an
    # OpsError, from Docker.exec's 126), Docker's view stands and status does not fail
    import docker.errors

    from gwops.docker import Docker
    from gwops.proxy import Proxy

    def refuse(*_a, **_k):
        raise docker.errors.APIError("409 Client Error: Conflict", explanation="container is not running")

    dk = Docker.__new__(Docker)
    dk.container = lambda _svc: SimpleNamespace(exec_run=refuse)
    assert dk.exec("proxy", ["true"]) == (126, "`proxy` cannot run a command: container is not running")
    stack.proxy = Proxy(dk)
    gateway.status_row(stack, row)
    assert (row["health"], row["replicas"]) == ("starting", "1/2")


def test_a_database_pool_that_could_exhaust_postgres_is_refused_with_its_line(tmp_path):
    from gwops.settings import PG_MAX_CONNECTIONS, PG_RESERVE, connections, load_settings

    assert connections(StackSettings()) == 2 * 2 * 2 * 4  # the defaults, with room
    assert connections(StackSettings(database={"enabled": False})) == 0
    f = tmp_path / "stack.yaml"
    f.write_text("gateway:\n  replicas: 3\n  workers: 2\ndatabase:\n  pool: 8\n")  # 2 x 3 x 2 x 8 = 96
    with pytest.raises(ConfigError) as info:
        load_settings(f)
    (p,) = info.value.problems
    assert (p.line, p.path) == (5, "database.pool") and "96 database connections" in p.message
    assert f"{PG_MAX_CONNECTIONS - PG_RESERVE} Postgres has" in p.message and "`database.pool` to 7" in p.hint
    f.write_text("gateway:\n  replicas: 3\n  workers: 2\ndatabase:\n  pool: 7\n")  # 84: fits
    assert load_settings(f).database.pool == 7
    f.write_text("gateway:\n  replicas: 16\n  workers: 16\n")  # no pool fits: the gateway's own settings
    with pytest.raises(ConfigError) as info:
        load_settings(f)
    assert info.value.problems[0].path == "gateway.workers" and "gateway.replicas" in info.value.problems[0].hint
