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

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from gwops.components.grafana.boards_ops import health, system
from gwops.components.grafana.boards_traffic import overview, performance, tokens
from gwops.components.grafana.panels import ALL, BUILTINS

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
