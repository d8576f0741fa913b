"""`profile`: latency and throughput per route at several concurrencies (gwops.profile)."""

from __future__ import annotations

import click

from gwops import constants as C
from gwops.cli.app import App

pass_app = click.make_pass_decorator(App)


def _levels(_ctx: click.Context, _param: click.Parameter, value: str) -> list[int]:
    try:
        levels = [int(x) for x in value.split(",") if x.strip()]
    except ValueError:
        levels = []
    if not levels or any(not 1 <= c <= 256 for c in levels):
        raise click.BadParameter(f"{value!r}: write concurrencies from 1 to 256, comma-separated (1,4,16)")
    return levels


@click.command()
@click.argument("routes", nargs=-1)
@click.option("--concurrency", default="1,4,16", show_default=True, callback=_levels, help="Clients at once, per step.")
@click.option("--duration", default=10.0, show_default=True, type=click.FloatRange(1, 600), help="Seconds per step.")
@click.option("--stream", is_flag=True, help="Streamed answers (the first-token time is the first chunk's).")
@click.option("--max-tokens", default=32, show_default=True, type=click.IntRange(1, 4096), help="Per answer.")
@click.option("--yes-costs", is_flag=True, help="Also profile routes whose provider bills per token.")
@click.option("--json", "as_json", is_flag=True, help="Every step as JSON.")
@pass_app
def profile(
    app: App,
    routes: tuple[str, ...],
    concurrency: list[int],
    duration: float,
    stream: bool,
    max_tokens: int,
    yes_costs: bool,
    as_json: bool,
) -> int:
    """Latency (total, first token) and throughput of ROUTES (default: every route) at each
    concurrency, side by side, with the master key through the public port, and a text chart.

    A route whose provider bills per token is refused unless --yes-costs is given; the most
    requests and tokens the profile could send are said first."""
    from gwops import envfile
    from gwops import profile as prof
    from gwops.cli.cmd_config import _compile
    from gwops.cli.cmd_keys import table
    from gwops.config.routes import explain
    from gwops.errors import AbortedError, UsageError
    from gwops.health import gateway_url
    from gwops.settings import load_settings

    settings = load_settings(app.project.stack_file)
    compiled = _compile(app)
    names = list(routes) or compiled.route_names()
    unknown = [r for r in names if not explain(compiled, r)["targets"]]
    if unknown:
        raise UsageError(f"no route serves {', '.join(unknown)}", hint="`bin/ops routes` lists them")
    route_providers = {r: [t.split("/", 1)[0] for t in explain(compiled, r)["targets"]] for r in names}
    providers = compiled.providers.providers
    billed = prof.billed(
        {pid: p.type for pid, p in providers.items()},
        {pid for pid, p in providers.items() if p.api_key_env},
        route_providers,
    )
    if billed:
        n, tokens = prof.estimate(len(billed), concurrency, duration, max_tokens)
        which = ", ".join(f"`{r}` ({p})" for r, p in billed.items())
        app.say(f"{which} bill per token: this profile sends them at most about {n} requests, {tokens} tokens")
        if not yes_costs:
            raise AbortedError(
                "refused: routes whose provider bills per token are profiled only with --yes-costs",
                hint="name the free routes only, or add --yes-costs",
            )
    key = envfile.read(app.project.env_file).get("LITELLM_MASTER_KEY", "")
    url = gateway_url(settings.gateway.bind, settings.gateway.port)
    steps = prof.run(url, key, names, concurrency, duration, stream, max_tokens, app.say)
    if as_json:
        app.json({"stream": stream, "duration": duration, "steps": prof.as_dicts(steps)})
    else:
        table(
            app,
            f"profile ({'streamed' if stream else 'chat'}, {duration:g} s per step)",
            prof.as_dicts(steps),
            prof.FIELDS,
        )
        for line in prof.chart(steps):
            app.out.print(line, markup=False)
    return C.EXIT_OK if all(s.failed == 0 for s in steps) else C.EXIT_DEGRADED


COMMANDS = [profile]
