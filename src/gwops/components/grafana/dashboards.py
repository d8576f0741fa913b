"""The stack's Grafana dashboards, as code (grafana-foundation-sdk builders, schema of Grafana
11.6): overview, tokens and cost, performance, health, system. Each is a deterministic JSON model
(sorted keys, fixed uid), read-only in Grafana (`editable: false`, provisioned from files), every
query on the provisioned Prometheus datasource (DATASOURCE_UID).

Metric names and labels: LiteLLM 1.106.2 as measured in ../prometheus/NOTES.md (`requested_model`
is on every request, token, spend and latency metric; gauges without a multiprocess mode carry a
`pid` label per gunicorn worker: aggregated `without (pid)`), HAProxy 2.6's built-in exporter
(`haproxy_frontend_*`, `haproxy_backend_*`, `haproxy_server_*`; frontend `gateway`, backends
`slot_blue`/`slot_green`), postgres/redis/node exporters, Prometheus itself, and the toolkit's own
`gwops_*` metrics (gwops.metrics).

Compared with the dashboards LiteLLM keeps in its repository (cookbook/litellm_proxy_server/
grafana_dashboard/, "v2" and "all metrics"): from there come the choice of failures broken down
by `exception_class`, the mean latency as `_sum / _count` next to the quantiles, and the
provider rate-limit headroom gauges (`litellm_remaining_requests_metric`,
`litellm_remaining_tokens_metric`). Not taken: their `${DS_PROMETHEUS}` import-time datasource
(ours is provisioned with a fixed uid), fixed `[2m]` windows (`$__rate_interval` here, which
follows the scrape interval), and ungrouped `topk` over raw series (per-worker duplicates here).
"""

from __future__ import annotations

import json
import re
from typing import Any

from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.builders.common import ReduceDataOptions, VizLegendOptions
from grafana_foundation_sdk.builders.dashboard import Dashboard, QueryVariable, Row, ThresholdsConfig
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    BigValueColorMode,
    BigValueGraphMode,
    LegendDisplayMode,
    LegendPlacement,
)
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    Threshold,
    ThresholdsMode,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from gwops.components.grafana.uid import DATASOURCE_UID

TAGS = ["gwops"]
DS = DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)
ALL = ".*"  # the value of a variable's "All" option (a regex: used with =~)
# Grafana's own interval variables, as panel_queries() substitutes them for a direct query
BUILTINS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h", "__range_s": "3600", "__interval_ms": "60000"}
MODEL = 'requested_model=~"$model"'
SERVER_ERRORS = MODEL + ', exception_status=~"5.."'  # what the error-ratio alert counts


# -- building blocks ------------------------------------------------------------------------------


def q(
    expr: str, legend: str = "", ref: str = "A", instant: bool = False, fmt: PromQueryFormat | None = None
) -> Dataquery:
    d = Dataquery().expr(expr).ref_id(ref).datasource(DS).legend_format(legend or "__auto")
    d = d.instant() if instant else d.range()
    return d.format(fmt) if fmt is not None else d


def _targets(panel: Any, queries: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> Any:
    for i, (expr, legend) in enumerate(queries):
        panel = panel.with_target(q(expr, legend, ref=chr(ord("A") + i)))
    return panel


def ts(
    title: str,
    unit: str,
    *queries: tuple[str, str],
    description: str = "",
    w: int = 12,
    h: int = 8,
    minimum: float | None = 0,
) -> timeseries.Panel:
    """A time series panel; `queries` are (PromQL, legend) pairs."""
    p = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DS)
        .unit(unit)
        .span(w)
        .height(h)
        .line_width(1)
        .fill_opacity(10)
        .legend(
            VizLegendOptions()
            .show_legend(True)
            .display_mode(LegendDisplayMode.LIST)
            .placement(LegendPlacement.BOTTOM)
            .calcs([])
        )
    )
    if minimum is not None:
        p = p.min(minimum)
    return _targets(p, queries)


def st(
    title: str,
    unit: str,
    *queries: tuple[str, str],
    description: str = "",
    w: int = 6,
    h: int = 4,
    steps: list[tuple[float | None, str]] | None = None,
) -> stat.Panel:
    """A single-value panel (last value); `steps` are threshold (value, colour) pairs, the first None."""
    p = (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DS)
        .unit(unit)
        .span(w)
        .height(h)
        .graph_mode(BigValueGraphMode.AREA)
        .color_mode(BigValueColorMode.BACKGROUND)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    steps = steps or [(None, "green")]
    p = p.thresholds(
        ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps([Threshold(value=v, color=c) for v, c in steps])
    )
    return _targets(p, queries)


