"""`cache stats|keys|flush`: LiteLLM's response cache in the stack's Redis."""

from __future__ import annotations

import click

from gwops import constants as C
from gwops.cli.app import App
from gwops.cli.cmd_keys import JSON, table

pass_app = click.make_pass_decorator(App)


def _redis(app: App):
    from gwops import envfile
    from gwops.stack import Stack

    stack = Stack(app.project, app.say)
    env = envfile.read(app.project.env_file)
    return stack, stack.docker.serving("redis"), env.get("REDIS_PASSWORD", ""), env


@click.group()
def cache() -> None:
    """LiteLLM's response cache (Redis): what it holds, how often it answers, flush it."""


@cache.command("stats")
@click.option("--since", default="24h", show_default=True, help="The window of the hit rates (30m, 24h, 7d).")
@JSON
@pass_app
def stats(app: App, since: str, as_json: bool) -> int:
    """Cached answers (count, bytes, TTLs per model), Redis' memory, and per route the share of
    requests the cache answered (LiteLLM's spend logs, with the database on)."""
    from gwops import cache as c
    from gwops.admin import parse_since
    from gwops.cli.cmd_config import _compile
    from gwops.components import postgres

    stack, docker, password, env = _redis(app)
    enabled = bool(_compile(app).config["litellm_settings"].get("cache"))
    found = c.scan(docker, password)
    mem = c.memory(docker, password)
    routes = None
    if stack.settings.database.enabled:
        since_at = parse_since(since)
        assert since_at is not None
        routes = c.hits(stack.docker.serving(postgres.SERVICE), postgres.SERVICE, postgres.client_env(env), since_at)
    doc = {
        "enabled": enabled,
        "namespace": c.NAMESPACE,
        "keys": found.count,
        "listed": len(found.entries),
        "bytes": sum(e.bytes for e in found.entries),
        "models": found.per_model(),
        "redis_used_memory_bytes": mem.get("used_memory", 0),
        "redis_maxmemory_bytes": mem.get("maxmemory", 0),
        "hit_rates_since": since if routes is not None else None,
        "routes": routes,
    }
    if as_json:
        app.json(doc)
        return C.EXIT_OK
    if not enabled:
        app.out.print(
            "the response cache is off: `router_settings: {caching: {enabled: true}}` in "
            "config/model-mappings.yaml turns it on (then `bin/ops reload`)",
            markup=False,
        )
    app.out.print(
        f"cache: {found.count} cached answers ({doc['bytes'] / 1e6:.2f} MB) under `{c.NAMESPACE}:`; "
        f"Redis uses {doc['redis_used_memory_bytes'] / 1e6:.1f} MB",
        markup=False,
    )
    if found.per_model():
        table(app, "cached answers per model", found.per_model(), ("model", "keys", "bytes", "ttl_min", "ttl_max"))
    if routes is None:
        app.out.print("hit rates: need LiteLLM's spend logs (`database.enabled: true`)", markup=False)
    else:
        table(app, f"answered from the cache since {since}", routes, ("route", "requests", "cache_hits", "hit_rate"))
    return C.EXIT_OK


@cache.command("keys")
@click.option("--model", help="Only the answers of this model (as the cached answer names it).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1))
@JSON
@pass_app
def keys(app: App, model: str | None, limit: int, as_json: bool) -> int:
    """The cached answers' keys, with their TTL, size and model."""
    from dataclasses import asdict

    from gwops import cache as c

    _stack, docker, password, _env = _redis(app)
    found = c.scan(docker, password, model or "", limit=limit)
    rows = [asdict(e) for e in found.entries]
    if as_json:
        app.json({"keys": found.count, "listed": rows})
    else:
        table(app, f"{found.count} cached answers (at most {limit} listed)", rows, ("key", "ttl", "bytes", "model"))
    return C.EXIT_OK


@cache.command("flush")
@click.option("--model", help="Only the answers of this model; default: every cached answer.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@JSON
@pass_app
def flush(app: App, model: str | None, yes: bool, as_json: bool) -> int:
    """Delete cached answers (only the cache's keys: the router's counters and cooldowns stay)."""
    from gwops import cache as c
    from gwops.errors import AbortedError

    _stack, docker, password, _env = _redis(app)
    what = f"the cached answers of `{model}`" if model else "every cached answer"
    if not yes and not (
        click.get_text_stream("stdin").isatty() and click.confirm(f"delete {what} from Redis?", err=True)
    ):
        raise AbortedError("nothing was deleted", hint="add `--yes` to confirm without a prompt")
    done = c.scan(docker, password, model or "", delete=True, limit=1)
    if as_json:
        app.json({"deleted": done.count, "model": model})
    else:
        app.say(f"deleted {done.count} cached answers" + (f" of `{model}`" if model else ""))
    return C.EXIT_OK


COMMANDS = [cache]
