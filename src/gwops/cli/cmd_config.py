"""`validate`, `generate`, `routes`, `config ...`: the config compiler."""

from __future__ import annotations

import click

from gwops import constants as C
from gwops.cli.app import App, config_error_json
from gwops.errors import ConfigError

pass_app = click.make_pass_decorator(App)


def _compile(app: App):
    from gwops import envfile
    from gwops.config.pipeline import compile_sources
    from gwops.settings import load_settings

    settings = load_settings(app.project.stack_file)
    env = envfile.read(app.project.env_file) if app.project.env_file.exists() else None
    return compile_sources(app.project.config_dir, settings.naming, env)


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
        app.err.print(f"valid: {len(compiled.config['model_list'])} deployments, "
                      f"routes: {', '.join(compiled.route_names())}", markup=False)
    return C.EXIT_OK


COMMANDS = [validate]