def model_variable() -> QueryVariable:
    return (
        QueryVariable("model")
        .label("Model")
        .description("the model name clients asked for (`requested_model`; `other`: an unknown one)")
        .query("label_values(litellm_proxy_total_requests_metric_total, requested_model)")
        .datasource(DS)
        .multi(True)
        .include_all(True)
        .all_value(ALL)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )


def dashboard(uid: str, title: str, description: str, model_var: bool = False) -> Dashboard:
    d = (
        Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .readonly()
        .time("now-6h", "now")
        .refresh("30s")
        .timezone("browser")
        .tooltip(DashboardCursorSync.CROSSHAIR)
    )
    return d.with_variable(model_variable()) if model_var else d


def rate(metric: str, selector: str = "", by: str = "", window: str = "$__rate_interval") -> str:
    sel = "{" + selector + "}" if selector else ""
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (rate({metric}{sel}[{window}]))"


def quantile(qv: float, metric: str, selector: str = MODEL, by: str = "") -> str:
    keys = f"{by}, le" if by else "le"
    return f"histogram_quantile({qv}, sum by ({keys}) (rate({metric}_bucket{{{selector}}}[$__rate_interval])))"


# -- the dashboards -------------------------------------------------------------------------------


def overview() -> Dashboard:
    total, failed = "litellm_proxy_total_requests_metric_total", "litellm_proxy_failed_requests_metric_total"
    d = dashboard(
        "gwops-overview",
        "gwops / Overview",
        "Traffic through the gateway: requests, failures, error ratio, in-flight requests, proxy sessions.",
        model_var=True,
    )
    d = (
        d.with_row(Row("Gateway (LiteLLM)"))
        .with_panel(st("Requests/s", "reqps", (rate(total, MODEL), "requests/s"), w=6))
        .with_panel(
            st(
                "Failures/s",
                "reqps",
                (rate(failed, MODEL), "failures/s"),
                w=6,
                steps=[(None, "green"), (0.01, "orange")],
            )
        )
        .with_panel(
            st(
                "Error ratio (5xx)",
                "percentunit",
                (f"({rate(failed, SERVER_ERRORS)} or vector(0)) / {rate(total, MODEL)}", "5xx / all"),
                description="Server-side failures over all requests (a 400 for an unknown model is not counted here).",
                w=6,
                steps=[(None, "green"), (0.01, "orange"), (0.05, "red")],
            )
        )
        .with_panel(st("In-flight requests", "short", ("sum (litellm_in_flight_requests)", "in flight"), w=6))
        .with_panel(ts("Requests/s by model", "reqps", (rate(total, MODEL, "requested_model"), "{{requested_model}}")))
        .with_panel(ts("Failures/s by model", "reqps", (rate(failed, MODEL, "requested_model"), "{{requested_model}}")))
        .with_panel(ts("Requests/s by route", "reqps", (rate(total, MODEL, "route"), "{{route}}")))
        .with_panel(
            ts(
                "Failures/s by route and status",
                "reqps",
                (rate(failed, MODEL, "route, exception_status"), "{{route}} {{exception_status}}"),
            )
        )
        .with_panel(
            ts(
                "Failures/s by exception class",
                "reqps",
                (rate(failed, MODEL, "exception_class"), "{{exception_class}}"),
            )
        )
        .with_panel(
            ts(
                "Error ratio by model (5xx)",
                "percentunit",
                # a model without a failure shows 0, not a gap
                (
                    f"({rate(failed, SERVER_ERRORS, 'requested_model')} or {rate(total, MODEL, 'requested_model')} * 0)"
                    f" / {rate(total, MODEL, 'requested_model')}",
                    "{{requested_model}}",
                ),
            )
        )
        .with_panel(
            ts(
                "In-flight requests by replica",
                "short",
                ("sum by (service) (litellm_in_flight_requests)", "{{service}}"),
                description="Requests a gateway replica is working on (summed over its workers).",
                w=24,
            )
        )
        .with_row(Row("Proxy (HAProxy)"))
        .with_panel(
            ts(
                "Proxy requests/s",
                "reqps",
                (
                    'sum by (proxy) (rate(haproxy_frontend_http_requests_total{proxy="gateway"}[$__rate_interval]))',
                    "{{proxy}}",
                ),
            )
        )
        .with_panel(
            ts(
                "Proxy sessions",
                "short",
                ('sum by (proxy) (haproxy_frontend_current_sessions{proxy="gateway"})', "frontend {{proxy}}"),
                ('sum by (proxy) (haproxy_backend_current_sessions{proxy=~"slot_.*"})', "backend {{proxy}}"),
                ('sum by (proxy) (haproxy_backend_current_queue{proxy=~"slot_.*"})', "queued {{proxy}}"),
            )
        )
        .with_panel(
            ts(
                "Proxy responses/s by class",
                "reqps",
                (
                    'sum by (code) (rate(haproxy_frontend_http_responses_total{proxy="gateway"}[$__rate_interval]))',
                    "{{code}}",
                ),
            )
        )
        .with_panel(
            ts(
                "Proxy connection errors and retries/s",
                "short",
                (
                    'sum by (proxy) (rate(haproxy_backend_connection_errors_total{proxy=~"slot_.*"}[$__rate_interval]))',
                    "connection errors {{proxy}}",
                ),
                (
                    'sum by (proxy) (rate(haproxy_backend_retry_warnings_total{proxy=~"slot_.*"}[$__rate_interval]))',
                    "retries {{proxy}}",
                ),
                (
                    'sum by (proxy) (rate(haproxy_backend_redispatch_warnings_total{proxy=~"slot_.*"}[$__rate_interval]))',
                    "redispatched {{proxy}}",
                ),
            )
        )
    )
    return d


