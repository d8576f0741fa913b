"""Grafana without Grafana (its image cannot be had here): the dashboards built as code, their
queries parsed by a real PromQL parser, the provisioning files, the compose fragment."""

import json
import re
from pathlib import Path

import promql_parser
import pytest
import yaml

from gwops import components, metrics
from gwops.components import grafana
from gwops.components.base import FilesContext
from gwops.components.grafana import dashboards
from gwops.project import Project
from gwops.settings import StackSettings

pytestmark = pytest.mark.unit

UIDS = {"gwops-overview", "gwops-tokens", "gwops-performance", "gwops-health", "gwops-system"}
PREFIXES = ("litellm_", "haproxy_", "pg_", "redis_", "node_", "gwops_", "prometheus_")
EXACT = {"up", "ALERTS"}
NOTES = Path(grafana.__file__).parents[1] / "prometheus" / "NOTES.md"
GATEWAY_METRICS = Path(grafana.__file__).parents[1] / "gateway" / "image" / "gwops_metrics.py"
# HAProxy 2.6's built-in exporter (promex): the names the dashboards use
HAPROXY = {
    "haproxy_frontend_http_requests_total",
    "haproxy_frontend_current_sessions",
    "haproxy_frontend_http_responses_total",
    "haproxy_backend_current_sessions",
    "haproxy_backend_current_queue",
    "haproxy_backend_active_servers",
    "haproxy_backend_connection_errors_total",
    "haproxy_backend_retry_warnings_total",
    "haproxy_backend_redispatch_warnings_total",
    "haproxy_server_status",
}


@pytest.fixture(scope="module")
def boards():
    return dashboards.dashboards()


def metric_names(expr: str) -> list[str]:
    """The metric of every selector in `expr` (raises ValueError when it does not parse)."""
    found: list[str] = []
    promql_parser.walk(
        promql_parser.parse(expr),
        lambda node: found.append(node.name) if isinstance(node, promql_parser.VectorSelector) else None,
    )
    return found


def test_five_dashboards_with_fixed_uids_read_only(boards):
    assert set(boards) == UIDS
    for uid, model in boards.items():
        assert model["uid"] == uid and model["editable"] is False and model["title"].startswith("gwops / ")
        assert model["schemaVersion"] == 41  # Grafana 11.6's dashboard schema (the SDK's and the image's)


def test_every_panel_has_a_query_on_the_provisioned_datasource(boards):
    ds = {"type": "prometheus", "uid": grafana.DATASOURCE_UID}
    for model in boards.values():
        panels = dashboards.panels(model)
        assert len(panels) >= 8
        assert len({p["title"] for p in panels}) == len(panels), "panel titles are unique in a dashboard"
        for p in panels:
            assert p["datasource"] == ds and p["targets"], p["title"]
            assert all(t["datasource"] == ds and t["expr"].strip() for t in p["targets"]), p["title"]
            assert len({t["refId"] for t in p["targets"]}) == len(p["targets"])
        # no two panels overlap on the grid
        cells = [
            (x, y)
            for p in panels
            for x in range(p["gridPos"]["x"], p["gridPos"]["x"] + p["gridPos"]["w"])
            for y in range(p["gridPos"]["y"], p["gridPos"]["y"] + p["gridPos"]["h"])
        ]
        assert len(cells) == len(set(cells)) and all(x < 24 for x, _ in cells)


def test_model_variable_has_an_all_option(boards):
    for uid in ("gwops-overview", "gwops-tokens", "gwops-performance"):
        (var,) = boards[uid]["templating"]["list"]
        assert var["name"] == "model" and var["includeAll"] is True and var["allValue"] == ".*" and var["multi"]
        assert var["query"] == "label_values(litellm_proxy_total_requests_metric_total, requested_model)"
        assert var["datasource"]["uid"] == grafana.DATASOURCE_UID
        # every LiteLLM request/token/latency panel follows the selection
        for title, expr in [(p["title"], t["expr"]) for p in dashboards.panels(boards[uid]) for t in p["targets"]]:
            if "requested_model" in expr or "litellm_proxy_" in expr:
                assert 'requested_model=~"$model"' in expr, title


