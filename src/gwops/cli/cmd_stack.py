"""`up`, `down`, `status`, `logs`, `env`: the stack's lifecycle."""

from __future__ import annotations

import json

import click
from rich.table import Table

from gwops import constants as C
from gwops.cli.app import App, confirmer

pass_app = click.make_pass_decorator(App)


@click.command()
@click.option("--skip-route-checks", is_flag=True, help="Do not send a test chat completion through each model route.")
@pass_app
def up(app: App, skip_route_checks: bool) -> int:
    """Bring the stack up in dependency order, each service gated on real health."""
    from gwops import up as stack_up
    from gwops.stack import Stack

    report = stack_up.run(Stack(app.project, app.say), route_checks=not skip_route_checks)
    if report.reloaded:
        app.say("the new config went live with a zero-downtime reload")
    app.err.print(
        f"stack is up in {report.seconds:.1f} s: gateway on {report.url} (routes: {', '.join(report.routes)})",
        markup=False,
    )
    if report.database:
        app.err.print(
            "keys, teams, budgets and spend are on: `bin/ops keys create --alias NAME` makes a key", markup=False
        )
    else:
        app.err.print(
            "note: keys and spend tracking are off (`database.enabled: false` in config/stack.yaml)", markup=False
        )
    print_degraded(app, report.degraded)
    if report.problems:
        # the gateway serves; what watches it does not: exit 1 (degraded), as `status` would
        app.err.print(
            f"degraded: {len(report.problems)} component(s) that are not core failed (see the "
            "warnings above); the gateway serves; `bin/ops status` shows them",
            markup=False,
        )
        return C.EXIT_DEGRADED
    return C.EXIT_OK


def print_degraded(app: App, degraded: dict[str, str]) -> None:
    """Optional routes whose check failed: the stack serves the others."""
    for route, why in sorted(degraded.items()):
        app.err.print(
            f"degraded route `{route}`: its provider did not answer ({why[:160]}); the other routes "
            f"serve. `bin/ops providers` checks the providers",
            markup=False,
        )


@click.command()
@click.option("--volumes", is_flag=True, help="Also delete the data volumes (Postgres, Redis).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--no-backup", is_flag=True, help="With --volumes: delete them without taking a backup first.")
@pass_app
def down(app: App, volumes: bool, yes: bool, no_backup: bool) -> int:
    """Stop the stack; keep the data volumes unless --volumes (a backup is taken first)."""
    from gwops.stack import Stack

    taken = Stack(app.project, app.say).down(volumes, confirmer(yes), backup=not no_backup)
    if taken:
        app.say(f"backup `{taken}` was taken first (restore with `bin/ops restore {taken}`)")
    app.say("stack is down" + (" and its volumes deleted" if volumes else " (volumes kept)"))
    return C.EXIT_OK


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def status(app: App, as_json: bool) -> int:
    """One row per service, the gateway's routes. Exit 0 healthy, 1 degraded, 2 down."""
    from gwops import status as stack_status
    from gwops.stack import Stack

    st = stack_status.collect(Stack(app.project, app.say))
    code = {"healthy": C.EXIT_OK, "degraded": C.EXIT_DEGRADED}.get(st["overall"], C.EXIT_INVALID)
    if as_json:
        app.json(st)
        return code
    table = Table(title=f"{st['project']}: {st['overall']}")
    for col in ("service", "state", "health", "replicas", "restarts", "image", "kind", "ports"):
        table.add_column(col)
    for r in st["services"]:
        table.add_row(
            r["service"],
            r["state"],
            r["health"],
            r["replicas"],
            str(r["restarts"]),
            r["image"],
            r["kind"],
            ", ".join(r["ports"]),
        )
    app.out.print(table)
    if st.get("swarm"):
        app.out.print(st["swarm"], markup=False)
    for r in st["services"]:
        if r.get("problem"):
            app.out.print(f"{r['service']}: {r['problem']}\n  next: {r['next']}", markup=False)
    gw = st["gateway"]
    app.out.print(f"gateway: {gw['url']}  routes: {', '.join(gw['routes']) or '-'}", markup=False)
    app.out.print(
        f"config: version {gw['config_version']} in slot `{gw['active_slot']}`, live since {gw['live_since']}"
        + (f"; LiteLLM {gw['litellm_version']}" if gw.get("litellm_version") else ""),
        markup=False,
    )
    if gw.get("database") is False:
        app.out.print(f"database features: off ({gw.get('database_note')})", markup=False)
    elif gw.get("database"):
        app.out.print(
            f"database features: on (keys, teams, budgets, spend; engine: {gw.get('database_engine')})", markup=False
        )
    db = st.get("database")
    if db:
        app.out.print(
            f"database: {db['size_bytes'] / 1e6:.1f} MB, spend-log rows: about {db['spend_rows_estimate']}, "
            f"the oldest {db['oldest_spend_days']} days old (kept {db['retention_days']}), "
            f"{db['dead_tuples']} dead tuples",
            markup=False,
        )
        if db.get("next"):
            app.out.print(f"  next: {db['next']}", markup=False)
    if gw.get("error"):
        app.out.print(f"gateway check: {gw['error']}", markup=False)
    for route, why in sorted((gw.get("degraded_routes") or {}).items()):
        app.out.print(
            f"degraded route `{route}` (checked {gw['routes_checked_at']}): {why[:160]}\n"
            "  next: `bin/ops providers` checks its provider; `bin/ops reload` checks the routes again",
            markup=False,
        )
    if st.get("alerts"):
        firing = [a for a in st["alerts"] if a["state"] == "firing"]
        app.out.print(
            f"alerts: {len(firing)} firing, {len(st['alerts']) - len(firing)} pending "
            f"({', '.join(sorted({a['alert'] for a in st['alerts']}))}; `bin/ops alerts`)",
            markup=False,
        )
    b = st["backups"]
    if b["last_verified_age_seconds"] is None:
        app.out.print(f"backups: {b['note']}", markup=False)
    else:
        hours = b["last_verified_age_seconds"] / 3600
        app.out.print(
            f"backups: last verified {hours:.1f} h ago" + (" - older than the schedule allows" if b["stale"] else ""),
            markup=False,
        )
    return code