def tokens() -> Dashboard:
    d = dashboard(
        "gwops-tokens",
        "gwops / Tokens and cost",
        "Input, output and total tokens per model, spend in USD as LiteLLM prices it.",
        model_var=True,
    )
    inc = "$__range"
    d = (
        d.with_row(Row("Over the selected range"))
        .with_panel(
            st(
                "Input tokens",
                "short",
                (f"sum (increase(litellm_input_tokens_metric_total{{{MODEL}}}[{inc}]))", "input"),
                w=6,
            )
        )
        .with_panel(
            st(
                "Output tokens",
                "short",
                (f"sum (increase(litellm_output_tokens_metric_total{{{MODEL}}}[{inc}]))", "output"),
                w=6,
            )
        )
        .with_panel(
            st(
                "Total tokens",
                "short",
                (f"sum (increase(litellm_total_tokens_metric_total{{{MODEL}}}[{inc}]))", "total"),
                w=6,
            )
        )
        .with_panel(
            st("Spend", "currencyUSD", (f"sum (increase(litellm_spend_metric_total{{{MODEL}}}[{inc}]))", "USD"), w=6)
        )
        .with_row(Row("Rates per model"))
        .with_panel(
            ts(
                "Input tokens/s by model",
                "short",
                (rate("litellm_input_tokens_metric_total", MODEL, "requested_model"), "{{requested_model}}"),
            )
        )
        .with_panel(
            ts(
                "Output tokens/s by model",
                "short",
                (rate("litellm_output_tokens_metric_total", MODEL, "requested_model"), "{{requested_model}}"),
            )
        )
        .with_panel(
            ts(
                "Total tokens/s by model",
                "short",
                (rate("litellm_total_tokens_metric_total", MODEL, "requested_model"), "{{requested_model}}"),
            )
        )
        .with_panel(
            ts(
                "Spend per hour by model",
                "currencyUSD",
                (f"{rate('litellm_spend_metric_total', MODEL, 'requested_model')} * 3600", "{{requested_model}}"),
            )
        )
        .with_panel(
            ts(
                "Spend per hour by provider",
                "currencyUSD",
                (f"{rate('litellm_spend_metric_total', MODEL, 'api_provider')} * 3600", "{{api_provider}}"),
            )
        )
        .with_panel(
            ts(
                "Tokens per request by model",
                "short",
                (
                    f"{rate('litellm_total_tokens_metric_total', MODEL, 'requested_model')}"
                    f" / {rate('litellm_requests_metric_total', MODEL, 'requested_model')}",
                    "{{requested_model}}",
                ),
                description="Tokens over successful LLM calls.",
            )
        )
    )
    return d


