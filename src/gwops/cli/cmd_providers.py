"""`providers`: does every provider answer, from the host and from the gateway, with the models
the config routes to it."""

from __future__ import annotations

import click
from rich.table import Table

from gwops import constants as C
from gwops.cli.app import App

pass_app = click.make_pass_decorator(App)


def _view(v) -> str:
    if v is None:
        return "-"
    return f"ok {v.ms:.0f} ms" if v.ok else f"no ({v.error})"[:60]


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def providers(app: App, as_json: bool) -> int:
    """Check every provider: answers from the host and the gateway, latency, model drift.
    Exit 0 every active provider answers with its models, 1 otherwise."""
    from gwops import provider_check as pc
    from gwops.stack import Stack

    found = pc.check_stack(Stack(app.project, app.say))
    code = C.EXIT_OK if all(b.problem is None for b in found) else C.EXIT_DEGRADED
    if as_json:
        app.json(pc.as_json(found))
        return code
    table = Table(title="providers")
    for col in ("provider", "type", "state", "required", "host", "gateway", "models served / configured"):
        table.add_column(col)
    for b in found:
        models = "-" if b.served is None else f"{len(b.served)} / {len(b.configured)}"
        table.add_row(
            b.provider, b.type, b.state, "yes" if b.required else "no", _view(b.host), _view(b.gateway), models
        )
    app.out.print(table)
    for b in found:
        if b.problem:
            app.out.print(f"{b.provider}: {b.problem}\n  next: {b.next}", markup=False)
        elif b.next:
            app.out.print(f"{b.provider}: {b.next}", markup=False)
        if b.not_routed:
            app.out.print(f"{b.provider}: served but not routed: {', '.join(b.not_routed)}", markup=False)
    return code


@click.command(name="backends", hidden=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def backends(ctx: click.Context, as_json: bool) -> int:
    """The old name of `providers` (model servers run by the stack are `backends:` in stack.yaml)."""
    ctx.find_object(App).say("`bin/ops backends` is now `bin/ops providers` (the old name keeps working)")
    return ctx.invoke(providers, as_json=as_json)


COMMANDS = [providers, backends]
