"""What every command receives: the project, output consoles, and the error conversion."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

from rich.console import Console

from gwops import constants as C
from gwops.errors import ConfigError, OpsError
from gwops.project import Project

PLAIN_WIDTH = 1000  # not a terminal: no width to fit, so a table never cuts a name


def console(stderr: bool = False) -> Console:
    """A console for stdout (data) or stderr (diagnostics). Written to a terminal it fits its width;
    to a pipe, a file, cron's mail or a CI log it has no colour codes (rich's own check) and
    tables keep every cell whole instead of cutting them at 80 columns."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else PLAIN_WIDTH
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)


class App:
    def __init__(self) -> None:
        self.out = console()  # data: stdout
        self.err = console(stderr=True)  # diagnostics: stderr
        self._project: Project | None = None

    @property
    def project(self) -> Project:
        if self._project is None:
            self._project = Project.find()
        return self._project

    def say(self, message: str) -> None:
        """Progress and notes: diagnostics on stderr, one line each."""
        self.err.print(f"- {message}", markup=False)

    def json(self, data: Any) -> None:
        self.out.file.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")

    def fail(self, exc: OpsError) -> int:
        self.err.print(f"error: {exc.message}", markup=False, style="bold red")
        if exc.details:
            self.err.print(exc.details, markup=False)
        if exc.hint:
            self.err.print(f"next: {exc.hint}", markup=False)
        return exc.exit_code

    def crash(self, exc: BaseException) -> int:
        """An unexpected error is a bug: write the traceback to logs/, print one line."""
        if os.environ.get(C.ENV_DEBUG):
            traceback.print_exc()
            return C.EXIT_INTERNAL
        try:
            logs = self.project.logs_dir
        except OpsError:
            logs = None
        where = "stderr"
        text = "".join(traceback.format_exception(exc))
        if logs is not None:
            try:
                logs.mkdir(parents=True, exist_ok=True)
                path = logs / f"crash-{dt.datetime.now():%Y%m%dT%H%M%S}.log"
                path.write_text(text)
                where = str(path)
            except OSError:
                sys.stderr.write(text)
        self.err.print(f"internal error: {type(exc).__name__}: {exc}", markup=False, style="bold red")
        self.err.print(
            f"next: this is a bug; please report it with the traceback in {where} (or rerun with {C.ENV_DEBUG}=1)",
            markup=False,
        )
        return C.EXIT_INTERNAL


def confirmer(yes: bool) -> Callable[[str], bool]:
    """What a destructive command asks: yes with `--yes`, no without a terminal, else the prompt."""
    import click

    def confirm(question: str) -> bool:
        if yes:
            return True
        if not click.get_text_stream("stdin").isatty():
            return False
        return click.confirm(question, default=False, err=True)

    return confirm


def config_error_json(exc: ConfigError) -> dict[str, Any]:
    return {"valid": False, "problems": [p.as_dict() for p in exc.problems]}
