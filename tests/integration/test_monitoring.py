"""The monitoring components on one shared stack (real Prometheus, Alertmanager, exporters, proxy
and LiteLLM; local images): every target scraped, requests counted exactly, the toolkit's own
metrics scraped, alerts delivered to a webhook and resolved, config changes applied without a
restart. Fast settings: scrape every 2 s, alert after 5 s down, no Alertmanager grouping delay.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml

from gwops.constants import LITELLM_CONFIG
from gwops.poll import Timeout
from gwops.poll import poll as deadline_poll
from tests.conftest import free_port, unique
from tests.integration.conftest import make_copy, master_key, ops, remove_stack

pytestmark = pytest.mark.integration
SCRAPE = 2  # seconds
DOWN_FOR = 5  # seconds


class Webhook:
    """A receiver on the host: every notification Alertmanager POSTs, with the time it came."""

    def __init__(self) -> None:
        self.port = free_port()
        self.got: list[tuple[float, dict]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.got.append((time.monotonic(), json.loads(body or b"{}")))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        # on every address: Alertmanager reaches it from its container as host.docker.internal
        self.server = ThreadingHTTPServer(("0.0.0.0", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, alert: str, status: str, since: float, timeout: float) -> float:
        """Seconds from `since` until a notification of `alert` with `status` arrived."""

        def arrived() -> float | None:
            return next(
                (
                    at - since
                    for at, body in list(self.got)
                    if at >= since
                    and any(
                        a["labels"].get("alertname") == alert and a["status"] == status for a in body.get("alerts", [])
                    )
                ),
                None,
            )

        try:
            return deadline_poll(arrived, timeout, 0.2)
        except Timeout:
            seen = [(a["labels"].get("alertname"), a["status"]) for _, b in self.got for a in b.get("alerts", [])]
            raise AssertionError(
                f"no `{status}` notification of {alert} within {timeout:.0f} s (seen: {seen})"
            ) from None


@pytest.fixture(scope="module")
def mon(tmp_path_factory, local_images):
    hook = Webhook()
    root = tmp_path_factory.mktemp("mon") / "repo"
    env = make_copy(root, unique("gwops-mon"), monitoring=True)
    doc = yaml.safe_load((root / "config/stack.yaml").read_text())
    doc["monitoring"].update(
        scrape_interval=SCRAPE,
        group_wait_seconds=0,
        group_interval_seconds=2,
        thresholds={"alert_after_seconds": DOWN_FOR, "backup_stale_after_seconds": DOWN_FOR},
        receivers=[{"name": "test", "webhooks": [f"http://host.docker.internal:{hook.port}/"]}],
    )
    (root / "config/stack.yaml").write_text(yaml.safe_dump(doc))
    up = ops(root, env, "up")
    assert up.returncode == 0, up.stderr
    m = doc["monitoring"]
    yield {
        "root": root,
        "env": env,
        "hook": hook,
        "prom": f"http://127.0.0.1:{m['prometheus_port']}",
        "gateway": f"http://127.0.0.1:{doc['gateway']['port']}",
    }
    hook.server.shutdown()
    remove_stack(root, env)


def query(mon, promql: str) -> float | None:
    r = httpx.get(f"{mon['prom']}/api/v1/query", params={"query": promql}, timeout=10).json()
    res = r["data"]["result"]
    return float(res[0]["value"][1]) if res else None


def poll(fn, timeout: float, what: str):
    """gwops.poll with a truthy result (False and 0 keep polling) and a test failure at the deadline."""
    last = None

    def check():
        nonlocal last
        last = fn()
        return last or None

    try:
        return deadline_poll(check, timeout, 0.5)
    except Timeout:
        raise AssertionError(f"{what} not within {timeout:.0f} s (last: {last})") from None


def scraped_again(mon, job: str, times: int) -> None:
    """Until every target of `job` was scraped `times` more times."""
    t0 = time.time()

    def at(stamp: str) -> float:  # "2026-11-23T12:30:01.123456789Z": to the microsecond
        return datetime.fromisoformat(stamp[:26] if "." in stamp else stamp[:19]).replace(tzinfo=UTC).timestamp()

    def done():
        targets = httpx.get(f"{mon['prom']}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
        last = [at(t["lastScrape"]) for t in targets if t["labels"]["job"] == job]
        return bool(last) and all(t > t0 + (times - 1) * SCRAPE for t in last)

    poll(done, (times + 2) * SCRAPE + 10, f"{times} more scrapes of {job}")


def containers(mon, service: str) -> list[str]:
    project = yaml.safe_load((mon["root"] / "config/stack.yaml").read_text())["project_name"]
    return subprocess.run(
        [
            "docker",
            "ps",
            "-q",
            "--filter",
            f"label=com.docker.compose.project={project}",
            "--filter",
            f"label=com.docker.compose.service={service}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()


def test_every_component_runs_and_every_target_is_scraped(mon):
    status = json.loads(ops(mon["root"], mon["env"], "status", "--json").stdout)
    rows = {r["service"]: r for r in status["services"]}
    for svc in ("prometheus", "alertmanager", "node-exporter", "postgres-exporter", "redis-exporter"):
        assert rows[svc]["state"] == "running" and rows[svc]["core"] is False, rows[svc]

    active = f"gateway-{status['gateway']['active_slot']}"

    def all_up():
        targets = httpx.get(f"{mon['prom']}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
        jobs = {}
        for t in targets:
            jobs.setdefault(t["labels"]["job"], []).append(t["health"])
        ok = set(jobs) == {"gateway", "proxy", "postgres", "redis", "node", "prometheus", "alertmanager"} and all(
            h == ["up"] * len(h) for h in jobs.values()
        )
        serving = [t for t in targets if t["labels"]["job"] == "gateway" and t["labels"]["service"] == active]
        return jobs if ok and len(serving) == 2 else None  # each replica of the active slot (and the standbys)

    poll(all_up, 30, "every target up")

    seen: list = []

    def quiet():
        # with the tests' 5 s alert delay, `GwopsGatewayDown` may fire before the gateway's first
        # scrape (it is `absent(up == 1)`); it must resolve at the next evaluation after it
        seen[:] = [json.loads(ops(mon["root"], mon["env"], "status", "--json").stdout)]
        return seen[0] if seen[0]["overall"] == "healthy" and seen[0]["alerts"] == [] else None

    try:
        status = poll(quiet, 4 * SCRAPE + 20, "status healthy with no alert")
    except AssertionError:
        raise AssertionError(f"status not healthy, or alerts, after every target was up: {seen}") from None
    # published on 127.0.0.1 only; exporters not at all
    rows = {r["service"]: r for r in status["services"]}
    assert all(p.startswith("127.0.0.1:") for r in rows.values() for p in r["ports"])
    assert rows["node-exporter"]["ports"] == [] and rows["postgres-exporter"]["ports"] == []
    # the exporter's stack queries: LiteLLM's table sizes and dead tuples, the spend logs' retention
    assert query(mon, 'gwops_table_size_bytes{table="LiteLLM_SpendLogs"}') > 0
    assert query(mon, 'gwops_table_dead_tuples{table="LiteLLM_VerificationToken"}') is not None
    assert query(mon, "gwops_spend_logs_retention_seconds") == 90 * 86400
    assert query(mon, "gwops_spend_logs_oldest_seconds") is not None


def test_requests_are_counted_exactly_over_replicas_and_workers(mon):
    total = "sum(litellm_proxy_total_requests_metric_total)"
    failed = "sum(litellm_proxy_failed_requests_metric_total) or vector(0)"
    base_total = poll(lambda: query(mon, total), 30, "a first scrape of the gateway")
    base_failed = query(mon, failed) or 0.0
    key = {"Authorization": f"Bearer {master_key(mon['root'])}"}
    sent, failures = 0, 0
    with httpx.Client(timeout=30) as c:
        for i in range(30):
            body = {
                "model": "gwops-echo" if i % 5 else "no-such-model",
                "messages": [{"role": "user", "content": f"n{i}"}],
                "stream": i % 3 == 0,
            }
            r = c.post(f"{mon['gateway']}/v1/chat/completions", json=body, headers=key)
            sent += 1
            failures += r.status_code >= 400
    assert failures == 6
    poll(lambda: query(mon, total) >= base_total + sent or None, 6 * SCRAPE + 10, "the requests counted")
    scraped_again(mon, "gateway", 2)  # two more scrapes: nothing counted twice (a scrape reaches one worker)
    assert query(mon, total) == base_total + sent
    assert query(mon, failed) == base_failed + failures


def test_toolkit_metrics_are_scraped_and_a_stale_backup_alerts(mon):
    r = ops(mon["root"], mon["env"], "backup")
    assert r.returncode == 0, r.stderr
    stamp = poll(
        lambda: query(mon, "gwops_backup_last_verified_timestamp_seconds"),
        6 * SCRAPE + 10,
        "the backup's metrics scraped",
    )
    assert abs(stamp - time.time()) < 120 and query(mon, "gwops_backup_last_verified") == 1
    assert query(mon, "gwops_up_last_success_timestamp_seconds") is not None
    # "set the clock": the last verified backup as if taken two schedule periods ago
    from gwops import metrics
    from gwops.project import Project

    max_age = query(mon, "gwops_backup_max_age_seconds")
    since = time.monotonic()
    metrics.record(
        Project(mon["root"]), "backup", {"gwops_backup_last_verified_timestamp_seconds": time.time() - 2 * max_age}
    )
    took = mon["hook"].wait("GwopsBackupStale", "firing", since, DOWN_FOR + 4 * SCRAPE + 20)
    print(f"GwopsBackupStale reached the webhook {took:.1f} s after the clock was set back")
    alerts = json.loads(ops(mon["root"], mon["env"], "alerts", "--json").stdout)["alerts"]
    assert any(a["alert"] == "GwopsBackupStale" and a["state"] == "firing" for a in alerts)


def test_rules_change_applies_without_restarting_prometheus(mon):
    root, env = mon["root"], mon["env"]
    before = containers(mon, "prometheus")
    doc = yaml.safe_load((root / "config/stack.yaml").read_text())
    doc["monitoring"]["thresholds"]["error_ratio"] = 0.25
    (root / "config/stack.yaml").write_text(yaml.safe_dump(doc))
    r = ops(root, env, "up")
    assert r.returncode == 0, r.stderr
    assert "prometheus: new config loaded (no restart)" in r.stderr
    assert containers(mon, "prometheus") == before

    def loaded():
        groups = httpx.get(f"{mon['prom']}/api/v1/rules", timeout=10).json()["data"]["groups"]
        return any(
            "> 0.25" in rule["query"]
            for g in groups
            for rule in g["rules"]
            if rule["name"] == "GwopsGatewayErrorRatioHigh"
        )

    poll(loaded, 10, "the new threshold in the loaded rules")


def test_a_reload_moves_the_gateway_targets_and_loses_no_count(mon):
    """Requests sent all through a reload (some failing, some streaming) are counted exactly:
    the old slot's last requests too, because the reload waits for its last scrape. Only this
    test's requests are summed (their own User-Agent label), over every container that served
    them, dead or alive (`max_over_time`: a container's counter only grows)."""
    root, env = mon["root"], mon["env"]
    agent = unique("gwops-count")
    total = f'sum(max_over_time(litellm_proxy_total_requests_metric_total{{user_agent="{agent}"}}[15m]))'
    failed = f'sum(max_over_time(litellm_proxy_failed_requests_metric_total{{user_agent="{agent}"}}[15m]))'
    headers = {"Authorization": f"Bearer {master_key(root)}", "User-Agent": agent}
    sent, bad, done = [0], [0], threading.Event()

    def load() -> None:
        with httpx.Client(timeout=30) as c:
            while not done.is_set() or sent[0] < 40:
                i = sent[0]
                body = {
                    "model": "gwops-echo" if i % 7 else "no-such-model",
                    "messages": [{"role": "user", "content": f"r{i}"}],
                    "stream": i % 3 == 0,
                }
                r = c.post(f"{mon['gateway']}/v1/chat/completions", json=body, headers=headers)
                sent[0] += 1
                bad[0] += r.status_code >= 400
                time.sleep(0.05)  # about 15 requests/s, not a wait for anything

    worker = threading.Thread(target=load)
    worker.start()
    try:
        (root / "config/providers.yaml").write_text(
            "providers:\n  lab:\n    type: mock\n    models: [gwops-echo, extra-mon]\n"
        )
        r = ops(root, env, "reload", "--quiet-diff")
    finally:
        done.set()
        worker.join()
    assert r.returncode == 0, r.stderr
    assert "scrape `gateway-" in r.stderr, r.stderr  # it waited for the old slot's last scrape
    intended = sum(1 for i in range(sent[0]) if i % 7 == 0)
    assert bad[0] == intended, f"{bad[0]} failed, {intended} meant to"
    scraped_again(mon, "gateway", 2)
    assert query(mon, total) == sent[0], f"{sent[0]} requests sent"
    assert query(mon, failed) == bad[0]
    new = json.loads(ops(root, env, "status", "--json").stdout)["gateway"]["active_slot"]

    def moved():
        targets = httpx.get(f"{mon['prom']}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
        # the old slot's replicas are standbys now: their targets answer `gwops_gateway_standby 1`
        gw = [t for t in targets if t["labels"]["job"] == "gateway" and t["labels"]["service"] == f"gateway-{new}"]
        return gw if len(gw) == 2 and all(t["health"] == "up" for t in gw) else None

    poll(moved, 6 * SCRAPE + 15, f"both gateway targets on slot `{new}`")
    # the request counter of the job goes on from the new containers
    poll(
        lambda: query(mon, f'sum(litellm_proxy_total_requests_metric_total{{service="gateway-{new}"}})'),
        6 * SCRAPE + 15,
        "the new slot's counters scraped",
    )


def test_every_dashboard_panel_has_data(mon):
    """After the load and events above (requests, a backup, a reload, an alert): every query of
    every Grafana dashboard panel, its variables at "All", returns at least one series from the
    live Prometheus. (Grafana itself cannot run here: the queries are what it would send.)"""
    from gwops.components.grafana.dashboards import dashboards, panel_queries

    # a short load of its own (the panels' rate windows must see requests, failures and streams
    # of the slot serving now, however long the tests before took), then two scrapes
    key = {"Authorization": f"Bearer {master_key(mon['root'])}"}
    with httpx.Client(timeout=30) as c:
        for i in range(20):
            c.post(
                f"{mon['gateway']}/v1/chat/completions",
                headers=key,
                json={
                    "model": "gwops-echo" if i % 4 else "no-such-model",
                    "messages": [{"role": "user", "content": f"d{i}"}],
                    "stream": i % 2 == 0,
                },
            )
    probe = ops(mon["root"], mon["env"], "probe", "--json")  # the capability matrix panels
    assert probe.returncode in (0, 1) and json.loads(probe.stdout)["routes"]["gwops-echo"], probe.stderr
    scraped_again(mon, "gateway", 2)
    scraped_again(mon, "node", 2)
    empty = []
    for uid, model in dashboards().items():
        for title, expr in panel_queries(model):
            r = httpx.get(f"{mon['prom']}/api/v1/query", params={"query": expr}, timeout=10).json()
            assert r["status"] == "success", (uid, title, expr, r)
            if not r["data"]["result"]:
                empty.append(f"{uid} / {title}: {expr}")
    assert empty == [], "panels without data:\n" + "\n".join(empty)


def stopped_alert_resolved(mon, service: str, alert: str) -> None:
    """Stop `service` with its restart prevented (`docker update --restart=no`, as an operator's
    `docker stop` would): `alert` reaches the webhook within its `for` plus two scrape intervals
    (plus evaluation and delivery); `bin/ops up` brings it back and the alert resolves."""
    hook, root, env = mon["hook"], mon["root"], mon["env"]
    ids = containers(mon, service)
    subprocess.run(["docker", "update", "--restart=no", *ids], check=True, capture_output=True)
    since = time.monotonic()
    subprocess.run(["docker", "stop", "-t", "5", *ids], check=True, capture_output=True)
    stopped = time.monotonic() - since
    took = hook.wait(alert, "firing", since, DOWN_FOR + 2 * SCRAPE + stopped + 30)
    print(
        f"{alert} reached the webhook {took:.1f} s after the stop began "
        f"(stop: {stopped:.1f} s, for: {DOWN_FOR} s, scrape: {SCRAPE} s)"
    )
    assert took <= stopped + DOWN_FOR + 2 * SCRAPE + 10  # + evaluation and delivery
    since = time.monotonic()
    r = ops(root, env, "up")
    assert r.returncode == 0, r.stderr
    hook.wait(alert, "resolved", since, 60)


CPU_BUDGET = 2.0  # percent of one core, the dashboard left open (the bound)
CPU_WINDOW = 10.0  # seconds measured


def _tmux(socket: str, env: dict[str, str], *args: str) -> str:
    """A tmux command on this test's own server (`-L socket`, no user config): the server starts
    with `env`, so the dashboard runs with the stack's environment."""
    out = subprocess.run(
        ["tmux", "-L", socket, "-f", "/dev/null", *args], env=env, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, f"tmux {' '.join(args)}: {out.stderr}"
    return out.stdout


def _cpu_ticks(pid: int) -> int:
    """User plus system CPU time of a process, in clock ticks (/proc/<pid>/stat, fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _cpu_percent(pid: int, seconds: float) -> float:
    """The process' CPU over a measurement window of `seconds`, as a percentage of one core."""
    t0, c0 = time.monotonic(), _cpu_ticks(pid)
    deadline_poll(lambda: True if time.monotonic() - t0 >= seconds else None, seconds + 5, 0.2)
    elapsed, used = time.monotonic() - t0, _cpu_ticks(pid) - c0
    return 100 * used / os.sysconf("SC_CLK_TCK") / elapsed


def _child(pid: int) -> int | None:
    """A process' child, if it has one (/proc/<pid>/stat's fourth field is the parent's ID)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                return int(stat.parent.name)
        except (OSError, ValueError, IndexError):
            continue  # a process that ended while this looked
    return None


def test_top_in_a_real_terminal_shows_routes_and_a_failed_request_and_quits_with_q(mon, tmp_path):
    """`bin/ops top` in tmux against this stack: the routes with Prometheus' figures and a failed
    request's ID show, it takes under 2 % of a core while open, and `q` quits with exit 0."""
    if shutil.which("tmux") is None:
        if os.environ.get("CI"):
            pytest.fail("tmux is needed to run `bin/ops top` in a terminal, and this test must run in CI")
        pytest.skip("no tmux (`apt-get install -y tmux`)")
    root, env, url = mon["root"], mon["env"], mon["gateway"]
    key = master_key(root)
    headers = {"Authorization": f"Bearer {key}"}
    routes = sorted(m["id"] for m in httpx.get(f"{url}/v1/models", headers=headers, timeout=30).json()["data"])
    assert routes, "the stack serves no route"

    socket, rc = f"gwops-top-{uuid.uuid4().hex[:8]}", tmp_path / "top.rc"
    # the dashboard's exit status goes to a file: tmux does not always reap a pane's process in
    # time to report it (#{pane_dead_status} stayed empty, the process a zombie, in some runs)
    wrapper = ["sh", "-c", 'rc="$1"; shift; "$@"; echo "$?" > "$rc"', "sh", str(rc)]
    dashboard = [str(root / "bin/ops"), "top", "--interval", "5"]
    try:
        _tmux(socket, env, "new-session", "-d", "-s", "top", "-x", "200", "-y", "60", "-c", str(root),
              *wrapper, *dashboard)  # fmt: skip
        shell = int(_tmux(socket, env, "display-message", "-p", "-t", "top", "#{pane_pid}").strip())
        # bin/ops execs python: the shell's child is the dashboard
        pid = deadline_poll(lambda: _child(shell), timeout=30, interval=0.2)

        def screen() -> str:
            return _tmux(socket, env, "capture-pane", "-p", "-t", "top")

        # traffic: one request per route, and one that fails with an ID of ours
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            for route in routes[:5]:
                client.post(
                    "/v1/chat/completions", json={"model": route, "messages": [{"role": "user", "content": "hi"}]}
                )
            failed_id = f"top-failed-{uuid.uuid4().hex[:8]}"
            bad = client.post(
                "/v1/chat/completions",
                headers={"X-Request-ID": failed_id},
                json={"model": "no-such-route-for-top", "messages": [{"role": "user", "content": "hi"}]},
            )
        assert bad.status_code >= 400 and bad.headers.get("x-request-id") == failed_id

        def shows_all() -> str | None:
            text = screen()
            return text if failed_id in text and all(r in text for r in routes[:8]) else None

        try:
            shown = deadline_poll(shows_all, timeout=90, interval=1)
        except Timeout:
            raise AssertionError(f"the routes {routes[:8]} and {failed_id} never showed:\n{screen()}") from None
        print(shown)

        cpu = _cpu_percent(pid, CPU_WINDOW)
        print(f"bin/ops top: {cpu:.2f}% of a core over {CPU_WINDOW:.0f} s (budget {CPU_BUDGET}%)")
        assert cpu < CPU_BUDGET, f"bin/ops top took {cpu:.2f}% of a core while open"

        def counted() -> dict | None:
            snap = json.loads(ops(root, env, "top", "--once", "--json").stdout)
            rows = {r["route"]: r for r in snap["routes"]}
            return snap if (rows.get(routes[0]) or {}).get("rps") else None

        snap = deadline_poll(counted, timeout=60, interval=2)  # the next scrape counts the requests
        assert snap["prometheus"] and not [m for m in snap["missing"] if "prometheus" in m.lower()], snap["missing"]
        assert snap["gateway"] and any(f["id"] == failed_id for f in snap["failed"]), snap

        _tmux(socket, env, "send-keys", "-t", "top", "q")
        status = deadline_poll(
            lambda: rc.read_text().strip() or None if rc.exists() else None, timeout=20, interval=0.2
        )
        assert status == "0", f"`bin/ops top` exited {status} on `q`"
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], env=env, capture_output=True, timeout=30)


def test_postgres_down_reaches_the_webhook_and_resolves(mon):
    stopped_alert_resolved(mon, "postgres", "GwopsPostgresDown")


def test_gateway_down_reaches_the_webhook_and_resolves(mon):
    slot = json.loads(ops(mon["root"], mon["env"], "status", "--json").stdout)["gateway"]["active_slot"]
    stopped_alert_resolved(mon, f"gateway-{slot}", "GwopsGatewayDown")


def test_monitoring_off_runs_none_of_it(tmp_path, local_images):
    """`monitoring.enabled: false`: no monitoring container, no image chosen, nothing in status."""
    root = tmp_path / "repo"
    env = make_copy(root, unique("gwops-nomon"))
    try:
        r = ops(root, env, "up")
        assert r.returncode == 0, r.stderr
        assert "prometheus" not in r.stderr
        status = json.loads(ops(root, env, "status", "--json").stdout)
        assert {row["component"] for row in status["services"]} == {"proxy", "gateway", "postgres", "redis"}
        assert status["alerts"] is None
        assert "no `prometheus` service" in (Path(root) / "compose.d/prometheus.yml").read_text()
        # and no per-request cost: the gateway runs without LiteLLM's Prometheus callback
        config = yaml.safe_load((Path(root) / "state" / LITELLM_CONFIG).read_text())
        assert "callbacks" not in config["litellm_settings"]
    finally:
        remove_stack(root, env)