def test_panel_queries_leave_no_variable_and_parse_as_promql(boards):
    for model in boards.values():
        queries = dashboards.panel_queries(model)
        assert len(queries) >= len(dashboards.panels(model))
        for title, expr in queries:
            assert "$" not in expr and "[[" not in expr, (title, expr)
            assert all(expr.count(a) == expr.count(b) for a, b in ("()", "[]", "{}")), (title, expr)
            names = metric_names(expr)  # a real PromQL parser (promql-parser)
            assert names or expr.startswith("time()"), (title, expr)
            for name in names:
                assert name in EXACT or name.startswith(PREFIXES), (title, name)


def test_panel_queries_substitute_variables():
    model = {
        "templating": {"list": [{"name": "model", "allValue": ".*"}, {"name": "job"}]},
        "panels": [
            {
                "type": "row",
                "panels": [
                    {
                        "title": "a",
                        "targets": [
                            {
                                "expr": 'rate(x{m=~"$model", j=~"${job}", k=~"${job:regex}", l=~"[[model]]"}[$__rate_interval])'
                            }
                        ],
                    }
                ],
            }
        ],
    }
    assert dashboards.panel_queries(model) == [("a", 'rate(x{m=~".*", j=~".*", k=~".*", l=~".*"}[5m])')]
    with pytest.raises(KeyError):
        dashboards.panel_queries({"panels": [{"title": "b", "targets": [{"expr": 'x{a=~"$nope"}'}]}]})


def test_metrics_are_the_measured_and_the_toolkit_ones(boards):
    """LiteLLM's names as measured in prometheus/NOTES.md, the toolkit's as gwops.metrics writes
    them, HAProxy's as its 2.6 exporter names them: a typo shows here, not as an empty panel."""
    notes = NOTES.read_text()
    for model in boards.values():
        for title, expr in dashboards.panel_queries(model):
            for name in metric_names(expr):
                base = re.sub(r"_(bucket|sum|count)$", "", name)
                if name.startswith("litellm_"):
                    assert base in notes, (title, name)
                elif name.startswith("gwops_"):  # the toolkit's, or the gateway image's metrics process's
                    assert name in metrics.METRICS or name in GATEWAY_METRICS.read_text(), (title, name)
                elif name.startswith("haproxy_"):
                    assert name in HAPROXY, (title, name)


def test_the_briefed_queries_are_there(boards):
    exprs = {uid: " ".join(e for _, e in dashboards.panel_queries(m)) for uid, m in boards.items()}
    assert "litellm_in_flight_requests" in exprs["gwops-overview"] and "by (route)" in exprs["gwops-overview"]
    assert "haproxy_frontend_http_requests_total" in exprs["gwops-overview"]
    for name in (
        "litellm_input_tokens_metric_total",
        "litellm_output_tokens_metric_total",
        "litellm_total_tokens_metric_total",
        "litellm_spend_metric_total",
    ):
        assert name in exprs["gwops-tokens"]
    for q in ("0.5", "0.95", "0.99"):
        assert (
            f"histogram_quantile({q}, sum by (le) (rate(litellm_request_total_latency_metric_bucket"
            in exprs["gwops-performance"]
        )
    assert "litellm_llm_api_time_to_first_token_metric_bucket" in exprs["gwops-performance"]
    assert (
        "by (api_provider, le)" in exprs["gwops-performance"]
        and "litellm_request_queue_time_seconds" in exprs["gwops-performance"]
    )
    health = exprs["gwops-health"]
    for q in (
        "max without (pid) (litellm_deployment_state)",
        'up{job="gateway"}',
        "haproxy_backend_active_servers",
        "pg_up",
        "redis_up",
        "time() - max (gwops_backup_last_verified_timestamp_seconds)",
        "gwops_reload_failures_total",
        'ALERTS{alertstate="firing"}',
    ):
        assert q in health, q
    for q in (
        "node_cpu_seconds_total",
        "node_memory_MemAvailable_bytes",
        "node_filesystem_avail_bytes",
        "count (up == 1)",
        "prometheus_tsdb_storage_blocks_bytes",
    ):
        assert q in exprs["gwops-system"], q


