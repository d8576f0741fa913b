"""Prometheus: scrapes every component's metrics target (the registry's `metrics`), evaluates the
alert rules (rules/, thresholds from `monitoring.thresholds`) and sends alerts to Alertmanager.

Its files live in state/prometheus/ (config and rules, mounted as a folder: a rewritten file is
seen at once) and the gateway's key in state/secrets/ (a folder only its owner can enter; the
file alone is mounted). A change of config or rules is checked with promtool inside the running
container, then applied with Prometheus' reload endpoint: no restart, no gap in the series."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from gwops import components
from gwops.components.base import Component, FilesContext, GateContext, MetricsTarget
from gwops.components.monitoring import enabled
from gwops.errors import HealthError, OpsError
from gwops.fsutil import atomic_write
from gwops.poll import Timeout, poll

if TYPE_CHECKING:
    from gwops.stack import Stack

SERVICE = "prometheus"
KEY_FILE = "secrets/gateway-metrics.key"  # under state/: the gateway key Prometheus scrapes with
CONFIG = "/etc/prometheus/prometheus.yml"


def targets(ctx: FilesContext) -> list[dict[str, object]]:
    """A scrape job per component with a metrics target, over all its compose services (both
    gateway slots: the idle one resolves to no address, so it has no target)."""
    out = []
    for c in components.REGISTRY:
        if c.metrics is None or not c.enabled(ctx.settings):
            continue
        names = c.service_names(components.gateway.SLOTS[0])
        out.append({"job": c.metrics.job, "names": names, "port": c.metrics.port, "path": c.metrics.path,
                    "gateway_key": c.metrics.gateway_key, "component": c.name})
    return out


def files(ctx: FilesContext) -> bool:
    m = ctx.settings.monitoring
    d = ctx.dir(SERVICE)
    interval = f"{m.scrape_interval}s"
    changed = atomic_write(d / "prometheus.yml", COMPONENT.render(
        "prometheus.yml.j2", project=ctx.project_name, scrape_interval=interval, targets=targets(ctx),
        alertmanager=f"alertmanager:{components.get('alertmanager').metrics.port}"))  # type: ignore[union-attr]
    t = m.thresholds
    changed |= atomic_write(d / "rules/gwops.rules.yml", COMPONENT.render(
        "rules/gwops.rules.yml.j2", error_ratio=t.error_ratio, latency_seconds=t.latency_p95_seconds,
        disk_free_ratio=t.disk_free_ratio))
    for p in (d, d / "rules"):
        p.chmod(0o755)  # read by the container's user (nobody)
    write_key(ctx)
    return changed


def write_key(ctx: FilesContext) -> None:
    """The gateway's key for the scrape, in a file (never in a compose file or an argument):
    state/secrets/ is 0700, so only the owner reaches it on the host; the file itself is 0644
    for the container's user. Rewritten in place: the container's mount follows the same file."""
    key_path = ctx.project.state_dir / KEY_FILE
    key_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_path.parent.chmod(0o700)
    key = ctx.env.get("LITELLM_MASTER_KEY", "")
    if not key_path.exists() or key_path.read_text() != key:
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
    key_path.chmod(0o644)


def apply(stack: Stack) -> None:
    """New config or rules into the running Prometheus: promtool checks them first (a bad file
    leaves the running config in place), then the reload endpoint."""
    code, out = stack.docker.exec(COMPONENT.service, ["promtool", "check", "config", CONFIG])
    if code != 0:
        raise OpsError(f"Prometheus' new config is refused by promtool: {out.strip()[-400:]}",
                       hint="the running config stays in place; fix config/stack.yaml `monitoring:` and run `bin/ops up`")
    from gwops.health import http_request

    m = stack.settings.monitoring
    try:
        status, text = http_request(f"http://{_host(m.bind)}:{m.prometheus_port}/-/reload", 10, body={})
    except OSError as exc:
        raise OpsError(f"Prometheus' reload endpoint did not answer: {exc}", hint="`bin/ops logs prometheus`") from None
    if status != 200:
        raise OpsError(f"Prometheus refused the reload: HTTP {status}: {text[:300]}", hint="`bin/ops logs prometheus`")
    stack.say("prometheus: new config and rules loaded (no restart)")


def _host(bind: str) -> str:
    return "127.0.0.1" if bind in ("0.0.0.0", "") else bind


def api(stack: Stack, path: str, timeout: float = 5) -> dict:
    """A GET on Prometheus' HTTP API through its published port."""
    import json

    from gwops.health import http_request

    m = stack.settings.monitoring
    status, text = http_request(f"http://{_host(m.bind)}:{m.prometheus_port}{path}", timeout)
    if status != 200:
        raise OSError(f"HTTP {status}: {text[:200]}")
    return json.loads(text)


def alerts(stack: Stack) -> list[dict[str, str]]:
    """The alerts Prometheus has pending or firing, newest first. Raises OSError when it does
    not answer."""
    found = api(stack, "/api/v1/alerts")["data"]["alerts"]
    out = [{"alert": a["labels"].get("alertname", ""), "state": a["state"], "severity": a["labels"].get("severity", ""),
            "since": a.get("activeAt", ""), "summary": a.get("annotations", {}).get("summary", ""),
            "labels": {k: v for k, v in a["labels"].items() if k not in ("alertname", "severity", "project")}}
           for a in found]
    return sorted(out, key=lambda a: a["since"], reverse=True)


def gate(ctx: GateContext, service: str) -> None:
    """Ready, and every scrape target of the running components up (each exporter proves itself
    this way: it answered a real scrape)."""
    stack = ctx.stack
    wanted = {c.metrics.job for c in components.REGISTRY
              if c.metrics is not None and c.enabled(stack.settings) and c.name != "grafana"}
    last = ""

    def all_up() -> bool | None:
        nonlocal last
        try:
            active = api(stack, "/api/v1/targets?state=active")["data"]["activeTargets"]
        except (OSError, ValueError, KeyError) as exc:
            last = f"targets API: {exc}"
            return None
        by_job: dict[str, list[dict]] = {}
        for t in active:
            by_job.setdefault(t["labels"].get("job", ""), []).append(t)
        bad = [f"{job}: " + (", ".join(f"{t['scrapeUrl']} {t['health']} {t.get('lastError', '')}".strip()
                                      for t in by_job[job] if t["health"] != "up") if job in by_job else "no target")
               for job in sorted(wanted) if job not in by_job or any(t["health"] != "up" for t in by_job[job])]
        last = "; ".join(bad)
        return None if bad else True

    timeout = 3 * stack.settings.monitoring.scrape_interval + 15
    try:
        poll(all_up, timeout, 1.0)
    except Timeout:
        raise HealthError(service, "every scrape target up", last[:600],
                          hint="`bin/ops logs <service>` of the target named; the gateway serves meanwhile") from None


COMPONENT = Component(
    name=SERVICE,
    official="prom/prometheus:v2.42.0",
    local="gwops/prometheus:2.42.0",
    package=__name__,
    description="metrics and alert rules",
    core=False,
    enabled=enabled,
    files=files,
    apply=apply,
    gate=gate,
    metrics=MetricsTarget("prometheus", 9090),
)
