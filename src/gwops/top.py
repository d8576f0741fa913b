"""`bin/ops top`: one snapshot of the stack as an operator watches it, taken again every few
seconds by the dashboard (gwops.cli.cmd_top) or once for a script (`--once --json`).

Each source is optional; one that is off or does not answer becomes a line of `missing`, never
an error:
- Prometheus' HTTP API, instant queries over the last `window`: per route (the model name clients
  ask for) requests/s, error rate, p50/p99 latency and tokens/s as LiteLLM counts them; each
  deployment's state as LiteLLM's router sees it (the providers); the proxy's servers up per
  slot; the alerts pending or firing (gwops.components.prometheus.alerts).
- the toolkit's state: the live slot and config version (gwops.slots), each slot's replicas as
  `bin/ops status` reads them (gwops.status.service_row), the routes of the live config.
- the front proxy's access log (gwops.requests_log.RequestLog, gwops.access_log): the last failed
  requests with their IDs, read incrementally (each refresh reads only the lines since the last).
- LiteLLM's spend logs (the database on; gwops.admin.spend): spend today per route, read less
  often than the rest (a psql in the Postgres container).
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from gwops import access_log
from gwops.errors import OpsError

if TYPE_CHECKING:
    from gwops.requests_log import RequestLog
    from gwops.stack import Stack

ROUTE = "requested_model"  # the label LiteLLM's request, failure, token and latency series share
TOTAL = "litellm_proxy_total_requests_metric_total"
FAILED = "litellm_proxy_failed_requests_metric_total"
TOKENS = "litellm_total_tokens_metric_total"
LATENCY = "litellm_request_total_latency_metric_bucket"
# LiteLLM's router: 0 healthy, 1 some calls failing (partial outage), 2 cooled down (outage)
DEPLOYMENT_STATES = {0: "healthy", 1: "partial outage", 2: "outage"}
DEPLOYMENTS = "max by (litellm_model_name, api_provider, api_base) (litellm_deployment_state)"
# the servers of each slot's backend the proxy's health checks pass (its backup servers not counted)
PROXY_UP = 'max by (proxy) (haproxy_backend_active_servers{proxy=~"slot_.*"})'
# what an unexpected failure of one source is: shown as missing, the dashboard keeps running
EXPECTED = (OpsError, OSError, httpx.HTTPError, ValueError, KeyError)


def route_queries(window: str) -> dict[str, str]:
    """The per-route instant queries, by the column they fill."""

    def rate(metric: str) -> str:
        return f"sum by ({ROUTE}) (rate({metric}[{window}]))"

    def quantile(q: float) -> str:
        return f"histogram_quantile({q}, sum by ({ROUTE}, le) (rate({LATENCY}[{window}])))"

    return {
        "rps": rate(TOTAL),
        "errors": rate(FAILED),
        "p50": quantile(0.5),
        "p99": quantile(0.99),
        "tokens": rate(TOKENS),
    }


@dataclass
class Snapshot:
    taken_at: str  # UTC, ISO 8601
    took_ms: int = 0
    window: str = ""
    prometheus: str | None = None  # its URL; None: monitoring off
    missing: list[str] = field(default_factory=list)  # what this snapshot could not read, and why
    routes: list[dict[str, Any]] = field(default_factory=list)
    gateway: dict[str, Any] | None = None  # live slot, config version, each slot's replicas
    providers: list[dict[str, Any]] = field(default_factory=list)  # deployments as LiteLLM's router sees them
    alerts: list[dict[str, Any]] | None = None  # None: not known (Prometheus off or not answering)
    spend_today: dict[str, Any] | None = None  # None: database off or not answering
    failed: list[dict[str, Any]] = field(default_factory=list)  # newest first

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Sources:
    """Where a snapshot comes from; a source left None is off (`notes` says why, once)."""

    prometheus: str | None = None  # base URL of Prometheus' HTTP API
    alerts: Callable[[], list[dict[str, Any]]] | None = None
    routes: Callable[[], list[str]] | None = None  # the routes of the live config
    gateway: Callable[[], dict[str, Any]] | None = None  # gateway_slots()
    spend: Callable[[dt.datetime], list[dict[str, Any]]] | None = None  # admin.spend by route since
    open_log: Callable[[], RequestLog] | None = None  # cmd_requests' RequestLog (its proxy_lines, keys)
    notes: list[str] = field(default_factory=list)


def _value(raw: str) -> float | None:
    v = float(raw)
    return v if math.isfinite(v) else None


class Prometheus:
    """Instant queries on Prometheus' HTTP API, on one kept-alive connection."""

    def __init__(self, url: str, client: httpx.Client):
        self.url = url.rstrip("/")
        self.client = client

    def query(self, promql: str) -> list[tuple[dict[str, str], float | None]]:
        r = self.client.get(f"{self.url}/api/v1/query", params={"query": promql})
        body = r.json()
        if r.status_code != 200 or body.get("status") != "success":
            raise ValueError(f"HTTP {r.status_code}: {body.get('error', r.text[:200])}")
        return [(s["metric"], _value(s["value"][1])) for s in body["data"]["result"]]