def test_deterministic(boards):
    again = dashboards.dashboards()
    assert [dashboards.render(m) for m in boards.values()] == [dashboards.render(m) for m in again.values()]
    text = dashboards.render(boards["gwops-overview"])
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n"


def test_each_dashboard_round_trips_through_the_sdk_model(boards):
    """The SDK's typed model (Grafana 11.6's schema, generated): decoding each JSON with every
    panel and query type registered and encoding it again gives the same JSON, so no field is
    unknown to the schema or of the wrong shape. (The SDK has no validator; this is the check it
    allows.)"""
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models import dashboard as model
    from grafana_foundation_sdk.models import prometheus, stat, table, timeseries

    register_default_plugins()
    kinds = {"timeseries": timeseries.Options, "stat": stat.Options, "table": table.Options}
    for uid, data in boards.items():
        decoded = model.Dashboard.from_json(data)
        for p in decoded.panels or []:
            if isinstance(p, model.Panel):
                assert isinstance(p.options, kinds[p.type_val]) or (p.type_val == "table" and p.options is None), (
                    uid,
                    p.title,
                )
                assert all(isinstance(t, prometheus.Dataquery) for t in p.targets), (uid, p.title)
        assert json.loads(JSONEncoder(sort_keys=True).encode(decoded)) == data, uid
    # and the check can fail: a field the schema does not know is dropped by the round trip
    bad = json.loads(json.dumps(boards["gwops-system"]))
    bad["panels"][1]["notAField"] = 1
    assert json.loads(JSONEncoder(sort_keys=True).encode(model.Dashboard.from_json(bad))) != bad


def files_ctx(tmp_path, **monitoring):
    settings = StackSettings(monitoring=monitoring) if monitoring else StackSettings()
    return FilesContext(
        Project(tmp_path),
        settings,
        "test",
        {"GRAFANA_ADMIN_PASSWORD": "not-written-anywhere-" + "x" * 20},
        components.REGISTRY,
    )


def test_files_hook_writes_provisioning_and_dashboards(tmp_path):
    ctx = files_ctx(tmp_path)
    assert grafana.files(ctx) is True
    d = tmp_path / "state/grafana"
    ds = yaml.safe_load((d / "provisioning/datasources/prometheus.yml").read_text())
    (source,) = ds["datasources"]
    assert source["uid"] == grafana.DATASOURCE_UID and source["url"] == "http://prometheus:9090"
    assert source["type"] == "prometheus" and source["editable"] is False
    assert source["jsonData"]["timeInterval"] == "15s"
    (provider,) = yaml.safe_load((d / "provisioning/dashboards/gwops.yml").read_text())["providers"]
    assert provider["allowUiUpdates"] is False and provider["disableDeletion"] is True
    assert provider["options"]["path"] == grafana.DASHBOARDS_MOUNT
    assert "allowUiUpdates: false" in (d / "provisioning/dashboards/gwops.yml").read_text()
    assert {p.name for p in (d / "dashboards").iterdir()} == {f"{u}.json" for u in UIDS}
    assert json.loads((d / "dashboards/gwops-health.json").read_text())["uid"] == "gwops-health"
    for p in [d, *d.rglob("*")]:
        assert p.stat().st_mode & 0o777 == (0o755 if p.is_dir() else 0o644), p
    secret = ctx.env["GRAFANA_ADMIN_PASSWORD"]
    assert not any(secret in p.read_text() for p in d.rglob("*") if p.is_file())
    # unchanged: nothing rewritten; a stale dashboard is removed; a new scrape interval is written
    assert grafana.files(ctx) is False
    (d / "dashboards/gwops-old.json").write_text("{}")
    assert grafana.files(ctx) is True and not (d / "dashboards/gwops-old.json").exists()
    assert grafana.files(files_ctx(tmp_path, scrape_interval=5)) is True
    assert "timeInterval: 5s" in (d / "provisioning/datasources/prometheus.yml").read_text()