@click.command()
@click.argument("service", required=False)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option("--tail", type=int, default=None, help="Only the last N lines of each container.")
@click.option("--since", help="Only lines from this long ago on (30m, 24h) or a date.")
@click.option("--json", "as_json", is_flag=True, help="One JSON record per line, every container's merged by time.")
@pass_app
def logs(app: App, service: str | None, follow: bool, tail: int | None, since: str | None, as_json: bool) -> int:
    """Print the logs of SERVICE (default: all services).

    --json: {time, service, container, fields | message}; a line that is JSON itself (the
    proxy's access log, LiteLLM's logs) comes as `fields`."""
    import datetime as dt

    from gwops import logview
    from gwops.admin import parse_since
    from gwops.docker import Docker
    from gwops.errors import UsageError
    from gwops.projectname import resolve
    from gwops.settings import load_settings

    docker = Docker(app.project, resolve(app.project, load_settings(app.project.stack_file)))
    since_at = parse_since(since)
    if not as_json and since_at is None:
        for chunk in docker.compose_logs(service, follow, tail):
            app.out.file.write(chunk)
            app.out.file.flush()
        return C.EXIT_OK
    start = since_at.replace(tzinfo=dt.UTC).timestamp() if since_at else None
    found = {(svc, c.name): c for svc, cs in docker.all_containers(service).items() for c in cs}
    if service and not found:
        raise UsageError(f"the service `{service}` has no container", hint="`bin/ops status` lists the services")
    if follow:
        records = logview.followed({k: (lambda c=c: Docker.log_lines(c, start, True, tail)) for k, c in found.items()})
    else:
        records = logview.merged({k: Docker.log_lines(c, start, False, tail) for k, c in found.items()})
    try:
        for r in records:
            if as_json:
                app.out.file.write(json.dumps(r) + "\n")
            else:
                text = r.get("message", json.dumps(r.get("fields")))
                app.out.file.write(f"{r['time']} {r['container']} | {text}\n")
            app.out.file.flush()
    except KeyboardInterrupt:
        pass
    return C.EXIT_OK


@click.command("env")
@pass_app
def env_cmd(app: App) -> int:
    """Print the settings plain `docker compose` needs (eval "$(bin/ops env)")."""
    from gwops.projectname import resolve
    from gwops.settings import load_settings

    name = resolve(app.project, load_settings(app.project.stack_file))
    root = app.project.root
    files = ":".join(str(p) for p in app.project.compose_files())
    app.out.file.write(
        f"export COMPOSE_FILE='{files}'\n"
        f"export COMPOSE_PROJECT_NAME='{name}'\n"
        f"# then e.g.: docker compose --project-directory '{root}' ps\n"
    )
    return C.EXIT_OK


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def alerts(app: App, as_json: bool) -> int:
    """The alerts Prometheus has firing or pending. Exit 0 none firing, 1 some firing, 2 no answer."""
    from gwops.components import prometheus
    from gwops.errors import OpsError
    from gwops.stack import Stack

    stack = Stack(app.project, app.say)
    if not stack.settings.monitoring.enabled:
        raise OpsError(
            "monitoring is off (`monitoring.enabled: false` in config/stack.yaml)",
            hint="turn it on and run `bin/ops up`",
        )
    try:
        found = prometheus.alerts(stack)
    except (OSError, ValueError, KeyError) as exc:
        raise OpsError(
            f"Prometheus does not answer on port {stack.settings.monitoring.prometheus_port}: {exc}",
            hint="`bin/ops status` shows whether it runs; `bin/ops up` starts it",
        ) from None
    code = C.EXIT_DEGRADED if any(a["state"] == "firing" for a in found) else C.EXIT_OK
    if as_json:
        app.json({"alerts": found})
        return code
    if not found:
        app.out.print("no alert firing or pending", markup=False)
    for a in found:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(a["labels"].items()))
        app.out.print(
            f"{a['state']:8} {a['alert']} ({a['severity']}) since {a['since']}: {a['summary']}"
            + (f" [{labels}]" if labels else ""),
            markup=False,
        )
    return code


COMMANDS = [up, down, status, logs, env_cmd, alerts]