class FailureTail:
    """The last failed requests (HTTP status not 2xx/3xx, or none) of the proxy's access log.
    The first read goes `lookback` seconds back; later ones read from the previous read on, so a
    refresh costs the lines logged since the last one. The log is reopened after an error (the
    proxy's container recreated)."""

    def __init__(
        self,
        open_log: Callable[[], RequestLog],
        lookback: float = 3600,
        keep: int = 20,
        clock: Callable[[], float] = time.time,
    ):
        self.open_log = open_log
        self.clock = clock
        self.cursor = clock() - lookback
        self.rows: deque[dict[str, Any]] = deque(maxlen=keep)  # oldest first
        self._log: RequestLog | None = None

    def read(self) -> list[dict[str, Any]]:
        if self._log is None:
            self._log = self.open_log()
        started = self.clock()
        seen = {r["id"] for r in self.rows}
        try:
            for line in self._log.proxy_lines(self.cursor, False):
                row = access_log.parse(line, self._log.keys)
                if row is not None and row["status"] == "failed" and row["id"] not in seen:
                    self.rows.append(row)
                    seen.add(row["id"])
        except EXPECTED:
            self._log = None
            raise
        # a second of overlap: a line written while this read started is read again (by its ID, once)
        self.cursor = started - 1
        return list(reversed(self.rows))


class Collector:
    """Takes snapshots; keeps what outlives one (the HTTP connection, the log's read position,
    the spend read last)."""

    def __init__(
        self,
        sources: Sources,
        *,
        window: str = "1m",
        spend_every: float = 30,
        lookback: float = 3600,
        keep: int = 10,
        timeout: float = 3,
        clock: Callable[[], float] = time.time,
    ):
        self.sources = sources
        self.window = window
        self.spend_every = spend_every
        self.clock = clock
        self.client = httpx.Client(timeout=timeout)
        self.prometheus = Prometheus(sources.prometheus, self.client) if sources.prometheus else None
        self.failures = FailureTail(sources.open_log, lookback, keep, clock) if sources.open_log else None
        self._spend: tuple[float, dict[str, Any]] | None = None

    def close(self) -> None:
        self.client.close()

    def collect(self) -> Snapshot:
        t0 = time.monotonic()
        now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        snap = Snapshot(taken_at=now.isoformat(timespec="seconds"), window=self.window)
        snap.prometheus = self.sources.prometheus
        snap.missing.extend(self.sources.notes)
        src = self.sources
        configured = _section(snap, "routes of the live config", src.routes) if src.routes else None
        metrics = _section(snap, f"Prometheus at {src.prometheus}", self._metrics) if self.prometheus else None
        snap.routes = route_rows(configured or [], metrics["routes"] if metrics else {})
        if metrics:
            snap.providers = metrics["providers"]
            if src.alerts is not None:
                snap.alerts = _section(snap, "alerts", src.alerts)
        if src.gateway is not None:
            snap.gateway = _section(snap, "gateway slots (Docker)", src.gateway)
            if snap.gateway and metrics:
                for row in snap.gateway["slots"]:
                    row["proxy_up"] = metrics["proxy_up"].get(row["slot"], 0)
        if src.spend is not None:
            snap.spend_today = _section(snap, "spend today (the database)", lambda: self._spend_today(now))
            for row in snap.routes:
                row["spend_today"] = (snap.spend_today or {}).get("routes", {}).get(row["route"])
        if self.failures is not None:
            snap.failed = _section(snap, "failed requests (the proxy's log)", self.failures.read) or []
        snap.took_ms = round((time.monotonic() - t0) * 1000)
        return snap

    def _metrics(self) -> dict[str, Any]:
        assert self.prometheus is not None
        per_route: dict[str, dict[str, float | None]] = {}
        for column, promql in route_queries(self.window).items():
            for labels, value in self.prometheus.query(promql):
                per_route.setdefault(labels.get(ROUTE, ""), {})[column] = value
        providers = [
            {
                "route": labels.get("litellm_model_name", ""),
                "provider": labels.get("api_provider", ""),
                "api_base": labels.get("api_base", ""),
                "state": DEPLOYMENT_STATES.get(int(value), str(value)) if value is not None else "-",
            }
            for labels, value in self.prometheus.query(DEPLOYMENTS)
        ]
        proxy_up = {
            labels.get("proxy", "").removeprefix("slot_"): int(value or 0)
            for labels, value in self.prometheus.query(PROXY_UP)
        }
        providers.sort(key=lambda p: (p["route"], p["provider"], p["api_base"]))
        return {"routes": per_route, "providers": providers, "proxy_up": proxy_up}

    def _spend_today(self, now: dt.datetime) -> dict[str, Any]:
        if self._spend is not None and self.clock() - self._spend[0] < self.spend_every:
            return self._spend[1]
        assert self.sources.spend is not None
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)  # naive UTC, as the logs
        rows = self.sources.spend(midnight)
        out = {
            "since": midnight.isoformat(),
            "requests": sum(r["requests"] for r in rows),
            "spend": round(sum(r["spend"] for r in rows), 6),
            "routes": {r["name"]: r["spend"] for r in rows},
        }
        self._spend = (self.clock(), out)
        return out


