"""The front proxy's access log: one JSON line per request (haproxy.cfg's `log-format`), read
back from Docker's log of the proxy container. Each becomes a row like `bin/ops requests`' rows
from the spend logs, with what only the proxy knows: the HTTP status the client got, the time a
request waited at the proxy, the slot and replica that served it. The gateway's part (the
deployment, retries, fallbacks, its overhead and duration) comes from its x-litellm-* response
headers, which the proxy logs. Works with the database off.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gwops import logview

KEY_DIGITS = 16  # the proxy logs this many hex digits of a key's SHA-256 (LiteLLM's `token`)
MASTER = "(master key)"


def key_hash(key: str) -> str:
    """What the proxy logs for a key: the start of its SHA-256, as LiteLLM stores keys."""
    return hashlib.sha256(key.encode()).hexdigest()[:KEY_DIGITS]


@dataclass(frozen=True)
class LogFilters:
    since: dt.datetime  # naive UTC, as the spend logs' times
    route: str | None = None
    key: str | None = None  # a key's alias, `(master key)` or `hash:<digits>`
    request_id: str | None = None
    status: str | None = None  # ok | failed | 4xx | 5xx | a code


def status_matches(status: int, wanted: str | None) -> bool:
    if not wanted:
        return True
    if wanted == "ok":
        return 200 <= status < 400
    if wanted == "failed":
        return not 200 <= status < 400
    if len(wanted) == 3 and wanted.endswith("xx"):
        return str(status)[:1] == wanted[0]
    return str(status) == wanted


def _value(raw: Any) -> Any:
    return None if raw in ("-", "", None, "None") else raw


def _number(raw: Any) -> float | None:
    v = _value(raw)
    try:
        f = float(v) if v is not None else None
    except (TypeError, ValueError):
        return None
    return f if f is not None and math.isfinite(f) else None


def _ms(raw: Any) -> int | None:
    f = _number(raw)
    return None if f is None or f < 0 else round(f)


def parse(line: str, keys: Mapping[str, str]) -> dict[str, Any] | None:
    """One proxy log line as a request row, or None for anything else (HAProxy's own messages).
    `keys` names key hashes (the master key's, virtual keys' aliases)."""
    raw = logview.json_object(line) if line.startswith('{"ts":') else None
    ts = _number(raw.get("ts")) if raw is not None else None
    if raw is None or ts is None or _value(raw.get("id")) is None:
        return None
    khash = _value(raw.get("key"))
    gateway_ms, overhead_ms = _ms(raw.get("gateway_ms")), _ms(raw.get("overhead_ms"))
    queue_ms, connect_ms = _ms(raw.get("queue_ms")), _ms(raw.get("connect_ms"))
    model, api_base = _value(raw.get("model")), _value(raw.get("api_base"))
    deployment = " @ ".join(x for x in (model, api_base) if x) or _value(raw.get("deployment_id")) or ""
    slot = str(_value(raw.get("slot")) or "")
    return {
        "time": dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f"),
        "id": raw["id"],
        "key": keys.get(khash, f"hash:{khash}") if khash else "",
        "route": _value(raw.get("route")) or "",
        "path": _value(raw.get("path")) or "",
        "deployment": deployment,
        "http_status": int(_number(raw.get("status")) or 0),
        "status": "ok" if status_matches(int(_number(raw.get("status")) or 0), "ok") else "failed",
        "retries": _ms(raw.get("retries")),
        "fallbacks": _ms(raw.get("fallbacks")),
        # the time the request waited at the proxy before a gateway had it (queue and connect)
        "proxy_ms": (queue_ms or 0) + (connect_ms or 0) if queue_ms is not None or connect_ms is not None else None,
        "overhead_ms": overhead_ms,
        # the provider's part, as LiteLLM counts it: its duration less its own overhead
        "provider_ms": gateway_ms - overhead_ms if gateway_ms is not None and overhead_ms is not None else None,
        "first_byte_ms": _ms(raw.get("first_byte_ms")),
        "latency_ms": _ms(raw.get("total_ms")),
        "bytes_out": _ms(raw.get("bytes_out")),
        "termination": _value(raw.get("term")) or "",
        "slot": slot.removeprefix("slot_"),
        "replica": _value(raw.get("replica")) or "",
    }


def matches(row: dict[str, Any], f: LogFilters) -> bool:
    return (
        row["time"] >= f.since.strftime("%Y-%m-%dT%H:%M:%S.%f")
        and (not f.route or row["route"] == f.route)
        and (not f.key or row["key"] == f.key)
        and (not f.request_id or row["id"] == f.request_id)
        and status_matches(row["http_status"], f.status)
    )


def rows(lines: Iterable[str], keys: Mapping[str, str], f: LogFilters) -> list[dict[str, Any]]:
    """The requests in `lines` that pass `f`, in log order (oldest first)."""
    out = []
    for line in lines:
        row = parse(line, keys)
        if row is not None and matches(row, f):
            out.append(row)
    return out


def _pct(values: list[int], q: float) -> float:
    """The q-quantile by linear interpolation (as Postgres' percentile_cont)."""
    if not values:
        return 0.0
    s = sorted(values)
    pos = (len(s) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return round(s[lo] + (s[hi] - s[lo]) * (pos - lo), 1)


def summary(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per route: requests, failures, error rate, p50/p95/p99 of the total time (the spend logs'
    summary's fields; tokens and spend are the database's, 0 here)."""
    by_route: dict[str, list[dict[str, Any]]] = {}
    for r in found:
        by_route.setdefault(r["route"] or r["path"], []).append(r)
    out = []
    for route, rs in by_route.items():
        lat = [r["latency_ms"] for r in rs if r["latency_ms"] is not None]
        failed = sum(r["status"] == "failed" for r in rs)
        out.append(
            {
                "route": route,
                "requests": len(rs),
                "failed": failed,
                "error_rate": round(failed / len(rs), 4),
                "p50_ms": _pct(lat, 0.5),
                "p95_ms": _pct(lat, 0.95),
                "p99_ms": _pct(lat, 0.99),
                "tokens": 0,
                "spend": 0.0,
            }
        )
    return sorted(out, key=lambda r: (-r["requests"], r["route"]))


# what the proxy adds to a spend-log row of the same request (its call ID is the request ID)
PROXY_FIELDS = ("http_status", "retries", "fallbacks", "proxy_ms", "overhead_ms", "provider_ms", "slot", "replica")


def enrich(db_rows: list[dict[str, Any]], proxy_rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Spend-log rows with the proxy's view of the same request, where the proxy logged it."""
    by_id = {r["id"]: r for r in proxy_rows}
    out = []
    for row in db_rows:
        p = by_id.get(row.get("call_id") or "") or by_id.get(row["id"])
        out.append({**row, **{k: (p[k] if p else None) for k in PROXY_FIELDS}})
    return out
