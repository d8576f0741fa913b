"""`backup`, `backups [verify|prune]`, `restore`, `cron install|remove|show`."""

from __future__ import annotations

import click
from rich.table import Table

from gwops import constants as C
from gwops.cli.app import App

pass_app = click.make_pass_decorator(App)


def _stack(app: App):
    from gwops.stack import Stack

    return Stack(app.project, app.say)


@click.command()
@click.option("--no-verify", is_flag=True, help="Skip the restore test (the backup stays unverified).")
@pass_app
def backup(app: App, no_verify: bool) -> int:
    """Dump the database, publish it atomically, and prove it restorable."""
    res = _stack(app).backups().backup(verify=False if no_verify else None)
    m = res.manifest
    app.say(f"backup `{m.id}` {m.verification['status']} ({m.verification.get('detail', '')}) in {res.path}")
    for bid in res.pruned:
        app.say(f"pruned `{bid}` (retention)")
    app.out.print(m.id, markup=False)
    return C.EXIT_OK


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def backups(ctx: click.Context, as_json: bool) -> int | None:
    """List backups: time, size, verified, and the retention rule that keeps each."""
    if ctx.invoked_subcommand:
        return None
    app: App = ctx.obj
    rows = _stack(app).backups().listing()
    if as_json:
        app.json(rows)
        return C.EXIT_OK
    t = Table()
    for col in ("id", "created", "size", "rows", "verified", "kept by"):
        t.add_column(col)
    for r in rows:
        kept = ", ".join(r["kept_by"]) or ("pruned next" if r["pruned_next"] else "-")
        t.add_row(r["id"], r["created_at"], f"{r['size'] / 1e6:.1f} MB", str(r["rows"]), str(r["verified"]), kept)
    app.out.print(t)
    return C.EXIT_OK


@backups.command("verify")
@click.argument("backup_id", required=False)
@pass_app
def verify_cmd(app: App, backup_id: str | None) -> int:
    """Re-check a backup (default: the newest): checksums and a restore."""
    m = _stack(app).backups().verify(backup_id)
    app.out.print(f"{m.id}: {m.verification['status']} - {m.verification.get('detail', '')}", markup=False)
    return C.EXIT_OK if m.verified else C.EXIT_DEGRADED


@backups.command("prune")
@click.option("--dry-run", is_flag=True, help="Only show what would be deleted.")
@pass_app
def prune_cmd(app: App, dry_run: bool) -> int:
    """Apply retention (verified backups only count; the newest verified is never deleted)."""
    gone = _stack(app).backups().prune(dry_run)
    for bid in gone:
        app.out.print(f"{'would delete' if dry_run else 'deleted'} {bid}", markup=False)
    if not gone:
        app.say("nothing to prune")
    return C.EXIT_OK


@click.command()
@click.argument("backup_id", required=False, default="latest")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def restore(app: App, backup_id: str, yes: bool) -> int:
    """Restore BACKUP_ID (default: latest verified); the current database is backed up and kept."""
    from gwops.backup.restore import restore as do_restore
    from gwops.components import gateway
    from gwops.errors import AbortedError

    stack = _stack(app)
    chosen = stack.backups().find(backup_id)
    if not yes and not (
        click.get_text_stream("stdin").isatty()
        and click.confirm(f"restore backup `{chosen.id}` ({chosen.created_at}) over the current database?", err=True)
    ):
        raise AbortedError("nothing was restored", hint="add `--yes` to confirm without a prompt")
    res = do_restore(stack.backups(), chosen.id, lambda: gateway.stop(stack), lambda: gateway.start(stack), app.say)
    app.say(
        f"restored `{res.restored}`; the previous database is kept as `{res.kept_as}` "
        f"(drop it when satisfied) and was backed up as `{res.safety_backup}`"
    )
    return C.EXIT_OK


@click.group()
def cron() -> None:
    """The scheduled entries in the host crontab: the backup, the spend-log purge (with the database
    on), and the probe when it has a schedule."""


def _sched(app: App):
    """The schedule module, the Compose project name and each job's schedule (None: not scheduled)."""
    from gwops import schedule
    from gwops.projectname import resolve
    from gwops.settings import load_settings

    settings = load_settings(app.project.stack_file)
    return (
        schedule,
        resolve(app.project, settings),
        {
            "backup": settings.backups.schedule,
            "probe": settings.probe.schedule,
            "purge": settings.database.purge_schedule
            if settings.database.enabled and settings.database.retention_days
            else None,
        },
    )


@cron.command("install")
@pass_app
def cron_install(app: App) -> int:
    """Install (or update) the entries with the schedules from config/stack.yaml."""
    schedule, name, jobs = _sched(app)
    for job, when in jobs.items():
        if when:
            app.out.print(schedule.install(app.project, name, when, job), markup=False)
        elif schedule.remove(app.project, name, job):
            setting = {"backup": "backups.schedule", "purge": "database.purge_schedule"}.get(job, f"{job}.schedule")
            app.say(f"removed the {job} entry (no `{setting}` in config/stack.yaml)")
    return C.EXIT_OK


@cron.command("remove")
@pass_app
def cron_remove(app: App) -> int:
    """Remove the entries (nothing else in the crontab is touched)."""
    schedule, name, jobs = _sched(app)
    n = sum(schedule.remove(app.project, name, job) for job in jobs)
    app.say(f"removed {n} entr{'y' if n == 1 else 'ies'}")
    return C.EXIT_OK


@cron.command("show")
@pass_app
def cron_show(app: App) -> int:
    """Print the entries; exit 1 if the backup entry is missing."""
    schedule, name, jobs = _sched(app)
    code = C.EXIT_OK
    for job in jobs:
        line = schedule.show(app.project, name, job)
        if line is not None:
            app.out.print(line, markup=False)
        elif job == "backup":
            app.say("no backup entry is installed (`bin/ops cron install`)")
            code = C.EXIT_DEGRADED
    return code


COMMANDS = [backup, backups, restore, cron]
