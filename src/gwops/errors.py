"""Every error the core raises. Each says what failed, where, and what to do next.

The CLI converts these into one clear message and the exit code attached to the class, in one
place (`gwops.cli.main`). Anything else is a bug: its traceback goes to logs/.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gwops import constants as C


class OpsError(Exception):
    """Base class: an expected failure with a message meant for the operator."""

    exit_code: int = C.EXIT_DEGRADED

    def __init__(self, message: str, *, hint: str | None = None, details: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, order=True)
class Problem:
    """One finding of the config pipeline, located in a source file."""

    file: str
    line: int
    column: int
    path: str  # key path, e.g. providers.ollama.models[0].name
    message: str
    hint: str = ""
    stage: str = field(default="", compare=False)

    def location(self) -> str:
        return f"{self.file}:{self.line}:{self.column}" if self.line else self.file

    def render(self) -> str:
        where = f" at `{self.path}`" if self.path else ""
        text = f"{self.location()}: {self.message}{where}"
        return f"{text}\n    -> {self.hint}" if self.hint else text

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
            "stage": self.stage,
        }


class ConfigError(OpsError):
    """The configuration is invalid; carries every problem found, not just the first."""

    exit_code = C.EXIT_INVALID

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems)
        n = len(self.problems)
        summary = f"configuration is invalid ({n} problem{'s' if n != 1 else ''})"
        super().__init__(
            summary,
            hint="fix the files named above, then run `bin/ops validate`",
            details="\n".join(p.render() for p in self.problems),
        )


class UsageError(OpsError):
    exit_code = C.EXIT_INVALID


class PrerequisiteError(OpsError):
    exit_code = C.EXIT_PREREQ


class DockerError(OpsError):
    """A docker or compose command failed; carries the command and its output."""

    exit_code = C.EXIT_DOCKER


class HealthError(OpsError):
    """A service did not pass a health gate."""

    exit_code = C.EXIT_HEALTH

    def __init__(self, service: str, check: str, reason: str, logs: str = "", hint: str = ""):
        self.service = service
        self.check = check
        self.reason = reason
        self.logs = logs
        super().__init__(
            f"service `{service}` failed check `{check}`: {reason}",
            hint=hint or f"look at `bin/ops logs {service}`; healthy services were left running",
            details=(f"last log lines of `{service}`:\n{logs}" if logs else None),
        )


class RolloutError(OpsError):
    """A Swarm deploy did not end with every task of the new spec running: rolled back by Swarm,
    paused, or not converged in time."""

    exit_code = C.EXIT_HEALTH


class RolledBack(RolloutError):
    """A new task failed and Swarm rolled its service back: the previous version serves."""


class MigrationError(OpsError):
    """A LiteLLM database migration failed: it was rolled back (its transaction), the migrations
    before it stay applied, and no gateway was started on the half-migrated schema."""

    exit_code = C.EXIT_HEALTH

    def __init__(self, migration: str, statement: str, reason: str, line: int = 0):
        self.migration = migration
        self.statement = statement
        where = f" (migration.sql line {line}: `{statement}`)" if statement else ""
        super().__init__(
            f"migration `{migration}` failed{where}: {reason}",
            hint="nothing of this migration was kept and no gateway was started on it; fix the database "
            "(or restore a backup: `bin/ops restore`) and run `bin/ops up` again, which resumes here",
        )


PG_AUTH_FAILED = "password authentication failed"  # what Postgres answers a wrong password


class PostgresAuthError(HealthError):
    """Postgres refuses the stack's own user with the password in `.env`: its data volume was
    initialised with another password (Postgres sets it only when it creates the data directory)."""

    def __init__(self, answer: str, user: str, database: str, logs: str = ""):
        super().__init__(
            "postgres",
            "login over TCP with the password in `.env`",
            answer,
            logs=logs,
            hint=(
                "either put back in `.env` the `POSTGRES_PASSWORD` the volume was created with, then "
                "`bin/ops up`; or keep the new one and set it in the database (it asks for the new "
                f"password: paste `POSTGRES_PASSWORD` from `.env`): `docker compose exec postgres psql -U {user} "
                f"-d {database} -c '\\password {user}'`, then `bin/ops up`; or start empty, deleting the "
                "data (a backup needs the old password): `bin/ops down --volumes --no-backup`, then `bin/ops up`"
            ),
        )
        self.message = (
            f"postgres rejects the password in `.env`: the volume was initialised with another one "
            f"(the server answered: {answer})"
        )

    @classmethod
    def from_output(cls, output: str, user: str, database: str, logs: str = "") -> PostgresAuthError | None:
        """The error if psql's `output` is the server refusing the password, else None."""
        line = next((x for x in output.splitlines() if PG_AUTH_FAILED in x), None)
        if line is None:
            return None
        # psql: error: connection to server at "..." failed: FATAL:  password authentication failed for user "x"
        return cls(line.split("failed: ", 1)[-1].strip()[:300], user, database, logs=logs)


class SafetyBackupError(OpsError):
    """`down --volumes` could not take its backup first; nothing was deleted."""

    def __init__(self, reason: str, hint: str | None, exit_code: int = C.EXIT_DEGRADED):
        super().__init__(
            f"the backup taken before deleting the volumes cannot run: {reason}; nothing was stopped or deleted",
            hint=hint
            if hint and "--no-backup" in hint
            else (f"{hint}; " if hint else "")
            + "or add `--no-backup` to delete the volumes without a backup (their data is lost)",
        )
        self.exit_code = exit_code


class LockedError(OpsError):
    exit_code = C.EXIT_LOCKED


class AbortedError(OpsError):
    exit_code = C.EXIT_ABORTED


class AdminError(OpsError):
    """The gateway's admin API refused or failed a request."""


class ReloadError(OpsError):
    """The new config did not go live; the old one is serving."""

    exit_code = C.EXIT_HEALTH


class BundleError(UsageError):
    """The archive is not a whole, unchanged bundle (exit 2): nothing was loaded."""


class BackupError(OpsError):
    """A backup or restore step failed; nothing was published."""