def test_compose_fragment_has_no_secret_and_is_locked_down():
    settings = StackSettings()
    text = grafana.COMPONENT.render_fragment(settings, grafana.COMPONENT.official)
    service = yaml.safe_load(text)["services"]["grafana"]
    env = service["environment"]
    assert env["GF_SECURITY_ADMIN_USER"] == "admin"
    assert re.fullmatch(r"\$\{GRAFANA_ADMIN_PASSWORD:\?[^}]*\}", env["GF_SECURITY_ADMIN_PASSWORD"])
    assert [line for line in text.splitlines() if "PASSWORD" in line and "${GRAFANA_ADMIN_PASSWORD:?" not in line] == []
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert all(env[k] == "false" for k in env if k.startswith("GF_ANALYTICS_"))
    assert {"GF_ANALYTICS_REPORTING_ENABLED", "GF_ANALYTICS_CHECK_FOR_UPDATES"} <= set(env)
    assert service["ports"] == ["127.0.0.1:3000:3000"] and service["networks"] == ["egress", "monitoring"]
    assert "./state/grafana/provisioning:/etc/grafana/provisioning:ro" in service["volumes"]
    assert f"./state/grafana/dashboards:{grafana.DASHBOARDS_MOUNT}:ro" in service["volumes"]
    assert "grafana-data" in yaml.safe_load(text)["volumes"]
    assert service["healthcheck"]["test"][:2] == ["CMD", "wget"] and service["restart"] == "unless-stopped"
    # published where the settings say; no image on this host: no service, and the reason
    other = grafana.COMPONENT.render_fragment(
        StackSettings(monitoring={"bind": "0.0.0.0", "grafana_port": 3300}), grafana.COMPONENT.official
    )
    assert '"0.0.0.0:3300:3000"' in other
    absent = grafana.COMPONENT.render_fragment(settings, None)
    assert yaml.safe_load(absent)["services"] == {} and f"docker pull {grafana.COMPONENT.official}" in absent
    assert (
        yaml.safe_load(
            grafana.COMPONENT.render_fragment(StackSettings(monitoring={"enabled": False}), grafana.COMPONENT.official)
        )["services"]
        == {}
    )


def test_grafana_pin_and_registry():
    from gwops import components

    assert grafana.COMPONENT in components.REGISTRY and grafana.COMPONENT.local is None
    assert grafana.COMPONENT.metrics.job == "grafana" and grafana.COMPONENT.metrics.port == 3000
    assert grafana.COMPONENT.official.startswith("grafana/grafana:11.6.")  # the SDK's schema line (11.6)
    assert StackSettings().images.grafana.official == grafana.COMPONENT.official


def test_env_gets_a_grafana_password_also_in_an_existing_file(tmp_path):
    from gwops import envfile

    root = Path(__file__).parents[2]
    res = envfile.ensure(tmp_path / ".env", root / ".env.example", {})
    assert len(res.values["GRAFANA_ADMIN_PASSWORD"]) >= 40
    # an `.env` from before Grafana: the key is added, nothing else changes
    old = tmp_path / "old.env"
    lines = [line for line in (tmp_path / ".env").read_text().splitlines() if not line.startswith("GRAFANA_")]
    old.write_text("\n".join(lines) + "\n")
    old.chmod(0o600)
    again = envfile.ensure(old, root / ".env.example", {})
    assert len(again.values["GRAFANA_ADMIN_PASSWORD"]) >= 40 and any("GRAFANA_ADMIN_PASSWORD" in n for n in again.notes)
    assert {k: v for k, v in again.values.items() if k != "GRAFANA_ADMIN_PASSWORD"} == {
        k: v for k, v in res.values.items() if k != "GRAFANA_ADMIN_PASSWORD"
    }
    assert envfile.ensure(old, root / ".env.example", {}).values == again.values


