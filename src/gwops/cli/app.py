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


class App:
    def __init__(self) -> None:
        self.out = Console(highlight=False, soft_wrap=True)  # data: stdout
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)  # diagnostics: stderr
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