def performance() -> Dashboard:
    lat = "litellm_request_total_latency_metric"
    d = dashboard(
        "gwops-performance",
        "gwops / Performance",
        "End-to-end latency quantiles, time to first token, provider latency, queue time, LiteLLM overhead.",
        model_var=True,
    )
    d = (
        d.with_row(Row("End to end (a streamed request counts until its last chunk)"))
        .with_panel(
            ts(
                "Request latency p50 / p95 / p99",
                "s",
                (quantile(0.5, lat), "p50"),
                (quantile(0.95, lat), "p95"),
                (quantile(0.99, lat), "p99"),
                (
                    f"sum (rate({lat}_sum{{{MODEL}}}[$__rate_interval])) / sum (rate({lat}_count{{{MODEL}}}[$__rate_interval]))",
                    "mean",
                ),
            )
        )
        .with_panel(
            ts("Request latency p95 by model", "s", (quantile(0.95, lat, by="requested_model"), "{{requested_model}}"))
        )
        .with_panel(
            ts(
                "Time to first token p50 / p95 (streamed requests)",
                "s",
                (quantile(0.5, "litellm_llm_api_time_to_first_token_metric"), "p50"),
                (quantile(0.95, "litellm_llm_api_time_to_first_token_metric"), "p95"),
            )
        )
        .with_panel(
            ts(
                "Time to first token p95 by model",
                "s",
                (
                    quantile(0.95, "litellm_llm_api_time_to_first_token_metric", by="requested_model"),
                    "{{requested_model}}",
                ),
            )
        )
        .with_row(Row("Provider and gateway"))
        .with_panel(
            ts(
                "Provider latency p95 by provider",
                "s",
                (quantile(0.95, "litellm_llm_api_latency_metric", by="api_provider"), "{{api_provider}}"),
                description="The call to the provider alone (`litellm_llm_api_latency_metric`).",
            )
        )
        .with_panel(
            ts(
                "Provider latency p50 by provider",
                "s",
                (quantile(0.5, "litellm_llm_api_latency_metric", by="api_provider"), "{{api_provider}}"),
            )
        )
        .with_panel(
            ts(
                "Queue time p50 / p95",
                "s",
                (quantile(0.5, "litellm_request_queue_time_seconds"), "p50"),
                (quantile(0.95, "litellm_request_queue_time_seconds"), "p95"),
                description="From arrival to the start of LiteLLM's pre-call processing.",
            )
        )
        .with_panel(
            ts(
                "LiteLLM overhead (mean) by model group",
                "s",
                (
                    "sum by (model_group) (rate(litellm_request_total_latency_metric_sum[$__rate_interval]))"
                    " / sum by (model_group) (rate(litellm_request_total_latency_metric_count[$__rate_interval]))"
                    " - sum by (model_group) (rate(litellm_llm_api_latency_metric_sum[$__rate_interval]))"
                    " / sum by (model_group) (rate(litellm_llm_api_latency_metric_count[$__rate_interval]))",
                    "{{model_group}}",
                ),
                description="End-to-end latency minus the provider call's, per request: what the gateway "
                "adds (LiteLLM's own overhead histogram is not emitted for every call).",
            )
        )
    )
    return d


