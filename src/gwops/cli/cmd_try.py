"""`try`: one request through the public port, and how the gateway served it."""

from __future__ import annotations

import dataclasses
import time

import click

from gwops import constants as C
from gwops.cli.app import App

pass_app = click.make_pass_decorator(App)


@click.command("try")
@click.argument("model")
@click.option("--prompt", default="Say hello in five words.", show_default=True, help="The user message.")
@click.option("--stream", is_flag=True, help="Stream the answer (time to first token).")
@click.option("--debug", is_flag=True, help="Also print every x-litellm-* and x-gwops-* response header.")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for the whole answer.")
@click.option("--json", "as_json", is_flag=True, help="The route decision and the trial as JSON.")
@pass_app
def try_cmd(app: App, model: str, prompt: str, stream: bool, debug: bool, timeout: float, as_json: bool) -> int:
    """Send one chat completion for MODEL with the master key: the route decision, the deployment
    that answered, retries and fallbacks, time to first token and total, the raw error and a next
    step when it fails. Exit 0 answered, 1 failed."""
    from gwops import envfile, trial
    from gwops.cli.cmd_config import _compile
    from gwops.config.routes import explain
    from gwops.health import gateway_url
    from gwops.settings import load_settings

    settings = load_settings(app.project.stack_file)
    decision = explain(_compile(app), model)
    key = envfile.read(app.project.env_file).get("LITELLM_MASTER_KEY", "")
    url = gateway_url(settings.gateway.bind, settings.gateway.port)
    started = time.time()
    t = trial.run(url, key, model, prompt, stream, timeout)
    if t.served.get("call_id"):
        t.gateway_log = _gateway_said(app, settings, t.served["call_id"], started - 5)
    if as_json:
        app.json({"route": decision, "trial": dataclasses.asdict(t)})
        return C.EXIT_OK if t.ok else C.EXIT_DEGRADED
    out = app.out
    out.print(f"route: {model}: {decision['rule']} - {decision['why']}", markup=False)
    for target in decision["targets"]:
        out.print(f"  -> {target}", markup=False)
    if decision["fallbacks"]:
        out.print(f"  fallbacks: {' -> '.join(decision['fallbacks'])}", markup=False)
    s = t.served
    where = ", ".join(
        f"{k} {s[k]}" for k in ("model_group", "api_base", "slot", "replica", "litellm_version") if s.get(k)
    )
    out.print(
        f"served: HTTP {t.status or '-'}"
        + (f" by {t.answered_by}" if t.answered_by else "")
        + (f" ({where})" if where else ""),
        markup=False,
    )
    out.print(f"retries: {s.get('retries', '0')}, fallbacks: {s.get('fallbacks', '0')}", markup=False)
    if s.get("fallbacks", "0") not in ("", "0") and s.get("model_group") not in (None, model):
        out.print(
            f"fallback taken: `{model}` failed, `{s['model_group']}` answered; `bin/ops probe` checks its provider",
            markup=False,
        )
    times = [f"total {t.total_ms:.0f} ms"]
    if t.ttft_ms is not None:
        times.insert(0, f"first token {t.ttft_ms:.0f} ms")
    if s.get("gateway_overhead_ms"):
        times.append(f"gateway overhead {float(s['gateway_overhead_ms']):.1f} ms")
    out.print("time: " + ", ".join(times), markup=False)
    if s.get("call_id"):
        out.print(f"request id: {s['call_id']}" + (f", cost {s['cost']}" if s.get("cost") else ""), markup=False)
    if t.gateway_log:  # the errors of the retries and fallbacks it took, or of the failure
        out.print("gateway log:", markup=False)
        for line in t.gateway_log:
            out.print(f"  {line[:500]}", markup=False)
    if debug:
        for k, v in sorted(t.headers.items()):
            out.print(f"  {k}: {v}", markup=False)
    if t.ok:
        out.print(f"answer: {t.answer}", markup=False)
        return C.EXIT_OK
    out.print(f"error: {t.error}", markup=False)
    out.print(f"next: {t.next}", markup=False)
    return C.EXIT_DEGRADED


def _gateway_said(app: App, settings, request_id: str, since: float) -> list[str]:  # type: ignore[no-untyped-def]
    """What the gateway replicas logged naming the request (nothing when Docker cannot say)."""
    from gwops import logview
    from gwops.docker import Docker
    from gwops.errors import OpsError
    from gwops.projectname import resolve

    try:
        return logview.mentioning(
            logview.service_lines(Docker(app.project, resolve(app.project, settings)), "gateway-", since), request_id
        )
    except OpsError:
        return []


COMMANDS = [try_cmd]
