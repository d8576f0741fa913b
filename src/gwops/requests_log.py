"""`bin/ops requests`: the requests LiteLLM recorded, one row each (its spend logs, with the
database on): when, its ID and LiteLLM's call ID, the key and team, the route and the deployment
that answered, its status, tokens, latency and time to first token, and its spend; or per route
(`summary`): count, failures, p50/p95/p99, tokens, spend. Filters go to psql as variables
(`:'name'`), never into the SQL text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from gwops.errors import OpsError


class DockerExec(Protocol):
    def exec(self, service: str, cmd: list[str], env: dict[str, str] | None = None) -> tuple[int, str]: ...


@dataclass(frozen=True)
class Filters:
    since: dt.datetime
    route: str | None = None
    key: str | None = None  # a key alias
    request_id: str | None = None  # LiteLLM's request ID or its call ID
    status: str | None = None  # ok | failed


ROUTE = "COALESCE(NULLIF(s.model_group, ''), s.model)"
# the key's alias; else the master key, or the start of its hash (never a key)
KEY = (
    "COALESCE(k.key_alias, CASE WHEN s.api_key = 'litellm_proxy_master_key' THEN '(master key)' "
    "ELSE 'hash:' || left(NULLIF(s.api_key, ''), 10) END, '')"
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