def test_a_missing_grafana_image_is_no_scrape_fault(monkeypatch):
    """`up` runs the stack without Grafana when its image is not on the host: its scrape job then
    has no target, which `status` must not call a fault (it would make the stack degraded)."""
    from types import SimpleNamespace

    from gwops import components
    from gwops.components import prometheus

    jobs = [c.metrics.job for c in components.REGISTRY if c.metrics is not None and c.name != "grafana"]
    targets = [{"labels": {"job": j}, "scrapeUrl": f"http://{j}/metrics", "health": "up"} for j in jobs]
    monkeypatch.setattr(prometheus, "api", lambda stack, path, timeout=5: {"data": {"activeTargets": targets}})
    monkeypatch.setattr(prometheus, "uptime", lambda stack: 1000.0)  # discovery has had its time
    present: set[str] = set()
    stack = SimpleNamespace(
        settings=StackSettings(),
        docker=SimpleNamespace(image_exists=lambda ref: ref in present),
        registry=components.REGISTRY,
    )
    assert prometheus.down_targets(stack) == []
    present.add(grafana.COMPONENT.official)  # the image is there: a Grafana that does not answer is a fault
    assert prometheus.down_targets(stack) == ["grafana: no target found"]
    monkeypatch.setattr(prometheus, "uptime", lambda stack: 3.0)  # just started: nothing discovered yet is no news
    assert prometheus.down_targets(stack) == []


def test_apply_reloads_through_the_admin_api(tmp_path, monkeypatch):
    import base64
    from types import SimpleNamespace

    from gwops import health
    from gwops.errors import OpsError

    (tmp_path / ".env").write_text("GRAFANA_ADMIN_PASSWORD=pw-from-env\n")
    calls, said = [], []
    answer = [200]
    monkeypatch.setattr(
        health,
        "http_request",
        lambda url, timeout, body=None, headers=None: calls.append((url, body, headers)) or (answer[0], "{}"),
    )
    stack = SimpleNamespace(settings=StackSettings(), project=Project(tmp_path), say=said.append)
    grafana.apply(stack)
    auth = {"Authorization": "Basic " + base64.b64encode(b"admin:pw-from-env").decode()}
    assert calls == [
        ("http://127.0.0.1:3000/api/admin/provisioning/datasources/reload", {}, auth),
        ("http://127.0.0.1:3000/api/admin/provisioning/dashboards/reload", {}, auth),
    ]
    assert said and "no restart" in said[0]
    answer[0] = 401
    with pytest.raises(OpsError, match="password in .env is not the one Grafana stored"):
        grafana.apply(stack)


def test_dashboards_are_rebuilt_only_when_needed(tmp_path, monkeypatch):
    """`up` skips building them (importing the SDK costs about 0.3 s) when their code, the SDK
    and the files are as the stamp recorded; a file edited or deleted by hand is rewritten."""
    ctx = files_ctx(tmp_path)
    assert grafana.files(ctx) is True
    real = dashboards.dashboards
    monkeypatch.setattr(dashboards, "dashboards", lambda: pytest.fail("rebuilt although nothing changed"))
    assert grafana.files(ctx) is False
    boards = tmp_path / "state/grafana/dashboards"
    monkeypatch.setattr(dashboards, "dashboards", real)
    (boards / "gwops-system.json").write_text("{}")
    assert (
        grafana.files(ctx) is True and json.loads((boards / "gwops-system.json").read_text())["uid"] == "gwops-system"
    )
    (boards / "gwops-health.json").unlink()
    assert grafana.files(ctx) is True and (boards / "gwops-health.json").exists()
    monkeypatch.setattr(grafana, "source_key", lambda: "new code")
    assert grafana.files(ctx) is False  # rebuilt (new code), but the same JSON: nothing changed for Grafana
    assert json.loads((tmp_path / "state/grafana/dashboards.sha256").read_text())["source"] == "new code"


def test_every_module_the_dashboards_are_built_by_is_in_their_source_key():
    """A change to any module of the dashboards' code must rebuild them (`up` skips them otherwise)."""
    from pathlib import Path

    here = Path(grafana.__file__).parent
    assert {p.name for p in here.glob("*.py")} - {"__init__.py"} == set(grafana.DASHBOARD_SOURCES)
