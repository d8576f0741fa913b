"""`validate`, `generate`, `routes`, `config ...`: the config compiler."""

from __future__ import annotations

import difflib
from pathlib import Path

import click
from rich.table import Table

from gwops import constants as C
from gwops.cli.app import App, config_error_json
from gwops.errors import ConfigError, OpsError

pass_app = click.make_pass_decorator(App)


def _compile(app: App):
    from gwops import envfile
    from gwops.config.pipeline import compile_sources
    from gwops.settings import load_settings

    settings = load_settings(app.project.stack_file)
    env = envfile.read(app.project.env_file) if app.project.env_file.exists() else None
    from gwops.components import published_ports

    return compile_sources(
        app.project.config_dir, settings.naming, env, settings, app.project.stack_file, published_ports(settings)
    )


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def validate(app: App, as_json: bool) -> int:
    """Run every validation stage; write nothing. Exit 0 valid, 2 invalid."""
    try:
        compiled = _compile(app)
    except ConfigError as exc:
        if as_json:
            app.json(config_error_json(exc))
            return exc.exit_code
        raise
    if as_json:
        app.json({"valid": True, "problems": [], "notes": compiled.notes, "routes": compiled.route_names()})
    else:
        for note in compiled.notes:
            app.say(note)
        app.err.print(
            f"valid: {len(compiled.config['model_list'])} deployments, routes: {', '.join(compiled.route_names())}",
            markup=False,
        )
    return C.EXIT_OK


@click.command()
@click.option("--diff", "show_diff", is_flag=True, help="Print a unified diff against the current file.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if the file is stale or was edited by hand.")
@pass_app
def generate(app: App, show_diff: bool, check: bool) -> int:
    """Compile config/ into state/litellm.config.yaml (atomic; previous versions kept)."""
    from gwops.config import store

    compiled = _compile(app)
    path = app.project.litellm_config
    current = path.read_text() if path.exists() else ""
    if show_diff:
        app.out.file.write(
            "".join(
                difflib.unified_diff(
                    current.splitlines(True),
                    compiled.text.splitlines(True),
                    f"a/{C.STATE_DIR}/{C.LITELLM_CONFIG}",
                    f"b/{C.STATE_DIR}/{C.LITELLM_CONFIG}",
                )
            )
        )
    if check:
        st = store.check(app.project, compiled)
        if st.ok:
            app.say(f"{path.name} is up to date")
            return C.EXIT_OK
        why = (
            "missing"
            if st.missing
            else "edited by hand (its sha256 differs from the metadata)"
            if st.hand_edited
            else "stale (the sources changed)"
        )
        app.err.print(f"error: `{C.STATE_DIR}/{C.LITELLM_CONFIG}` is {why}", markup=False)
        app.err.print("next: run `bin/ops generate` (hand edits are overwritten: make them in config/)", markup=False)
        return C.EXIT_DEGRADED
    if store.write(app.project, compiled):
        app.say(f"wrote {C.STATE_DIR}/{C.LITELLM_CONFIG} (sha256 {compiled.sha256[:12]})")
    else:
        app.say(f"{C.STATE_DIR}/{C.LITELLM_CONFIG} unchanged")
    return C.EXIT_OK


@click.group(invoke_without_command=True)
@click.option("--explain", "explain_name", metavar="NAME", help="Same as `routes explain NAME`.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def routes(ctx: click.Context, explain_name: str | None, as_json: bool) -> int | None:
    """Requested name -> provider/model -> fallback chain."""
    if ctx.invoked_subcommand:
        return None
    app: App = ctx.obj
    if explain_name is not None:
        return _explain(app, explain_name, as_json)
    from gwops.config.routes import table as route_table

    rows = route_table(_compile(app))
    if as_json:
        app.json(rows)
        return C.EXIT_OK
    t = Table()
    for col in ("requested name", "rule", "provider/model", "fallbacks"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["name"], r["rule"], "\n".join(r["targets"]), " -> ".join(r["fallbacks"]) or "-")
    app.out.print(t)
    return C.EXIT_OK


@routes.command("explain")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def explain_cmd(app: App, name: str, as_json: bool) -> int:
    """Which rule matches NAME (exact > capability > pattern > default), and why."""
    return _explain(app, name, as_json)


def _explain(app: App, name: str, as_json: bool) -> int:
    from gwops.config.routes import explain

    res = explain(_compile(app), name)
    if as_json:
        app.json(res)
    else:
        app.out.print(f"{name}: {res['rule']} - {res['why']}", markup=False)
        for t in res["targets"]:
            app.out.print(f"  -> {t}", markup=False)
        if res["fallbacks"]:
            app.out.print(f"  fallbacks: {' -> '.join(res['fallbacks'])}", markup=False)
        for line in res["resolved"]:
            app.out.print(f"  {line}", markup=False)
    return C.EXIT_OK if res["rule"] != "none" else C.EXIT_DEGRADED


@click.group("config")
def config_group() -> None:
    """Generated config versions and importing an existing LiteLLM config."""


@config_group.command("versions")
@pass_app
def versions_cmd(app: App) -> int:
    """List the kept generated versions (newest last)."""
    from gwops.config import store

    for v in store.versions(app.project):
        app.out.print(v.stem, markup=False)
    return C.EXIT_OK


@config_group.command("rollback")
@click.argument("version", required=False)
@pass_app
def rollback_cmd(app: App, version: str | None) -> int:
    """Restore an earlier generated version (default: the previous one)."""
    from gwops.config import store

    target = store.rollback(app.project, version)
    app.say(
        f"restored {target.stem} into {C.STATE_DIR}/{C.LITELLM_CONFIG}; `bin/ops up` applies it "
        "(`generate --check` now reports it stale against config/ until the sources match)"
    )
    return C.EXIT_OK


@config_group.command("import")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite existing config/providers.yaml and model-mappings.yaml.")
@pass_app
def import_cmd(app: App, path: Path, force: bool) -> int:
    """Turn a hand-written LiteLLM config.yaml into config/ sources."""
    from gwops.config.importer import import_file
    from gwops.fsutil import atomic_write

    result = import_file(path)
    targets = {
        app.project.config_dir / C.PROVIDERS_FILE: result.providers_yaml,
        app.project.config_dir / C.MAPPINGS_FILE: result.mappings_yaml,
    }
    existing = [p for p in targets if p.exists() and "providers: {}" not in p.read_text() and not force]
    if existing:
        raise OpsError(
            f"`{existing[0].relative_to(app.project.root)}` already has content",
            hint="add `--force` to overwrite it (the old file is not kept)",
        )
    for p, text in targets.items():
        atomic_write(p, text)
    for note in result.notes:
        app.say(note)
    app.say(f"imported {result.count} model entries; check with `bin/ops validate` and `bin/ops routes`")
    return C.EXIT_OK


COMMANDS = [validate, generate, routes, config_group]
