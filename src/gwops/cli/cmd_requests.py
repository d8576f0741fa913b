"""`requests`: the requests LiteLLM recorded, one row each or per route, history or live."""

from __future__ import annotations

import json
import time

import click

from gwops import constants as C
from gwops.cli.app import App
from gwops.cli.cmd_keys import JSON, table

pass_app = click.make_pass_decorator(App)
ROW_FIELDS = ("time", "id", "key", "team", "route", "deployment", "status", "tokens", "latency_ms", "ttft_ms", "spend")


@click.command()
@click.option("-f", "--follow", is_flag=True, help="Print new requests as LiteLLM records them (Ctrl-C stops).")
@click.option("--since", default="1h", show_default=True, help="A duration back from now (30m, 24h, 7d) or a date.")
@click.option("--route", help="Only this route (the model name clients ask for).")
@click.option("--status", type=click.Choice(["ok", "failed"]), help="Only answered, or only failed, requests.")
@click.option("--key", help="Only this key's requests (its alias).")
@click.option("--id", "request_id", help="One request: LiteLLM's request ID or its call ID.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1), help="Newest rows shown.")
@click.option("--summary", is_flag=True, help="Per route: requests, failures, p50/p95/p99, tokens, spend.")
@JSON
@pass_app
def requests(
    app: App,
    follow: bool,
    since: str,
    route: str | None,
    status: str | None,
    key: str | None,
    request_id: str | None,
    limit: int,
    summary: bool,
    as_json: bool,
) -> int:
    """The requests LiteLLM recorded (its spend logs: the database must be on), newest first.

    Each: time, ID, key and team, route, the deployment that answered, status, tokens, latency,
    time to first token, spend. LiteLLM writes them in batches: a request shows up within about
    ten seconds."""
    from gwops import envfile
    from gwops import requests_log as log
    from gwops.admin import parse_since
    from gwops.components import postgres
    from gwops.errors import UsageError
    from gwops.stack import Stack

    if follow and summary:
        raise click.UsageError("--follow and --summary go apart")
    stack = Stack(app.project, app.say)
    if not stack.settings.database.enabled:
        raise UsageError(
            "LiteLLM's database features are off (`database.enabled: false`): no request is recorded",
            hint="turn them on in config/stack.yaml (`database.enabled: true`), then `bin/ops up`",
        )
    since_at = parse_since(since)
    assert since_at is not None
    f = log.Filters(since_at, route, key, request_id, status)
    docker = stack.docker.serving(postgres.SERVICE)
    env = postgres.client_env(envfile.read(app.project.env_file))
    if summary:
        rows = log.summary(docker, postgres.SERVICE, env, f)
        if as_json:
            app.json({"since": since, "routes": rows})
        else:
            table(app, f"requests per route since {since}", rows, log.SUMMARY_FIELDS)
        return C.EXIT_OK
    rows = log.read(docker, postgres.SERVICE, env, f, limit)
    if not follow:
        if as_json:
            app.json({"since": since, "requests": rows})
        else:
            table(app, f"requests since {since} (newest first, at most {limit})", rows, ROW_FIELDS)
        return C.EXIT_OK
    seen = {r["id"] for r in rows}
    last = max((r["time"] for r in rows), default=since_at.isoformat())
    for r in reversed(rows):
        _line(app, r, as_json)
    try:
        while True:
            time.sleep(1)  # following a log: a new row every second at most
            start = log.Filters(parse_since(last[:26]) or since_at, route, key, request_id, status)
            for r in log.read(docker, postgres.SERVICE, env, start, 1000, ascending=True):
                if r["id"] not in seen:
                    seen.add(r["id"])
                    last = max(last, r["time"])
                    _line(app, r, as_json)
    except KeyboardInterrupt:
        return C.EXIT_OK


def _line(app: App, r: dict, as_json: bool) -> None:
    if as_json:
        app.out.file.write(json.dumps(r) + "\n")
    else:
        ttft = f" ttft {r['ttft_ms']} ms" if r["ttft_ms"] is not None else ""
        app.out.print(
            f"{r['time']} {r['id']} {r['key'] or '-'} {r['route']} -> {r['deployment']} {r['status']} "
            f"{r['tokens']} tok {r['latency_ms']} ms{ttft} ${r['spend']:.6f}",
            markup=False,
        )
    app.out.file.flush()


COMMANDS = [requests]
