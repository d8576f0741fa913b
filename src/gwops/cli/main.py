"""Entry point: `python -m gwops.cli` (what bin/ops runs). Errors are converted here, once."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gwops import __version__
from gwops import constants as C
from gwops.cli.app import App
from gwops.errors import OpsError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="gwops")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Run and operate a self-hosted LiteLLM gateway stack (gateway, Postgres, Redis).

    \b
    Exit codes: 0 ok; 1 degraded / step failed; 2 invalid config or usage (status: down);
    3 host prerequisite missing; 4 a service failed its health gate; 5 docker failed;
    6 another run holds the lock; 7 declined; 70 internal error (bug).
    """
    ctx.obj = App()


def _register() -> None:
    from gwops.cli import (
        cmd_backup,
        cmd_cache,
        cmd_config,
        cmd_images,
        cmd_keys,
        cmd_probe,
        cmd_profile,
        cmd_providers,
        cmd_reload,
        cmd_requests,
        cmd_stack,
        cmd_swarm,
        cmd_top,
        cmd_try,
        cmd_upgrade,
    )

    for module in (
        cmd_stack,
        cmd_reload,
        cmd_requests,
        cmd_top,
        cmd_config,
        cmd_images,
        cmd_backup,
        cmd_keys,
        cmd_cache,
        cmd_providers,
        cmd_probe,
        cmd_profile,
        cmd_swarm,
        cmd_try,
        cmd_upgrade,
    ):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def prog_name(argv0: str) -> str:
    """The name usage messages show: what the operator typed, not `python -m gwops.cli`."""
    return "gwops" if Path(argv0).name == "gwops" else "bin/ops"


def main() -> None:
    app = None
    try:
        rv = cli.main(standalone_mode=False, prog_name=prog_name(sys.argv[0]))
        sys.exit(rv if isinstance(rv, int) else C.EXIT_OK)
    except click.exceptions.Abort:
        sys.stderr.write("aborted\n")
        sys.exit(C.EXIT_ABORTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(C.EXIT_INVALID)
    except OpsError as exc:
        app = App()
        sys.exit(app.fail(exc))
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the one place unexpected errors become a message
        sys.exit((app or App()).crash(exc))


if __name__ == "__main__":
    main()
