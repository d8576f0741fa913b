"""`bin/ops requests`: every request, one row each, from two sources joined by the request ID
(the proxy's X-Request-ID, which is LiteLLM's call ID):
- LiteLLM's spend logs (the database on): when, the key and team, the route and the deployment
  that answered, its status, tokens, latency and time to first token, and its spend; or per route
  (`summary`): count, failures, p50/p95/p99, tokens, spend. Filters go to psql as variables
  (`:'name'`), never into the SQL text.
- the front proxy's access log (gwops.access_log): every request, the database on or off, with
  the HTTP status, the time at the proxy, the gateway's overhead, the provider's time, retries,
  fallbacks, slot and replica. With the database off it is the only source; with it on, it adds
  those to the spend-log rows, and finds what never reached LiteLLM (a 401, a 503).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Protocol

from gwops import access_log, logview
from gwops.errors import OpsError


class DockerExec(Protocol):
    def exec(self, service: str, cmd: list[str], env: dict[str, str] | None = None) -> tuple[int, str]: ...


@dataclass(frozen=True)
class Filters:
    since: dt.datetime
    route: str | None = None
    key: str | None = None  # a key alias
    request_id: str | None = None  # LiteLLM's request ID or its call ID
    status: str | None = None  # ok | failed | 4xx | 5xx | an HTTP code (the last three: the proxy's log)


RETRIED = re.compile(r"LiteLLM Retried: (\d+) times")  # LiteLLM's error line of a failed call
ROUTE = "COALESCE(NULLIF(s.model_group, ''), s.model)"
# the key's alias; else the master key, or the start of its hash (never a key)
KEY = (
    "COALESCE(k.key_alias, CASE WHEN s.api_key = 'litellm_proxy_master_key' THEN '(master key)' "
    f"ELSE 'hash:' || left(NULLIF(s.api_key, ''), {access_log.KEY_DIGITS}) END, '')"
)
LATENCY = 'COALESCE(s.request_duration_ms, (extract(epoch FROM s."endTime" - s."startTime") * 1000)::int)'
FAILED = "s.status = 'failure'"
FROM = (
    'FROM "LiteLLM_SpendLogs" s LEFT JOIN "LiteLLM_VerificationToken" k ON k.token = s.api_key '
    'LEFT JOIN "LiteLLM_TeamTable" t ON t.team_id = s.team_id'
)
FIELDS = (
    "time",
    "id",
    "call_id",
    "key",
    "team",
    "route",
    "deployment",
    "status",
    "tokens",
    "latency_ms",
    "ttft_ms",
    "spend",
)
SUMMARY_FIELDS = ("route", "requests", "failed", "error_rate", "p50_ms", "p95_ms", "p99_ms", "tokens", "spend")


def _where(f: Filters) -> tuple[str, dict[str, str]]:
    clauses, params = ["s.\"startTime\" >= :'since'::timestamp"], {"since": f.since.strftime("%Y-%m-%d %H:%M:%S.%f")}
    if f.route:
        clauses.append(f"{ROUTE} = :'route'")
        params["route"] = f.route
    if f.key:
        clauses.append("k.key_alias = :'key'")
        params["key"] = f.key
    if f.request_id:
        clauses.append("(s.request_id = :'rid' OR s.litellm_call_id = :'rid')")
        params["rid"] = f.request_id
    if f.status == "failed":
        clauses.append(FAILED)
    elif f.status == "ok":
        clauses.append(f"NOT ({FAILED})")
    return " AND ".join(clauses), params


def rows_query(f: Filters, limit: int, ascending: bool = False) -> tuple[str, dict[str, str]]:
    where, params = _where(f)
    sql = (
        'SELECT to_char(s."startTime", \'YYYY-MM-DD"T"HH24:MI:SS.US\'), s.request_id, '
        f"COALESCE(s.litellm_call_id, ''), {KEY}, COALESCE(t.team_alias, s.team_id, ''), "
        f"{ROUTE}, s.model || COALESCE(' @ ' || NULLIF(s.api_base, ''), ''), "
        f"CASE WHEN {FAILED} THEN 'failed' ELSE 'ok' END, s.total_tokens, {LATENCY}, "
        'COALESCE((extract(epoch FROM s."completionStartTime" - s."startTime") * 1000)::int, -1), s.spend '
        f'{FROM} WHERE {where} ORDER BY s."startTime" {"ASC" if ascending else "DESC"}, s.request_id LIMIT {int(limit)}'
    )
    return sql, params


def summary_query(f: Filters) -> tuple[str, dict[str, str]]:
    where, params = _where(f)
    pct = "round(percentile_cont({q}) WITHIN GROUP (ORDER BY {lat})::numeric, 1)"
    sql = (
        f"SELECT {ROUTE}, count(*), count(*) FILTER (WHERE {FAILED}), "
        + ", ".join(pct.format(q=q, lat=LATENCY) for q in (0.5, 0.95, 0.99))
        + f", COALESCE(sum(s.total_tokens), 0), COALESCE(sum(s.spend), 0) {FROM} WHERE {where} "
        "GROUP BY 1 ORDER BY 2 DESC, 1"
    )
    return sql, params


def _psql(docker: DockerExec, service: str, env: dict[str, str], sql: str, params: dict[str, str]) -> list[list[str]]:
    args = [
        "-X",
        "-At",
        "-F",
        "\t",
        "-v",
        "ON_ERROR_STOP=1",
        *(a for k, v in params.items() for a in ("-v", f"{k}={v}")),
    ]
    # psql substitutes variables in a script, not in `-c`: the query reaches it on its stdin
    shell = ["sh", "-c", 'printf "%s\n" "$GWOPS_SQL" | psql "$@" -f -', "sh", *args]
    code, out = docker.exec(service, shell, env={**env, "GWOPS_SQL": sql})
    if code != 0:
        raise OpsError(
            f"reading the spend logs failed: {out.strip()[-300:]}",
            hint="`bin/ops status`: is Postgres running, and the database on?",
        )
    return [line.split("\t") for line in out.splitlines() if line]


def _row(parts: list[str]) -> dict[str, Any] | None:
    if len(parts) != len(FIELDS):
        return None
    row: dict[str, Any] = dict(zip(FIELDS, parts, strict=True))
    # the request ID is LiteLLM's call ID (the proxy sets it); its own ID is the response's
    row["response_id"], row["id"] = row["id"], row["call_id"] or row["id"]
    row["tokens"], row["latency_ms"] = int(row["tokens"] or 0), int(row["latency_ms"] or 0)
    row["ttft_ms"] = None if row["ttft_ms"] in ("", "-1") else int(row["ttft_ms"])
    row["spend"] = float(row["spend"] or 0)
    return row


def read(
    docker: DockerExec, service: str, env: dict[str, str], f: Filters, limit: int, ascending: bool = False
) -> list[dict[str, Any]]:
    sql, params = rows_query(f, limit, ascending)
    return [r for r in (_row(p) for p in _psql(docker, service, env, sql, params)) if r is not None]


def summary(docker: DockerExec, service: str, env: dict[str, str], f: Filters) -> list[dict[str, Any]]:
    sql, params = summary_query(f)
    out = []
    for p in _psql(docker, service, env, sql, params):
        if len(p) != len(SUMMARY_FIELDS) - 1:
            continue
        route, n, failed, p50, p95, p99, tokens, spend = p
        out.append(
            {
                "route": route,
                "requests": int(n),
                "failed": int(failed),
                "error_rate": round(int(failed) / int(n), 4) if int(n) else 0.0,
                "p50_ms": float(p50 or 0),
                "p95_ms": float(p95 or 0),
                "p99_ms": float(p99 or 0),
                "tokens": int(tokens),
                "spend": float(spend),
            }
        )
    return out


def key_names(docker: DockerExec, service: str, env: dict[str, str]) -> dict[str, str]:
    """The aliases of the virtual keys by the hash digits the proxy logs."""
    sql = (
        f'SELECT left(token, {access_log.KEY_DIGITS}), key_alias FROM "LiteLLM_VerificationToken" '
        "WHERE key_alias IS NOT NULL AND key_alias <> ''"
    )
    return {p[0]: p[1] for p in _psql(docker, service, env, sql, {}) if len(p) == 2}


@dataclass
class RequestLog:
    """Both sources of `bin/ops requests`. `proxy_lines(since, follow)` reads the proxy's log
    (its lines from a Unix time on); `db` is (docker, service, env) for psql, None with the
    database off; `gateway_lines(since)` reads the gateway replicas' logs (for one request's
    lines: LiteLLM names a failed call's ID in its error lines)."""

    proxy_lines: Callable[[float, bool], Iterator[str]]
    keys: dict[str, str]
    db: tuple[DockerExec, str, dict[str, str]] | None = None
    gateway_lines: Callable[[float], Iterator[str]] | None = None

    @staticmethod
    def proxy_only(status: str | None) -> bool:
        """A filter only the proxy's log can answer: an HTTP status class or code."""
        return status not in (None, "ok", "failed")

    def _proxy(self, f: Filters, since: dt.datetime | None = None) -> list[dict[str, Any]]:
        start = (since or f.since).replace(tzinfo=dt.UTC).timestamp()
        lf = access_log.LogFilters(since or f.since, f.route, f.key, f.request_id, f.status)
        return access_log.rows(self.proxy_lines(start, False), self.keys, lf)

    def read(self, f: Filters, limit: int) -> list[dict[str, Any]]:
        """Newest first, at most `limit`; one request (`--id`) with what the gateway logged of it."""
        rows = self._read(f, limit)
        if f.request_id and self.gateway_lines is not None:
            start = min((dt.datetime.fromisoformat(r["time"]) for r in rows), default=f.since)
            said = logview.mentioning(self.gateway_lines(start.replace(tzinfo=dt.UTC).timestamp() - 60), f.request_id)
            for r in rows:
                r["gateway_log"] = said
                if r.get("retries") is None:  # a failure's response has no retries header: its log line does
                    r["retries"] = next((int(m[1]) for m in map(RETRIED.search, said) if m), None)
        return rows

    def _read(self, f: Filters, limit: int) -> list[dict[str, Any]]:
        if self.db is None or self.proxy_only(f.status):
            return list(reversed(self._proxy(f)))[:limit]
        docker, service, env = self.db
        found = read(docker, service, env, f, limit)
        # the proxy accepts a request a little before LiteLLM starts it
        oldest = min((dt.datetime.fromisoformat(r["time"]) - dt.timedelta(minutes=1) for r in found), default=None)
        proxied = self._proxy(replace(f, key=None, route=None, status=None), oldest) if found or f.request_id else []
        rows = access_log.enrich(found, proxied)
        if f.request_id and not rows:  # never reached LiteLLM (refused at the door, or no replica)
            rows = [r for r in reversed(proxied) if r["id"] == f.request_id][:limit]
        return rows

    def summary(self, f: Filters) -> list[dict[str, Any]]:
        if self.db is None or self.proxy_only(f.status):
            return access_log.summary(self._proxy(f))
        docker, service, env = self.db
        return summary(docker, service, env, f)

    def follow(self, f: Filters) -> Iterator[dict[str, Any]]:
        """New requests as the proxy logs them (every request, at once: the spend logs are
        written in batches)."""
        lf = access_log.LogFilters(f.since, f.route, f.key, f.request_id, f.status)
        start = f.since.replace(tzinfo=dt.UTC).timestamp()
        for line in self.proxy_lines(start, True):
            row = access_log.parse(line, self.keys)
            if row is not None and access_log.matches(row, lf):
                yield row
