"""`upgrade`: the gateway to another LiteLLM release under load, with its migrations and a way back."""

from __future__ import annotations

import dataclasses
import os

import click

from gwops import constants as C
from gwops.cli.app import App
from gwops.cli.cmd_stack import print_degraded

pass_app = click.make_pass_decorator(App)


@click.command()
@click.option("--to", "to", metavar="VERSION", help="The LiteLLM release (default: what config/stack.yaml pins).")
@click.option(
    "--dry-run", is_flag=True, help="Show the plan (versions, image, lock changes, migrations); change nothing."
)
@click.option("--rollback", is_flag=True, help="Return to the version before the last upgrade, the same way.")
@click.option("--downgrade", is_flag=True, help="Allow a release older than the running one (the schema is checked).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan or the report as JSON.")
@pass_app
def upgrade(app: App, to: str | None, dry_run: bool, rollback: bool, downgrade: bool, as_json: bool) -> int:
    """Move the gateway to LiteLLM VERSION: image, verified backup, migrations, new slot, switch.

    Zero failed requests; a failing step leaves the running version serving (exit 4, naming the
    step). On success the pin is written into config/stack.yaml, comments kept."""
    from gwops.stack import Stack
    from gwops.upgrade import Upgrader

    if rollback and to:
        raise click.UsageError("--rollback goes without --to")
    stack = Stack(app.project, app.say)
    with stack.lock("upgrade the gateway"):
        up = Upgrader(stack)
        plan = up.plan(to, downgrade=downgrade, rollback=rollback)
        if not as_json:
            _print_plan(app, plan)
        if dry_run:
            if as_json:
                app.json(dataclasses.asdict(plan))
            app.say("dry run: nothing changed")
            return C.EXIT_OK
        os.nice(C.RELOAD_NICENESS)  # like a reload: its own work yields to the serving gateway
        report = up.run(plan)
    if as_json:
        app.json(dataclasses.asdict(report))
        return C.EXIT_OK
    split = ", ".join(f"{k} {v:.1f} s" for k, v in report.steps.items())
    app.say(
        f"LiteLLM {plan.target} is serving (slot `{report.slot}`), was {plan.running}: {split}"
        + (f"; backup `{report.backup}`" if report.backup else "")
    )
    app.say(f'config/stack.yaml now pins `images.litellm_version: "{plan.target}"`')
    print_degraded(app, report.degraded)
    return C.EXIT_OK


def _print_plan(app: App, plan) -> None:
    out = app.out
    out.print(
        f"LiteLLM: {plan.running} running, {plan.pinned} pinned -> {plan.target}"
        + (" (a downgrade)" if plan.downgrade else ""),
        markup=False,
    )
    how = {"present": "on this host", "pull": "to pull", "build": "to build offline from its lock"}[plan.image_how]
    out.print(f"image: {plan.image} ({how})", markup=False)
    if plan.lock:
        out.print(
            f"lock: {plan.lock}" + (f", {len(plan.lock_changes)} changes:" if plan.lock_changes else ""), markup=False
        )
        for line in plan.lock_changes:
            out.print(f"  {line}", markup=False)
    if plan.pending is None and plan.image_how == "pull":
        out.print("migrations: known once the image is pulled (the run checks them before applying any)", markup=False)
    elif plan.pending is None:
        out.print("migrations: none (the database features are off)", markup=False)
    elif plan.downgrade:
        out.print("migrations: none run by a downgrade; the newer ones stay", markup=False)
    else:
        out.print(f"migrations: {len(plan.pending)} to apply" + (":" if plan.pending else ""), markup=False)
        for name in plan.pending:
            out.print(f"  {name}", markup=False)
    if plan.breaking:
        out.print("schema: the older version may not run after these (a failure restores the backup):", markup=False)
        for name, stmts in plan.breaking.items():
            out.print(f"  {name}: {stmts[0]}", markup=False)
    elif plan.pending:
        out.print("schema: every migration only adds; the older version runs on the migrated schema", markup=False)
    out.print(f"release notes: {plan.notes_url}", markup=False)


COMMANDS = [upgrade]
