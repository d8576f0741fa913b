"""Redis: LiteLLM's cache and the router's coordination between gateway processes. Its gate: a
PING with the password from `.env`."""

from __future__ import annotations

from gwops.components.base import Component, GateContext

SERVICE = "redis"


def gate(ctx: GateContext, service: str) -> None:
    ctx.health.exec_check(
        service, "PING with auth", ["sh", "-c", 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli ping'], "PONG"
    )


COMPONENT = Component(
    name=SERVICE,
    package=__name__,
    description="cache and router coordination",
    gate=gate,
    volumes=("redis-data",),
)
