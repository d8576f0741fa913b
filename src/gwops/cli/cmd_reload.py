"""`reload`: apply a new gateway config with zero failed requests, or roll back by itself."""

from __future__ import annotations

import dataclasses
import os

import click

from gwops import constants as C
from gwops.cli.app import App
from gwops.cli.cmd_stack import print_degraded

pass_app = click.make_pass_decorator(App)


@click.command()
@click.option("--dry-run", is_flag=True, help="Validate and show the diff; change nothing.")
@click.option("--rollback", is_flag=True, help="Switch back to the previous live config version.")
@click.option("--force", is_flag=True, help="Plain restart of the active gateway (requests fail meanwhile).")
@click.option("--quiet-diff", is_flag=True, help="Do not print the diff.")
@click.option("--json", "as_json", is_flag=True, help="Print the report (versions, slots, timings, diff) as JSON.")
@pass_app
def reload(app: App, dry_run: bool, rollback: bool, force: bool, quiet_diff: bool, as_json: bool) -> int:
    """Start the new config beside the old, gate it, switch the proxy, drain the old."""
    from gwops.reload import Reloader
    from gwops.stack import Stack

    if rollback and (dry_run or force):
        raise click.UsageError("--rollback goes alone")
    # the reload's own work (and the docker CLI calls it makes) yields to the serving gateway
    os.nice(C.RELOAD_NICENESS)
    stack = Stack(app.project, app.say)
    with stack.lock("reload the gateway"):
        r = Reloader(stack)
        report = r.rollback() if rollback else r.reload(dry_run=dry_run, force=force)
    if as_json:
        app.json(dataclasses.asdict(report))
    elif report.diff and not quiet_diff:
        app.out.file.write(report.diff)
    if report.dry_run:
        app.say("dry run: nothing changed" + ("" if report.diff else " (the config is unchanged)"))
    elif report.unchanged:
        app.say(f"config {report.to_version} is already live: nothing to do")
    else:
        how = "plain restart" if report.forced else f"slot `{report.from_slot}` -> `{report.to_slot}`"
        app.say(
            f"config {report.to_version} is live ({how}) in {report.seconds:.1f} s: new gateway ready in "
            f"{report.start_seconds:.1f} s, old one drained in {report.drain_seconds:.1f} s"
            + (f" and scraped once more in {report.last_look_seconds:.1f} s" if report.last_look_seconds >= 0.5 else "")
        )
        print_degraded(app, report.degraded)
    return C.EXIT_OK


COMMANDS = [reload]