def health() -> Dashboard:
    d = dashboard(
        "gwops-health",
        "gwops / Health",
        "Provider deployments, gateway replicas, Postgres, Redis, backups, reloads and firing alerts.",
    )
    updown = [(None, "red"), (1, "green")]
    d = (
        d.with_row(Row("Services"))
        .with_panel(
            st(
                "Gateway replicas up",
                "short",
                ('sum (up{job="gateway"} unless on(instance) gwops_gateway_standby == 1)', "serving, scraped up"),
                w=4,
                steps=[(None, "red"), (1, "orange"), (2, "green")],
            )
        )
        .with_panel(
            st(
                "Replicas in rotation (proxy)",
                "short",
                ('sum (haproxy_backend_active_servers{proxy=~"slot_.*"})', "active servers"),
                w=4,
                steps=[(None, "red"), (1, "orange"), (2, "green")],
            )
        )
        .with_panel(st("Postgres", "bool_yes_no", ("min (pg_up)", "pg_up"), w=4, steps=updown))
        .with_panel(st("Redis", "bool_yes_no", ("min (redis_up)", "redis_up"), w=4, steps=updown))
        .with_panel(
            st(
                "Last verified backup age",
                "s",
                ("time() - max (gwops_backup_last_verified_timestamp_seconds)", "age"),
                w=4,
                steps=[(None, "green"), (86400, "orange"), (172800, "red")],
                description="Since the newest backup whose restore was verified (the alert uses the configured maximum age).",
            )
        )
        .with_panel(
            st(
                "Firing alerts",
                "short",
                ('count (ALERTS{alertstate="firing"}) or vector(0)', "firing"),
                w=4,
                steps=[(None, "green"), (1, "red")],
            )
        )
        .with_panel(
            ts(
                "Scrape targets up by job",
                "short",
                ("sum by (job) (up)", "{{job}}"),
                description="Containers Prometheus scrapes, per component.",
            )
        )
        .with_panel(
            ts(
                "Proxy servers by state",
                "short",
                ('sum by (proxy, state) (haproxy_server_status{proxy=~"slot_.*"})', "{{proxy}} {{state}}"),
                description="Gateway replicas as HAProxy sees them (checked servers and unchecked spares).",
            )
        )
        .with_row(Row("Provider deployments"))
        .with_panel(
            ts(
                "Deployment state (0 healthy, 1 partial outage, 2 cooldown)",
                "short",
                (
                    "max without (pid) (litellm_deployment_state)",
                    "{{litellm_model_name}} {{api_provider}} ({{instance}})",
                ),
                description="Per replica, the worst value over its workers; it stays at its last value until the next request.",
                minimum=None,
            )
        )
        .with_panel(
            ts(
                "Deployment cooldowns/s",
                "short",
                # the counter appears with the first cooldown: until then, 0
                (
                    "sum by (litellm_model_name, api_provider) (rate(litellm_deployment_cooled_down_total[$__rate_interval]))"
                    " or vector(0)",
                    "{{litellm_model_name}} ({{api_provider}})",
                ),
            )
        )
        .with_row(Row("Toolkit"))
        .with_panel(
            ts(
                "Reload failures and rollbacks",
                "short",
                ("sum (increase(gwops_reload_failures_total[$__rate_interval]))", "failed"),
                ("sum (increase(gwops_reload_rollbacks_total[$__rate_interval]))", "rolled back"),
                ("max (gwops_reload_last_outcome)", "last outcome (0 ok, 1 failed, 2 rolled back)"),
            )
        )
        .with_panel(
            ts(
                "Backup and reload durations",
                "s",
                ("max (gwops_backup_last_duration_seconds)", "last backup"),
                ("max (gwops_reload_last_duration_seconds)", "last reload"),
                ("max (gwops_up_last_duration_seconds)", "last up"),
            )
        )
        .with_panel(
            table.Panel()
            .title("Route capabilities (bin/ops probe: 1 yes, 0 no, -1 error)")
            .datasource(DS)
            .span(16)
            .height(8)
            .with_target(
                q(
                    "max by (route, capability) (gwops_probe_capability)",
                    "{{route}} {{capability}}",
                    instant=True,
                    fmt=PromQueryFormat.TABLE,
                )
            )
        )
        .with_panel(
            ts(
                "Streaming at the last probe: first token",
                "s",
                ("max by (route) (gwops_probe_ttft_seconds)", "{{route}}"),
                w=8,
                description="Time to the first streamed token per route, when `bin/ops probe` last ran.",
            )
        )
        .with_panel(
            table.Panel()
            .title("Firing alerts (labels)")
            .datasource(DS)
            .span(24)
            .height(8)
            .with_target(q('ALERTS{alertstate="firing"}', "{{alertname}}", instant=True, fmt=PromQueryFormat.TABLE))
        )
    )
    return d


