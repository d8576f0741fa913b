"""Prometheus: scrapes every component's metrics target (the registry's `metrics`), evaluates the
alert rules (rules/, thresholds from `monitoring.thresholds`) and sends alerts to Alertmanager.

Its files live in state/prometheus/ (config and rules, mounted as a folder: a rewritten file is
seen at once) and the gateway's key in state/secrets/ (a folder only its owner can enter; the
file alone is mounted). A change of config or rules is checked with promtool inside the running
container, then applied with Prometheus' reload endpoint: no restart, no gap in the series."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from gwops.components.base import Component, FilesContext, MetricsTarget
from gwops.components.monitoring import duration, enabled, host, reload_config, write_secret
from gwops.constants import SLOTS
from gwops.fsutil import atomic_write
from gwops.poll import Timeout, poll

if TYPE_CHECKING:
    from gwops.components.base import StackContext
    from gwops.settings import StackSettings

SERVICE = "prometheus"
KEY_FILE = "secrets/gateway-metrics.key"  # under state/: the gateway key Prometheus scrapes with
CONFIG = "/etc/prometheus/prometheus.yml"


def targets(ctx: FilesContext) -> list[dict[str, object]]:
    """A scrape job per component with a metrics target, over all its compose services (both
    gateway slots: the idle one resolves to no address, so it has no target)."""
    out = []
    for c in ctx.registry:
        if c.metrics is None or not c.enabled(ctx.settings):
            continue
        names = c.service_names(SLOTS[0])
        out.append(
            {
                "job": c.metrics.job,
                "names": names,
                "port": c.metrics.port,
                "path": c.metrics.path,
                "gateway_key": c.metrics.gateway_key,
                "component": c.name,
            }
        )
    return out


def swarm_config(settings: StackSettings, stack: str, jobs: list[dict[str, object]]) -> str:
    """prometheus.yml of the Swarm stack `stack` (the same template as Compose's): `jobs`, the
    Swarm services' metrics targets, found by Docker Swarm's service discovery."""
    return COMPONENT.render(
        "prometheus.yml.j2",
        swarm=True,
        project=stack,
        scrape_interval=f"{settings.monitoring.scrape_interval}s",
        targets=jobs,
    )


def files(ctx: FilesContext) -> bool:
    m = ctx.settings.monitoring
    d = ctx.dir(SERVICE)
    interval = f"{m.scrape_interval}s"
    changed = atomic_write(
        d / "prometheus.yml",
        COMPONENT.render(
            "prometheus.yml.j2",
            swarm=False,
            project=ctx.project_name,
            scrape_interval=interval,
            targets=targets(ctx),
            gateway_interval=f"{gateway_interval(ctx.settings)}s",
            alertmanager=f"alertmanager:{next(c for c in ctx.registry if c.name == 'alertmanager').metrics.port}",
        ),
    )  # type: ignore[union-attr]
    changed |= atomic_write(d / "rules/gwops.rules.yml", rules(ctx.settings))
    for p in (d, d / "rules"):
        p.chmod(0o755)  # read by the container's user (nobody)
    write_key(ctx)
    return changed


def rules(settings: StackSettings) -> str:
    """The alert rules, thresholds from `monitoring.thresholds` (the Swarm stack's too)."""
    t = settings.monitoring.thresholds
    return COMPONENT.render(
        "rules/gwops.rules.yml.j2",
        error_ratio=t.error_ratio,
        latency_seconds=t.latency_p95_seconds,
        disk_free_ratio=t.disk_free_ratio,
        gateway_down_for=duration(t.alert_after_seconds),
        postgres_down_for=duration(t.alert_after_seconds),
        redis_down_for=duration(t.alert_after_seconds),
        backup_stale_for=duration(t.backup_stale_after_seconds),
    )


def write_key(ctx: FilesContext) -> None:
    """The gateway's key for the scrape, in a file (never in a compose file or an argument)."""
    write_secret(ctx, KEY_FILE, ctx.env.get("LITELLM_MASTER_KEY", ""))


def apply(stack: StackContext) -> None:
    """New config or rules into the running Prometheus (promtool first, then /-/reload)."""
    reload_config(
        stack, COMPONENT.service, stack.settings.monitoring.prometheus_port, ["promtool", "check", "config", CONFIG]
    )


def api(stack: StackContext, path: str, timeout: float = 5) -> dict:
    """A GET on Prometheus' HTTP API through its published port."""
    import json

    from gwops.health import http_request

    m = stack.settings.monitoring
    status, text = http_request(f"http://{host(m.bind)}:{m.prometheus_port}{path}", timeout)
    if status != 200:
        raise OSError(f"HTTP {status}: {text[:200]}")
    return json.loads(text)


def alerts(stack: StackContext) -> list[dict[str, str]]:
    """The alerts Prometheus has pending or firing, newest first. Raises OSError when it does
    not answer."""
    found = api(stack, "/api/v1/alerts")["data"]["alerts"]
    out = [
        {
            "alert": a["labels"].get("alertname", ""),
            "state": a["state"],
            "severity": a["labels"].get("severity", ""),
            "since": a.get("activeAt", ""),
            "summary": a.get("annotations", {}).get("summary", ""),
            "labels": {k: v for k, v in a["labels"].items() if k not in ("alertname", "severity", "project")},
        }
        for a in found
    ]
    return sorted(out, key=lambda a: a["since"], reverse=True)


def down_targets(stack: StackContext) -> list[str]:
    """The scrape targets of the running components that are not up, as `job: url health error`
    (a job with no target at all is listed too). Raises OSError when Prometheus does not answer."""
    wanted = {
        c.metrics.job
        for c in stack.registry
        if c.metrics is not None and c.enabled(stack.settings) and not c.image_absent(stack.settings, stack.docker)
    }
    active = api(stack, "/api/v1/targets?state=active")["data"]["activeTargets"]
    by_job: dict[str, list[dict]] = {}
    for t in active:
        by_job.setdefault(t["labels"].get("job", ""), []).append(t)
    # a job with no target yet is only news once discovery had its time (DNS every 5 s, a scrape)
    settled = uptime(stack) > 2 * stack.settings.monitoring.scrape_interval + 10
    out = [f"{job}: no target found" for job in sorted(wanted - set(by_job))] if settled else []
    out += [
        f"{job}: {t['scrapeUrl']} {t['health']} {t.get('lastError', '')}".strip()
        for job in sorted(wanted & set(by_job))
        for t in by_job[job]
        if t["health"] == "down"
    ]
    return out


def uptime(stack: StackContext) -> float:
    """Seconds since the Prometheus container started (0 when unknown)."""
    import datetime as dt

    c = stack.docker.container(COMPONENT.service)
    started = (c.attrs.get("State") or {}).get("StartedAt", "") if c is not None else ""
    try:
        at = dt.datetime.fromisoformat(started[:26] + "+00:00" if "." in started else started.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return (dt.datetime.now(dt.UTC) - at).total_seconds()


GATEWAY_SCRAPE_MAX = 5  # seconds: the gateway's scrape interval, at most (see last_look)


def gateway_interval(settings: StackSettings) -> int:
    return min(settings.monitoring.scrape_interval, GATEWAY_SCRAPE_MAX)


# LiteLLM counts a request in a callback that runs just after its answer: a scrape that counts
# every request a stopping gateway answered starts this long after the last one ended
COUNTED_AFTER = 1.0


def last_look(stack: StackContext, service: str) -> str | None:
    """Before a reload stops the old slot (`service`, drained): wait until Prometheus scraped each
    of its containers once more, so the requests they answered since their last scrape are
    counted (their counters go with them). At most one scrape interval and a few seconds; a
    Prometheus not running here, or one with no target there, is not waited for. Returns a
    warning when the scrape did not come."""
    since = time.time() + COUNTED_AFTER

    def scraped() -> bool | None:
        try:
            active = api(stack, "/api/v1/targets?state=active", timeout=2)["data"]["activeTargets"]
        except (OSError, ValueError, KeyError):
            return True  # Prometheus is not there (or not answering): nothing to wait for
        stamps = [t.get("lastScrape", "") for t in active if t["labels"].get("service") == service]
        return all(epoch(s) > since for s in stamps) or None

    if scraped():
        return None
    stack.say(f"waiting for Prometheus to scrape `{service}` once more (its last requests counted)")
    try:
        poll(scraped, gateway_interval(stack.settings) + COUNTED_AFTER + 5, 0.5)
    except Timeout:
        return (
            f"Prometheus did not scrape `{service}` again within {gateway_interval(stack.settings) + 6:g} s: "
            "its last requests may be missing from the gateway's counters"
        )
    return None


def epoch(stamp: str) -> float:
    """Prometheus' RFC 3339 time (`2026-11-24T03:20:01.123456789Z`, to the microsecond) as epoch
    seconds; 0 for none (a target never scraped says `0001-01-01T00:00:00Z`)."""
    import datetime as dt

    try:
        day, _, rest = stamp.rstrip("Z").partition("T")
        clock, _, frac = rest.partition(".")
        at = dt.datetime.fromisoformat(f"{day}T{clock}.{(frac + '000000')[:6]}+00:00")
    except ValueError:
        return 0.0
    return at.timestamp()


def status_row(stack: StackContext, row: dict) -> None:
    """A running Prometheus whose targets are down names them (a target not yet scraped is
    `unknown`, not down)."""
    if row["state"] != "running":
        return
    try:
        down = down_targets(stack)
    except (OSError, ValueError, KeyError) as exc:
        row.update(problem=f"its API does not answer: {exc}", next="`bin/ops logs prometheus`")
        return
    if down:
        row.update(
            problem="scrape targets down: " + "; ".join(down)[:600],
            next="`bin/ops logs <service>` of the target; `bin/ops alerts` lists what fired",
        )


COMPONENT = Component(
    name=SERVICE,
    package=__name__,
    description="metrics and alert rules",
    core=False,
    enabled=enabled,
    files=files,
    apply=apply,
    status_row=status_row,
    # not scraped in the Swarm stack: its Prometheus scrapes the stack's services by their tasks
    metrics=MetricsTarget("prometheus", 9090, swarm=False),
    volumes=("prometheus-data",),
    last_look=last_look,
    ready_path="/-/ready",
    ports=lambda s: [(s.monitoring.bind, s.monitoring.prometheus_port, "monitoring.prometheus_port")],
)
