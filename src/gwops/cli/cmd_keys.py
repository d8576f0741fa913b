"""`keys`, `teams`, `spend`: virtual keys, teams and who spent what (LiteLLM's database)."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.table import Table

from gwops import constants as C
from gwops.cli.app import App

pass_app = click.make_pass_decorator(App)
JSON = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
# what `keys list` / `keys info` show of a key (never a secret: LiteLLM keeps only its hash)
KEY_FIELDS = (
    "key_alias",
    "token",
    "team_id",
    "user_id",
    "models",
    "spend",
    "max_budget",
    "budget_duration",
    "rpm_limit",
    "tpm_limit",
    "expires",
    "created_at",
    "blocked",
)
TEAM_FIELDS = ("team_alias", "team_id", "models", "spend", "max_budget", "budget_duration", "rpm_limit", "tpm_limit")


def admin(app: App) -> Any:
    from gwops import envfile
    from gwops.admin import Admin
    from gwops.health import gateway_url
    from gwops.settings import load_settings

    settings = load_settings(app.project.stack_file)
    key = envfile.read(app.project.env_file).get("LITELLM_MASTER_KEY", "")
    return Admin(gateway_url(settings.gateway.bind, settings.gateway.port), key)


def pick(row: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: row.get(f) for f in fields}


def cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, list):
        return ",".join(map(str, v)) or "all"
    return str(v)


def table(app: App, title: str, rows: list[dict[str, Any]], fields: tuple[str, ...]) -> None:
    t = Table(title=title)
    for f in fields:
        t.add_column(f, overflow="fold")
    for r in rows:
        t.add_row(*(cell(r.get(f)) for f in fields))
    app.out.print(t)


# -- keys ----------------------------------------------------------------------------------------
@click.group()
def keys() -> None:
    """Virtual keys: one per person or service, with budgets, limits and models allowed."""


@keys.command("create")
@click.option("--alias", required=True, help="The key's name (unique), e.g. alice or ci-bot.")
@click.option("--team", help="Team alias or id the key belongs to.")
@click.option("--user", help="User id the key belongs to.")
@click.option("--models", help="Comma-separated routes the key may use (default: all).")
@click.option("--max-budget", type=float, help="Spend limit in USD.")
@click.option("--budget-duration", help="Budget period, reset after it: e.g. 30d, 1mo.")
@click.option("--rpm", "rpm_limit", type=click.IntRange(min=1), help="Requests per minute, for the whole stack.")
@click.option("--tpm", "tpm_limit", type=click.IntRange(min=1), help="Tokens per minute, for the whole stack.")
@click.option("--expires", help="Lifetime from now: e.g. 90d, 12h.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (with the secret, once).")
@pass_app
def keys_create(
    app: App,
    alias: str,
    team: str | None,
    user: str | None,
    models: str | None,
    max_budget: float | None,
    budget_duration: str | None,
    rpm_limit: int | None,
    tpm_limit: int | None,
    expires: str | None,
    as_json: bool,
) -> int:
    """Make a key. Its secret is printed once, on stdout, and kept nowhere."""
    from gwops.admin import KeySpec

    spec = KeySpec(
        alias=alias,
        team=team,
        user=user,
        models=models.split(",") if models else None,
        max_budget=max_budget,
        budget_duration=budget_duration,
        rpm_limit=rpm_limit,
        tpm_limit=tpm_limit,
        expires=expires,
    )
    out = admin(app).create_key(spec)
    return show_new_key(app, out, as_json, f"key `{alias}` created")


def show_new_key(app: App, out: dict[str, Any], as_json: bool, what: str) -> int:
    if as_json:
        app.json({"key": out.get("key"), **pick(out, KEY_FIELDS)})
        return C.EXIT_OK
    app.say(f"{what}; its secret is shown this once and stored nowhere (LiteLLM keeps a hash):")
    app.out.file.write(f"{out.get('key')}\n")
    return C.EXIT_OK


@keys.command("list")
@JSON
@pass_app
def keys_list(app: App, as_json: bool) -> int:
    """Every key: alias, team, budget, spend, limits (no secrets)."""
    api = admin(app)
    teams_by_id = {t.get("team_id"): t.get("team_alias") for t in api.teams()}
    rows = [{**pick(k, KEY_FIELDS), "team": teams_by_id.get(k.get("team_id"), k.get("team_id"))} for k in api.keys()]
    if as_json:
        app.json(rows)
    else:
        table(
            app,
            f"{len(rows)} keys",
            rows,
            ("key_alias", "team", "models", "spend", "max_budget", "rpm_limit", "tpm_limit", "expires"),
        )
    return C.EXIT_OK


@keys.command("info")
@click.argument("name")
@JSON
@pass_app
def keys_info(app: App, name: str, as_json: bool) -> int:
    """One key by alias (or hashed token)."""
    row = pick(admin(app).key(name), KEY_FIELDS)
    if as_json:
        app.json(row)
    else:
        for f in KEY_FIELDS:
            app.out.print(f"{f}: {cell(row[f])}", markup=False)
    return C.EXIT_OK


@keys.command("revoke")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def keys_revoke(app: App, name: str, yes: bool) -> int:
    """Delete a key: its next request gets 401. Its spend history stays."""
    from gwops.cli.app import confirmer
    from gwops.errors import AbortedError

    if not confirmer(yes)(f"revoke key `{name}` (its holder's requests fail from now on)?"):
        raise AbortedError("nothing was revoked", hint="add `--yes` to confirm without a prompt")
    k = admin(app).revoke(name)
    app.say(f"key `{k.get('key_alias') or name}` revoked")
    return C.EXIT_OK


@keys.command("rotate")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (with the secret, once).")
@pass_app
def keys_rotate(app: App, name: str, as_json: bool) -> int:
    """A new secret for a key, same alias and settings; the old secret stops working now."""
    out = admin(app).rotate(name)
    return show_new_key(app, out, as_json, f"key `{name}` rotated (the old secret is revoked)")


# -- teams ---------------------------------------------------------------------------------------
@click.group()
def teams() -> None:
    """Teams: a budget and limits shared by their keys."""


@teams.command("create")
@click.option("--alias", required=True, help="The team's name (unique).")
@click.option("--models", help="Comma-separated routes the team may use (default: all).")
@click.option("--max-budget", type=float, help="Spend limit in USD for the whole team.")
@click.option("--budget-duration", help="Budget period, reset after it: e.g. 30d, 1mo.")
@click.option("--rpm", "rpm_limit", type=click.IntRange(min=1), help="Requests per minute for the team.")
@click.option("--tpm", "tpm_limit", type=click.IntRange(min=1), help="Tokens per minute for the team.")
@JSON
@pass_app
def teams_create(
    app: App,
    alias: str,
    models: str | None,
    max_budget: float | None,
    budget_duration: str | None,
    rpm_limit: int | None,
    tpm_limit: int | None,
    as_json: bool,
) -> int:
    """Make a team; `keys create --team ALIAS` puts keys in it."""
    out = admin(app).create_team(
        alias, max_budget, budget_duration, models.split(",") if models else None, rpm_limit, tpm_limit
    )
    if as_json:
        app.json(pick(out, TEAM_FIELDS))
    else:
        app.say(f"team `{alias}` created (id {out.get('team_id')})")
    return C.EXIT_OK


@teams.command("list")
@JSON
@pass_app
def teams_list(app: App, as_json: bool) -> int:
    """Every team with its budget and spend."""
    rows = [pick(t, TEAM_FIELDS) for t in admin(app).teams()]
    if as_json:
        app.json(rows)
    else:
        table(app, f"{len(rows)} teams", rows, TEAM_FIELDS)
    return C.EXIT_OK


@teams.command("info")
@click.argument("name")
@JSON
@pass_app
def teams_info(app: App, name: str, as_json: bool) -> int:
    """One team by alias or id, with its keys."""
    out = admin(app).team_info(name)
    info = out.get("team_info", out)
    row = {**pick(info, TEAM_FIELDS), "keys": [k.get("key_alias") or k.get("token") for k in out.get("keys", [])]}
    if as_json:
        app.json(row)
    else:
        for f, v in row.items():
            app.out.print(f"{f}: {cell(v)}", markup=False)
    return C.EXIT_OK


# -- spend ---------------------------------------------------------------------------------------
@click.command()
@click.option("--by", type=click.Choice(["key", "team", "user", "model", "day"]), default="key", show_default=True)
@click.option("--since", help="A duration back from now (24h, 7d) or a date (2026-12-01). Default: all.")
@JSON
@pass_app
def spend(app: App, by: str, since: str | None, as_json: bool) -> int:
    """Requests, spend (USD) and tokens per key, team, user, model or day (LiteLLM's spend logs)."""
    from gwops import envfile
    from gwops.admin import parse_since
    from gwops.admin import spend as read_spend
    from gwops.stack import Stack

    stack = Stack(app.project, app.say)
    rows = read_spend(stack.docker, envfile.read(app.project.env_file), by, parse_since(since))
    if as_json:
        app.out.file.write(json.dumps({"by": by, "since": since, "rows": rows}, indent=2) + "\n")
    else:
        table(
            app,
            f"spend by {by}" + (f" since {since}" if since else ""),
            rows,
            ("name", "requests", "spend", "prompt_tokens", "completion_tokens"),
        )
    return C.EXIT_OK


# -- purge ---------------------------------------------------------------------------------------
@click.command()
@click.option("--days", type=click.IntRange(min=1), help="Keep this many days (default: `database.retention_days`).")
@click.option("--dry-run", is_flag=True, help="Count the rows that would go; delete nothing.")
@JSON
@pass_app
def purge(app: App, days: int | None, dry_run: bool, as_json: bool) -> int:
    """Delete spend logs, error logs and audit rows older than the retention, in small batches."""
    from gwops import envfile
    from gwops import purge as purging
    from gwops.components import postgres
    from gwops.errors import UsageError
    from gwops.stack import Stack

    stack = Stack(app.project, app.say)
    if not stack.settings.database.enabled:
        raise UsageError(
            "LiteLLM's database features are off (`database.enabled: false`): there are no spend logs",
            hint="nothing to purge",
        )
    res = purging.purge(
        stack.docker.serving(postgres.SERVICE),
        postgres.SERVICE,
        postgres.client_env(envfile.read(app.project.env_file)),
        days or stack.settings.database.retention_days,
        dry_run,
        app.say,
    )
    if not dry_run:
        purging.record(app.project, res, stack.settings.database.purge_schedule)
    if as_json:
        app.json(res.as_dict())
        return C.EXIT_OK
    verb = "would delete" if dry_run else "deleted"
    app.say(
        f"{verb} {sum(res.rows.values())} rows older than {res.days} days in {res.seconds:.1f} s; database "
        f"{res.bytes_before / 1e6:.1f} MB -> {res.bytes_after / 1e6:.1f} MB"
    )
    return C.EXIT_OK


COMMANDS = [keys, teams, spend, purge]
