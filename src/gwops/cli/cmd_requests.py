"""`requests`: every request, one row each or per route, history or live (gwops.requests_log)."""

from __future__ import annotations

import json
import re
from typing import Any

import click

from gwops import constants as C
from gwops.cli.app import App
from gwops.cli.cmd_keys import JSON, table

pass_app = click.make_pass_decorator(App)
# a spend-log row with the proxy's view of it (its HTTP status, retries, fallbacks, latency split)
ROW_FIELDS = (
    "time",
    "id",
    "key",
    "route",
    "deployment",
    "status",
    "http_status",
    "retries",
    "fallbacks",
    "tokens",
    "latency_ms",
    "proxy_ms",
    "overhead_ms",
    "provider_ms",
    "spend",
)
PROXY_ROW_FIELDS = (
    "time",
    "id",
    "key",
    "route",
    "deployment",
    "http_status",
    "retries",
    "fallbacks",
    "proxy_ms",
    "overhead_ms",
    "provider_ms",
    "latency_ms",
    "replica",
)
STATUS = re.compile(r"ok|failed|[1-5]xx|[1-5][0-9][0-9]")


def _status(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not STATUS.fullmatch(value):
        raise click.BadParameter(f"{value!r}: write ok, failed, a class (4xx, 5xx) or a code (429)")
    return value


@click.command()
@click.option("-f", "--follow", is_flag=True, help="Print new requests as the proxy logs them (Ctrl-C stops).")
@click.option("--since", help="A duration back from now (30m, 24h, 7d) or a date. Default: 1h; with -f, from now on.")
@click.option("--route", help="Only this route (the model name clients ask for).")
@click.option("--status", callback=_status, help="ok, failed, a class (4xx, 5xx) or an HTTP code (429).")
@click.option("--key", help="Only this key's requests (its alias, or `(master key)`).")
@click.option("--id", "request_id", help="One request: its X-Request-ID (LiteLLM's call ID).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1), help="Newest rows shown.")
@click.option("--summary", is_flag=True, help="Per route: requests, failures, p50/p95/p99, tokens, spend.")
@JSON
@pass_app
def requests(
    app: App,
    follow: bool,
    since: str | None,
    route: str | None,
    status: str | None,
    key: str | None,
    request_id: str | None,
    limit: int,
    summary: bool,
    as_json: bool,
) -> int:
    """Every request, newest first: from LiteLLM's spend logs (the database on: key, team,
    deployment, tokens, spend) joined with the front proxy's log of the same request ID (HTTP
    status, time at the proxy, the gateway's overhead, the provider's time, retries, fallbacks,
    replica); from the proxy's log alone with the database off, or for an HTTP status filter.

    LiteLLM writes spend logs in batches (a request shows up within about ten seconds); the
    proxy logs each request as it ends."""
    from gwops.admin import parse_since

    if follow and summary:
        raise click.UsageError("--follow and --summary go apart")
    since = since or ("0m" if follow else "1h")
    since_at = parse_since(since)
    assert since_at is not None
    log, f = open_request_log(app, since_at, route, key, request_id, status)
    if summary:
        rows = log.summary(f)
        if as_json:
            app.json({"since": since, "routes": rows})
        else:
            from gwops import requests_log

            table(app, f"requests per route since {since}", rows, requests_log.SUMMARY_FIELDS)
        return C.EXIT_OK
    if not follow:
        rows = log.read(f, limit)
        if as_json:
            app.json({"since": since, "requests": rows})
        else:
            fields = ROW_FIELDS if rows and "tokens" in rows[0] else PROXY_ROW_FIELDS
            table(app, f"requests since {since} (newest first, at most {limit})", rows, fields)
        return C.EXIT_OK
    try:
        for r in log.follow(f):
            _line(app, r, as_json)
    except KeyboardInterrupt:
        pass
    return C.EXIT_OK


def open_request_log(
    app: App, since_at: Any, route: str | None, key: str | None, request_id: str | None, status: str | None
):  # type: ignore[no-untyped-def]
    """This checkout's request log (the proxy's log, the spend logs with the database on) and
    the filters (`requests`, and `top`'s last failures)."""
    from gwops import access_log, envfile, logview, proxy
    from gwops import requests_log as rl
    from gwops.components import postgres
    from gwops.errors import OpsError
    from gwops.stack import Stack

    stack = Stack(app.project, app.say)
    env = envfile.read(app.project.env_file)
    keys = {access_log.key_hash(env["LITELLM_MASTER_KEY"]): access_log.MASTER} if env.get("LITELLM_MASTER_KEY") else {}
    db = None
    if stack.settings.database.enabled:
        db = (stack.docker.serving(postgres.SERVICE), postgres.SERVICE, postgres.client_env(env))
        keys.update(rl.key_names(*db))
    docker = stack.docker.serving(proxy.SERVICE)
    container = docker.container(proxy.SERVICE)

    def lines(start: float, follow: bool):  # type: ignore[no-untyped-def]
        if container is None:
            raise OpsError("the proxy is not running: its log is where requests are found", hint="`bin/ops up`")
        return (text for _stamp, text in docker.log_lines(container, start, follow))

    def gateway_lines(start: float):  # type: ignore[no-untyped-def]
        return logview.service_lines(stack.docker, "gateway-", start)

    return rl.RequestLog(lines, keys, db, gateway_lines), rl.Filters(since_at, route, key, request_id, status)


def _line(app: App, r: dict, as_json: bool) -> None:
    if as_json:
        app.out.file.write(json.dumps(r) + "\n")
    else:
        split = " ".join(
            f"{name} {r[k]} ms"
            for name, k in (("proxy", "proxy_ms"), ("gateway", "overhead_ms"), ("provider", "provider_ms"))
            if r.get(k) is not None
        )
        app.out.print(
            f"{r['time']} {r['id']} {r['key'] or '-'} {r['route'] or r.get('path', '')} -> {r['deployment'] or '-'} "
            f"HTTP {r['http_status']} retries {r['retries'] or 0} fallbacks {r['fallbacks'] or 0} "
            f"{r['latency_ms']} ms ({split}) {r['slot']}/{r['replica']}",
            markup=False,
        )
    app.out.file.flush()


COMMANDS = [requests]
