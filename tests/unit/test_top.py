"""`bin/ops top`: snapshots (gwops.top) from a fake Prometheus, the proxy's log and the spend
logs; what is missing said, not raised; the Textual dashboard driven by its pilot."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest

from gwops import access_log, top
from gwops.cli import cmd_top
from gwops.components import prometheus
from gwops.settings import StackSettings

pytestmark = pytest.mark.unit

NOW = dt.datetime(2026, 12, 7, 12, 0, 0, tzinfo=dt.UTC).timestamp()


def series(value: float | str, **labels: str) -> dict:
    return {"metric": labels, "value": [NOW, str(value)]}


# what the fake Prometheus answers, by a piece of the query
ANSWERS = {
    "litellm_proxy_total_requests_metric_total": [
        series(2.5, requested_model="plain"),
        series(0.5, requested_model="broken"),
    ],
    "litellm_proxy_failed_requests_metric_total": [series(0.5, requested_model="broken")],
    "histogram_quantile(0.5,": [series(0.12, requested_model="plain"), series("NaN", requested_model="broken")],
    "histogram_quantile(0.99,": [series(0.9, requested_model="plain")],
    "litellm_total_tokens_metric_total": [series(40, requested_model="plain")],
    "litellm_deployment_state": [
        series(0, litellm_model_name="plain", api_provider="openai", api_base="http://p:1/v1"),
        series(2, litellm_model_name="broken", api_provider="openai", api_base="http://b:1/v1"),
    ],
    "haproxy_backend_active_servers": [series(2, proxy="slot_blue"), series(0, proxy="slot_green")],
}
ALERTS = [
    {
        "labels": {"alertname": "GwopsGatewayErrorRatioHigh", "severity": "warning", "project": "p"},
        "annotations": {"summary": "Gateway error ratio above 0.05"},
        "state": "firing",
        "activeAt": "2026-12-07T11:58:00Z",
    }
]


@pytest.fixture
def fake_prometheus() -> Iterator[ThreadingHTTPServer]:
    queries: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            url = urlsplit(self.path)
            if url.path == "/api/v1/alerts":
                doc = {"status": "success", "data": {"alerts": ALERTS}}
            elif url.path == "/api/v1/query":
                q = parse_qs(url.query)["query"][0]
                queries.append(q)
                found = next((v for k, v in ANSWERS.items() if k in q), [])
                doc = {"status": "success", "data": {"resultType": "vector", "result": found}}
            else:
                doc = {"status": "error", "error": "not found"}
            body = json.dumps(doc).encode()
            self.send_response(200 if doc["status"] == "success" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.queries = queries  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def url_of(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proxy_line(rid: str, status: int, at: float, route: str = "plain") -> str:
    """A line of the proxy's access log (haproxy.cfg's log-format), `at` seconds after NOW."""
    doc = {"ts": NOW + at, "id": rid, "route": route, "key": access_log.key_hash("sk-master"), "status": status}
    return json.dumps({**doc, "total_ms": 40, "slot": "slot_blue", "replica": "gw1"}, separators=(",", ":"))


@dataclass
class FakeLog:
    """A RequestLog's proxy side: the lines logged at or after `since` (the log's Docker times)."""

    lines: list[tuple[float, str]] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=lambda: {access_log.key_hash("sk-master"): access_log.MASTER})
    reads: list[float] = field(default_factory=list)

    def proxy_lines(self, since: float, follow: bool) -> Iterator[str]:
        self.reads.append(since)
        return iter([text for at, text in self.lines if at >= since])


class Clock:
    def __init__(self, t: float = NOW + 100):
        self.t = t

    def __call__(self) -> float:
        return self.t


def gateway_state() -> dict:
    row = {"state": "running", "health": "healthy", "replicas": "2/2", "restarts": 0}
    return {
        "active": "blue",
        "version": "abc123",
        "live_since": "2026-12-07T10:00:00+00:00",
        "slots": [
            {"slot": "blue", "service": "gateway-blue", "role": "serving", **row},
            {"slot": "green", "service": "gateway-green", "role": "standby", **row, "health": "standby"},
        ],
    }


def sources(prometheus_url: str, log: FakeLog, spend_calls: list | None = None) -> top.Sources:
    port = int(prometheus_url.rsplit(":", 1)[1])
    ctx = SimpleNamespace(settings=StackSettings(monitoring={"prometheus_port": port}))

    def spend(since: dt.datetime) -> list[dict]:
        if spend_calls is not None:
            spend_calls.append(since)
        return [{"name": "plain", "requests": 150, "spend": 0.25, "prompt_tokens": 1, "completion_tokens": 2}]

    return top.Sources(
        prometheus=prometheus_url,
        alerts=lambda: prometheus.alerts(ctx),  # type: ignore[arg-type]
        routes=lambda: ["broken", "gwops-echo", "plain"],
        gateway=gateway_state,
        spend=spend,
        open_log=lambda: log,  # type: ignore[arg-type,return-value]
    )


def test_a_snapshot_has_each_route_the_slots_providers_alerts_spend_and_failed_requests(fake_prometheus):
    log = FakeLog([(NOW + 1, proxy_line("r-ok", 200, 1)), (NOW + 2, proxy_line("r-bad", 502, 2, "broken"))])
    snap = top.collect(sources(url_of(fake_prometheus), log), clock=Clock())

    assert snap.missing == []
    routes = {r["route"]: r for r in snap.routes}
    assert list(routes) == ["broken", "gwops-echo", "plain"]  # the live config's, even without traffic
    assert routes["plain"] == {
        "route": "plain",
        "rps": 2.5,
        "error_rate": 0.0,
        "p50_ms": 120.0,
        "p99_ms": 900.0,
        "tokens_per_s": 40.0,
        "spend_today": 0.25,
    }
    assert routes["broken"]["error_rate"] == 1.0 and routes["broken"]["p50_ms"] is None  # NaN: no latency yet
    assert routes["gwops-echo"]["rps"] is None and routes["gwops-echo"]["error_rate"] is None
    assert [(s["slot"], s["role"], s["proxy_up"]) for s in snap.gateway["slots"]] == [
        ("blue", "serving", 2),
        ("green", "standby", 0),
    ]
    assert [(p["route"], p["state"]) for p in snap.providers] == [("broken", "outage"), ("plain", "healthy")]
    assert [(a["alert"], a["state"]) for a in snap.alerts] == [("GwopsGatewayErrorRatioHigh", "firing")]
    assert snap.spend_today["spend"] == 0.25 and snap.spend_today["requests"] == 150
    assert snap.spend_today["since"] == "2026-12-07T00:00:00"  # today, UTC
    assert [(f["id"], f["http_status"], f["route"]) for f in snap.failed] == [("r-bad", 502, "broken")]
    # per route: the rate over the window, by the label every series shares
    assert any("rate(litellm_proxy_total_requests_metric_total[1m])" in q for q in fake_prometheus.queries)
    assert all("requested_model" in q for q in fake_prometheus.queries if "litellm_proxy" in q)
    json.dumps(snap.as_dict())  # what `--once --json` prints


def test_prometheus_not_answering_is_said_and_the_rest_still_shows():
    log = FakeLog([(NOW + 2, proxy_line("r-bad", 503, 2))])
    snap = top.collect(sources(f"http://127.0.0.1:{closed_port()}", log), clock=Clock())

    assert len(snap.missing) == 1 and "not answering" in snap.missing[0] and "Prometheus" in snap.missing[0]
    assert [r["route"] for r in snap.routes] == ["broken", "gwops-echo", "plain"]
    assert all(r["rps"] is None for r in snap.routes)
    assert snap.alerts is None and snap.providers == []  # not known, rather than none
    assert snap.gateway["slots"][0].get("proxy_up") is None
    assert [f["id"] for f in snap.failed] == ["r-bad"]


def test_monitoring_and_the_database_off_are_said():
    snap = top.collect(top.Sources(notes=["monitoring off", "database off"]))
    assert snap.missing == ["monitoring off", "database off"]
    assert snap.routes == [] and snap.alerts is None and snap.spend_today is None and snap.failed == []


def test_a_failing_source_becomes_a_missing_line_not_an_error(fake_prometheus):
    def broken_log():
        raise top.OpsError("the proxy is not running: its log is where requests are found")

    src = sources(url_of(fake_prometheus), FakeLog())
    src.open_log = broken_log
    src.gateway = lambda: 1 / 0  # a bug in a source: shown as one, the rest still read
    snap = top.collect(src, clock=Clock())
    assert any(m.startswith("failed requests (the proxy's log): the proxy is not running") for m in snap.missing)
    assert any(m.startswith("gateway slots (Docker): internal error ZeroDivisionError") for m in snap.missing)
    assert snap.routes[2]["rps"] == 2.5


def test_the_proxy_log_is_read_from_where_the_last_read_ended(fake_prometheus):
    clock = Clock()
    log = FakeLog([(NOW + 1, proxy_line("a", 500, 1))])
    collector = top.Collector(sources(url_of(fake_prometheus), log), clock=clock, lookback=3600, keep=3)
    try:
        first = collector.collect()
        clock.t += 5
        log.lines += [(clock.t - 0.5, proxy_line(rid, 429, 105)) for rid in ("b", "c", "d")]
        second = collector.collect()
    finally:
        collector.close()
    assert log.reads == [NOW + 100 - 3600, NOW + 99]  # an hour back; then from the last read on (a second over)
    assert [f["id"] for f in first.failed] == ["a"]
    assert [f["id"] for f in second.failed] == ["d", "c", "b"]  # newest first, at most `keep`


def test_spend_is_read_again_only_after_spend_every(fake_prometheus):
    clock, calls = Clock(), []
    collector = top.Collector(sources(url_of(fake_prometheus), FakeLog(), calls), clock=clock, spend_every=30)
    try:
        for step in (0, 10, 25):
            clock.t = NOW + 100 + step
            assert collector.collect().spend_today["spend"] == 0.25
        assert len(calls) == 1
        clock.t = NOW + 131
        collector.collect()
        assert len(calls) == 2
    finally:
        collector.close()


def test_the_rate_window_holds_four_scrapes():
    assert top.rate_window(15) == "60s" and top.rate_window(30) == "120s"


# -- the dashboard ---------------------------------------------------------------------------------
class FakeCollector:
    def __init__(self, snap: top.Snapshot):
        self.snap = snap
        self.calls = 0

    def collect(self) -> top.Snapshot:
        self.calls += 1
        return self.snap

    def close(self) -> None:
        pass


def test_the_dashboard_shows_the_rows_and_quits_with_q(fake_prometheus):
    log = FakeLog([(NOW + 2, proxy_line("req-42", 502, 2, "broken"))])
    snap = top.collect(sources(url_of(fake_prometheus), log), clock=Clock())
    snap.missing = ["database off (`database.enabled: false`): no spend"]
    collector = FakeCollector(snap)
    app = cmd_top.dashboard(collector, interval=60, title="gwops top · test")

    async def drive() -> dict:
        from textual.widgets import DataTable, Static

        async with app.run_test(size=(160, 60)) as pilot:
            for _ in range(50):  # the first snapshot comes from a worker thread
                if app.snapshot is not None:
                    break
                await pilot.pause(0.05)
            tables = {name: app.query_one(f"#{name}", DataTable) for name in cmd_top.TABLES}
            shown = {n: [[str(c) for c in t.get_row_at(i)] for i in range(t.row_count)] for n, t in tables.items()}
            shown["missing"] = str(app.query_one("#missing", Static).render())
            await pilot.press("q")
            await pilot.pause()
        return shown

    shown = asyncio.run(drive())
    assert app.return_code == 0
    assert collector.calls == 1  # one refresh at the start; the next is a minute away
    assert [r[0] for r in shown["routes"]] == ["broken", "gwops-echo", "plain"]
    assert shown["routes"][2] == ["plain", "2.5", "0.0%", "120.0", "900.0", "40.0", "$0.2500"]
    assert shown["slots"][0][:4] == ["blue", "serving", "running", "healthy"]
    assert ["broken", "openai", "http://b:1/v1", "outage"] in shown["providers"]
    assert shown["alerts"][0][:2] == ["GwopsGatewayErrorRatioHigh", "firing"]
    assert shown["failed"][0][1:4] == ["req-42", "broken", "502"]
    assert "database off" in shown["missing"]


def test_once_json_prints_one_snapshot(fake_prometheus, monkeypatch):
    from click.testing import CliRunner

    from gwops.cli.main import cli

    src = sources(url_of(fake_prometheus), FakeLog())
    monkeypatch.setattr(cmd_top, "_collector", lambda app: (top.Collector(src), "test"))
    out = CliRunner().invoke(cli, ["top", "--once", "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["prometheus"] == url_of(fake_prometheus) and doc["missing"] == []
    assert [r["route"] for r in doc["routes"]] == ["broken", "gwops-echo", "plain"]


def test_the_dashboard_needs_a_terminal(fake_prometheus, monkeypatch):
    from click.testing import CliRunner

    from gwops.cli.main import cli

    src = sources(url_of(fake_prometheus), FakeLog())
    monkeypatch.setattr(cmd_top, "_collector", lambda app: (top.Collector(src), "test"))
    out = CliRunner().invoke(cli, ["top"])
    assert out.exit_code != 0 and "--once --json" in out.output
