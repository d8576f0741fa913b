"""Scheduled jobs (the backup; the spend-log purge; the capability probe when it has a schedule): one entry each in
the host crontab, managed with python-crontab.

An entry is found by its comment, so install is idempotent and remove touches nothing else.
It runs with an explicit PATH and absolute paths, so cron's minimal environment is enough.
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

from crontab import CronTab

from gwops.errors import PrerequisiteError
from gwops.project import Project

ENV_CRONTAB_FILE = "GWOPS_CRONTAB_FILE"  # a crontab file instead of the user's (tests)
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _tab() -> CronTab:
    path = os.environ.get(ENV_CRONTAB_FILE)
    if path:
        Path(path).touch(exist_ok=True)
        return CronTab(tabfile=path)
    if not shutil.which("crontab"):
        raise PrerequisiteError(
            "the `crontab` command is missing (no cron installed)",
            hint="install it: `sudo apt-get install -y cron` (and start the cron service)",
        )
    return CronTab(user=True)


def interval_seconds(expr: str) -> float:
    """The time between the last two runs of the cron schedule `expr` (what a job's staleness is
    measured against: backups and the purge)."""
    import datetime as dt

    from croniter import croniter

    it = croniter(expr, dt.datetime.now(dt.UTC))
    prev = it.get_prev(dt.datetime)
    return (prev - it.get_prev(dt.datetime)).total_seconds()


JOBS = ("backup", "probe", "purge")  # each runs `bin/ops JOB`


def marker(project_name: str, root: Path, job: str = "backup") -> str:
    return f"gwops-{job}:{project_name}:{root}"


def command(project: Project, job: str = "backup") -> str:
    ops = shlex.quote(str(project.root / "bin" / "ops"))
    log = shlex.quote(str(project.logs_dir / f"{job}-cron.log"))
    return f"mkdir -p {shlex.quote(str(project.logs_dir))} && PATH={PATH} {ops} {job} >> {log} 2>&1"


def show(project: Project, project_name: str, job: str = "backup") -> str | None:
    for entry in _tab().find_comment(marker(project_name, project.root, job)):
        return str(entry.render())
    return None


def install(project: Project, project_name: str, schedule: str, job: str = "backup") -> str:
    tab = _tab()
    tab.remove_all(comment=marker(project_name, project.root, job))
    entry = tab.new(command=command(project, job), comment=marker(project_name, project.root, job))
    entry.setall(schedule)
    tab.write()
    return str(entry.render())


def remove(project: Project, project_name: str, job: str = "backup") -> int:
    tab = _tab()
    n = len(list(tab.find_comment(marker(project_name, project.root, job))))
    tab.remove_all(comment=marker(project_name, project.root, job))
    tab.write()
    return n
