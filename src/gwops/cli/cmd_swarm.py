"""`swarm deploy`, `swarm status`, `swarm rm`: the same stack on Docker Swarm (gwops.swarm)."""

from __future__ import annotations

import click
from rich.table import Table

from gwops import constants as C
from gwops.cli.app import App, confirmer

pass_app = click.make_pass_decorator(App)


@click.group()
def swarm() -> None:
    """The stack on Docker Swarm: gateway replicas over the nodes, rolling updates, Docker secrets."""


@swarm.command("deploy")
@pass_app
def deploy(app: App) -> int:
    """Render the stack file from config/ and deploy it (`docker stack deploy`); a changed config
    rolls out one gateway task at a time, and Swarm rolls it back if a new task fails (exit 4)."""
    from gwops.swarm.deploy import SwarmStack

    out = SwarmStack(app.project, app.say).deploy()
    what = "rolled out" if out.updated else "running"
    app.err.print(
        f"swarm stack is up in {out.seconds:.1f} s: gateway config {out.version} {what}, on port "
        f"{out.url.rsplit(':', 1)[-1]} of each node that runs the proxy",
        markup=False,
    )
    return C.EXIT_OK


@swarm.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def status(app: App, as_json: bool) -> int:
    """Each service of the swarm stack: tasks running/desired, its last update, config version.
    Exit 0 healthy, 1 degraded, 2 not deployed."""
    from gwops.swarm.deploy import SwarmStack

    st = SwarmStack(app.project, app.say).status()
    code = {"healthy": C.EXIT_OK, "degraded": C.EXIT_DEGRADED}.get(st["overall"], C.EXIT_INVALID)
    if as_json:
        app.json(st)
        return code
    table = Table(title=f"swarm stack {st['stack']}: {st['overall']}")
    for col in ("service", "tasks", "update", "config", "image"):
        table.add_column(col)
    for r in st["services"]:
        table.add_row(r["service"], f"{r['running']}/{r['desired']}", r["update"], r["config_version"], r["image"])
    app.out.print(table)
    return code


@swarm.command("rm")
@click.option("--volumes", is_flag=True, help="Also delete the data volumes on this node (a backup is taken first).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--no-backup", is_flag=True, help="With --volumes: delete them without taking a backup first.")
@pass_app
def rm(app: App, volumes: bool, yes: bool, no_backup: bool) -> int:
    """Remove the swarm stack; keep the data volumes unless --volumes."""
    from gwops.swarm.deploy import SwarmStack

    taken = SwarmStack(app.project, app.say).rm(volumes, confirmer(yes), backup=not no_backup)
    if taken:
        app.say(f"backup `{taken}` was taken first (restore it into a Compose stack with `bin/ops restore {taken}`)")
    app.say("swarm stack removed" + (" and its volumes deleted" if volumes else " (volumes kept)"))
    return C.EXIT_OK


COMMANDS = [swarm]