def system() -> Dashboard:
    fs = 'fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs|fuse.lxcfs"'
    d = dashboard(
        "gwops-system",
        "gwops / System",
        "The host (node-exporter): CPU, memory, disk; containers scraped; Prometheus' own storage.",
    )
    d = (
        d.with_row(Row("Host"))
        .with_panel(
            ts(
                "CPU busy",
                "percentunit",
                ('1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[$__rate_interval]))', "busy"),
                (
                    'avg by (mode) (rate(node_cpu_seconds_total{mode=~"user|system|iowait|steal"}[$__rate_interval]))',
                    "{{mode}}",
                ),
            )
        )
        .with_panel(
            ts(
                "Load average",
                "short",
                ("node_load1", "1 min"),
                ("node_load5", "5 min"),
                ('count without (cpu, mode) (node_cpu_seconds_total{mode="idle"})', "cores"),
            )
        )
        .with_panel(
            ts(
                "Memory",
                "bytes",
                ("node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes", "used"),
                ("node_memory_MemAvailable_bytes", "available"),
                ("node_memory_SwapTotal_bytes - node_memory_SwapFree_bytes", "swap used"),
            )
        )
        .with_panel(
            ts(
                "Disk free",
                "percentunit",
                (f"node_filesystem_avail_bytes{{{fs}}} / node_filesystem_size_bytes{{{fs}}}", "{{mountpoint}}"),
                description="The alert fires under the configured free ratio (10% by default).",
            )
        )
        .with_panel(
            ts(
                "Disk I/O",
                "Bps",
                ("sum by (device) (rate(node_disk_read_bytes_total[$__rate_interval]))", "read {{device}}"),
                ("sum by (device) (rate(node_disk_written_bytes_total[$__rate_interval]))", "written {{device}}"),
            )
        )
        .with_panel(
            ts(
                "Network",
                "Bps",
                (
                    'sum by (device) (rate(node_network_receive_bytes_total{device!="lo"}[$__rate_interval]))',
                    "in {{device}}",
                ),
                (
                    'sum by (device) (rate(node_network_transmit_bytes_total{device!="lo"}[$__rate_interval]))',
                    "out {{device}}",
                ),
            )
        )
        .with_row(Row("Containers and Prometheus"))
        .with_panel(
            st(
                "Containers scraped",
                "short",
                ("count (up == 1)", "up"),
                w=6,
                description="Containers of the stack that answer Prometheus (every component with metrics).",
            )
        )
        .with_panel(
            st(
                "Prometheus TSDB size",
                "bytes",
                ("sum (prometheus_tsdb_storage_blocks_bytes)", "blocks"),
                w=6,
                description="Persisted blocks (the head in memory is `Head series`); "
                "`monitoring.retention_size` bounds it.",
            )
        )
        .with_panel(st("Head series", "short", ("sum (prometheus_tsdb_head_series)", "series"), w=6))
        .with_panel(
            st(
                "Scrape targets down",
                "short",
                ("count (up == 0) or vector(0)", "down"),
                w=6,
                steps=[(None, "green"), (1, "red")],
            )
        )
        .with_panel(ts("Containers scraped by job", "short", ("count by (job) (up == 1)", "{{job}}")))
        .with_panel(
            ts(
                "Prometheus storage",
                "bytes",
                ("sum (prometheus_tsdb_storage_blocks_bytes)", "blocks"),
                ("max (prometheus_tsdb_retention_limit_bytes)", "retention limit"),
            )
        )
    )
    return d


BUILDERS = (overview, tokens, performance, health, system)


# -- output ---------------------------------------------------------------------------------------


def to_json(builder: Dashboard) -> dict[str, Any]:
    """The dashboard's JSON model, as Grafana reads it from a file (plain dicts, keys sorted)."""
    return json.loads(JSONEncoder(sort_keys=True).encode(builder.build()))


def dashboards() -> dict[str, dict[str, Any]]:
    """uid -> the dashboard's JSON model."""
    out = {}
    for make in BUILDERS:
        model = to_json(make())
        out[model["uid"]] = model
    return out


def render(model: dict[str, Any]) -> str:
    return json.dumps(model, sort_keys=True, indent=2) + "\n"


def panels(model: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel that is not a row, rows' nested panels included."""
    out = []
    for p in model.get("panels") or []:
        if p.get("type") == "row":
            out += p.get("panels") or []
        else:
            out.append(p)
    return out


VAR = re.compile(r"\$\{(\w+)(?::[\w]+)?\}|\$(\w+)|\[\[(\w+)(?::[\w]+)?\]\]")


def panel_queries(model: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query, with each dashboard variable replaced by its "All"
    value (a regex matching everything) and Grafana's interval variables by fixed durations: each
    expression can be sent to Prometheus as it is. An unknown variable raises KeyError."""
    values = dict(BUILTINS)
    for v in (model.get("templating") or {}).get("list") or []:
        values[v["name"]] = v.get("allValue") or ALL

    def sub(m: re.Match[str]) -> str:
        return values[next(g for g in m.groups() if g)]

    return [(p.get("title", ""), VAR.sub(sub, t["expr"])) for p in panels(model) for t in p.get("targets") or []]
