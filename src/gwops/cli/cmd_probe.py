"""`probe`: the capability matrix of the gateway's routes."""

from __future__ import annotations

import click
from rich.table import Table

from gwops import constants as C
from gwops.cli.app import App

pass_app = click.make_pass_decorator(App)


@click.command()
@click.argument("routes", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def probe(app: App, routes: tuple[str, ...], as_json: bool) -> int:
    """Try chat, streaming, embeddings, tool calling and JSON mode on every route (or ROUTES)
    through the gateway; write state/capabilities.json and metrics. Exit 0 no errors, 1 some."""
    from gwops import probe as pr
    from gwops.stack import Stack

    found = pr.probe_stack(Stack(app.project, app.say), list(routes))
    code = C.EXIT_OK if all(r.state != "error" for p in found for r in p.results.values()) else C.EXIT_DEGRADED
    if as_json:
        app.json(pr.as_json(found))
        return code
    table = Table(title="capabilities")
    table.add_column("route")
    for cap in pr.CAPABILITIES:
        table.add_column(cap)
    table.add_column("first token")
    table.add_column("tokens/s")
    for p in found:
        table.add_row(
            p.route,
            *(p.results[c].state for c in pr.CAPABILITIES),
            "-" if p.ttft_seconds is None else f"{p.ttft_seconds * 1000:.0f} ms",
            "-" if p.tokens_per_second is None else f"{p.tokens_per_second:.0f}",
        )
    app.out.print(table)
    for p in found:
        for cap in pr.CAPABILITIES:
            r = p.results[cap]
            if r.state == "error":
                app.out.print(f"{p.route} {cap}: {r.reason[:200]}", markup=False)
    return code


COMMANDS = [probe]