def collect(sources: Sources, **options: Any) -> Snapshot:
    """One snapshot (`bin/ops top --once`)."""
    collector = Collector(sources, **options)
    try:
        return collector.collect()
    finally:
        collector.close()


def _section(snap: Snapshot, what: str, read: Callable[[], Any]) -> Any:
    """`read()`, or None with a line in `missing` saying why."""
    try:
        return read()
    except httpx.ConnectError:
        snap.missing.append(f"{what}: not answering (connection refused)")
    except httpx.TimeoutException:
        snap.missing.append(f"{what}: not answering (timed out)")
    except EXPECTED as exc:
        snap.missing.append(f"{what}: {exc}")
    except Exception as exc:  # noqa: BLE001 - the dashboard stays up; the bug is shown, not hidden
        snap.missing.append(f"{what}: internal error {type(exc).__name__}: {exc} (a bug: please report it)")
    return None


def route_rows(configured: list[str], metrics: dict[str, dict[str, float | None]]) -> list[dict[str, Any]]:
    """One row per route: the live config's, then any other the gateway counted requests for."""
    out = []
    for route in [*configured, *sorted(r for r in metrics if r and r not in configured)]:
        m = metrics.get(route, {})
        rps, errors = m.get("rps"), m.get("errors")
        out.append(
            {
                "route": route,
                "rps": _round(rps, 3),
                "error_rate": round((errors or 0) / rps, 4) if rps else None,
                "p50_ms": _ms(m.get("p50")),
                "p99_ms": _ms(m.get("p99")),
                "tokens_per_s": _round(m.get("tokens"), 1),
            }
        )
    return out


def _round(v: float | None, digits: int) -> float | None:
    return None if v is None else round(v, digits)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


# -- the sources of a Compose stack ---------------------------------------------------------------
def prometheus_url(stack: Stack) -> str:
    from gwops.components.monitoring import host

    m = stack.settings.monitoring
    return f"http://{host(m.bind)}:{m.prometheus_port}"


def live_routes(stack: Stack) -> Callable[[], list[str]]:
    """The route names of the live slot's config, read again only when its file changes."""
    import yaml

    from gwops import slots

    cache: dict[str, Any] = {}

    def read() -> list[str]:
        path = slots.config_path(stack.project, slots.load(stack.project).active)
        try:
            stamp = (str(path), path.stat().st_mtime_ns)
        except FileNotFoundError:
            return []
        if cache.get("stamp") != stamp:
            config = yaml.safe_load(path.read_text()) or {}
            names = (m.get("model_name") for m in config.get("model_list") or [] if isinstance(m, dict))
            cache.update(stamp=stamp, routes=sorted({n for n in names if n}))
        return list(cache["routes"])

    return read


def gateway_slots(stack: Stack) -> dict[str, Any]:
    """The live slot and config version, and each slot's replicas as `bin/ops status` shows them
    (its role: serving, standby or starting)."""
    from gwops import slots, status
    from gwops.components import gateway
    from gwops.constants import SLOTS

    st = slots.load(stack.project)
    pin = getattr(stack.settings.images, gateway.COMPONENT.name)
    rows = []
    for slot in SLOTS:
        svc = gateway.service(slot)
        row = status.service_row(svc, stack.docker.replicas(svc), pin)
        if row["state"] != "absent":
            gateway.status_row(stack, row)
        rows.append(
            {
                "slot": slot,
                "service": svc,
                "role": row.get("role", "-"),
                "state": row["state"],
                "health": row["health"],
                "replicas": row["replicas"],
                "restarts": row["restarts"],
            }
        )
    return {"active": st.active, "version": st.version, "live_since": st.live_since, "slots": rows}


def stack_sources(stack: Stack, open_log: Callable[[], RequestLog] | None) -> Sources:
    """The sources of this checkout's Compose stack (`open_log`: how `bin/ops requests` opens the
    proxy's log)."""
    from gwops import admin, envfile
    from gwops.components import prometheus

    src = Sources(routes=live_routes(stack), gateway=lambda: gateway_slots(stack), open_log=open_log)
    if stack.settings.monitoring.enabled:
        src.prometheus = prometheus_url(stack)
        src.alerts = lambda: prometheus.alerts(stack)
    else:
        src.notes.append("monitoring off (`monitoring.enabled: false`): no rates, latencies, providers or alerts")
    if stack.settings.database.enabled:
        src.spend = lambda since: admin.spend(stack.docker, envfile.read(stack.project.env_file), "model", since)
    else:
        src.notes.append("database off (`database.enabled: false`): no spend")
    return src


def rate_window(scrape_interval: int) -> str:
    """A rate window that holds four scrapes at least (a minute at the default 15 s)."""
    return f"{max(60, 4 * scrape_interval)}s"
