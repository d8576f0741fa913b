"""Postgres: LiteLLM's database (keys, teams, spend). Its gate: the stack's own user logs in over
TCP with the password in `.env` and runs a query. Backups (gwops.backup) are about this service."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gwops import envfile
from gwops.components.base import Component, GateContext
from gwops.errors import PG_AUTH_FAILED, PostgresAuthError
from gwops.poll import Timeout, poll

if TYPE_CHECKING:
    from gwops.components.base import StackContext
    from gwops.health import Health

SERVICE = "postgres"
VOLUME = "postgres-data"  # its data volume (docker-compose.yml)
# Over TCP to the container's own address, so the login takes the same pg_hba rule as the gateway's
# (`host all all all scram-sha-256`); 127.0.0.1 and the unix socket are `trust` in the official image.
LOGIN = ["sh", "-c", 'exec psql -X -w -h "$HOSTNAME" -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAc "SELECT 1"']


def client_env(env: dict[str, str], timeout: int = 10) -> dict[str, str]:
    """psql's environment inside the Postgres container for the stack's user, over TCP with the
    password from `.env` (`env`): never a process argument."""
    return {
        "PGHOST": "127.0.0.1",
        "PGUSER": env.get("POSTGRES_USER", "litellm"),
        "PGDATABASE": env.get("POSTGRES_DB", "litellm"),
        "PGPASSWORD": env.get("POSTGRES_PASSWORD", ""),
        "PGCONNECT_TIMEOUT": str(timeout),
    }


def check_answer(health: Health, answer: str) -> None:
    """Raise PostgresAuthError if `answer` (psql's output) is the server refusing the password:
    a rejected password never heals."""
    if PG_AUTH_FAILED not in answer:
        return
    env = envfile.read(health.docker.project.env_file)
    refused = PostgresAuthError.from_output(
        answer,
        env.get("POSTGRES_USER", "litellm"),
        env.get("POSTGRES_DB", "litellm"),
        logs=health.docker.tail_logs(SERVICE, 30),
    )
    if refused:
        raise refused


def login(health: Health) -> str | None:
    """One login as the stack's user with the password from `.env` and a query; None when it
    works, else the last line of the answer. A rejected password raises PostgresAuthError."""
    password = envfile.read(health.docker.project.env_file).get("POSTGRES_PASSWORD", "")
    # the password goes in through the exec environment, never a process argument
    code, out = health.docker.exec(SERVICE, LOGIN, env={"PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"})
    check_answer(health, out)
    if code == 0 and out.strip() == "1":
        return None
    return (out.strip().splitlines() or ["(no answer)"])[-1][-300:]


def gate(ctx: GateContext, service: str) -> None:
    """Postgres works for the stack: its own user logs in over TCP (password auth, unlike the
    unix socket) with the password in `.env` and runs a query."""
    last = ""

    def attempt() -> str | None:
        nonlocal last
        last = login(ctx.health) or ""
        return None if last else "ok"

    try:
        poll(attempt, min(ctx.health.timeout, 30), 0.5)
    except Timeout:
        raise ctx.health.fail(
            service, "login over TCP and `SELECT 1`", f"no valid answer: {last or '(empty)'}"
        ) from None


def status_row(stack: StackContext, row: dict[str, Any]) -> None:
    """A running Postgres that refuses the password in `.env` is a problem of its row, with the
    reason and the next step (the container healthcheck alone says only `starting`/`unhealthy`)."""
    if row["state"] != "running":
        return
    from gwops.health import Health

    try:
        login(Health(stack.docker, stack.say, stack.settings.health.service_timeout))
    except PostgresAuthError as exc:
        row.update(health="unhealthy", problem=exc.message, next=exc.hint)


COMPONENT = Component(
    name=SERVICE,
    package=__name__,
    description="database: keys, teams, spend",
    gate=gate,
    hopeless=check_answer,
    status_row=status_row,
    volumes=(VOLUME,),
)
