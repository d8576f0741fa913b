"""The Swarm stack file and the files it names (pure: inputs in, texts out).

Secrets: each is an external Docker secret whose name carries a digest of its value, so the file
names them without holding them, and a changed value is a new name (a rolling update). Configs:
named by their content the same way (`<stack>_litellm_<config version>`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from gwops import components
from gwops.components import gateway, prometheus
from gwops.components.base import Component, template_env
from gwops.render import proxy_config
from gwops.settings import StackSettings

FOLDER = Path(__file__).parent
SLOT = "swarm"  # the proxy's one backend: the gateway service's healthy tasks
CORE_SECRETS = ("LITELLM_MASTER_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD")

# the entrypoint of services that read secrets: each file in /run/secrets/ becomes the variable of
# its name, inside the container only, then the image's own command runs (`$$`: the stack file's
# escape for a literal `$`)
SECRETS_ENTRY = 'for f in /run/secrets/*; do [ -f "$$f" ] && export "$${f##*/}=$$(cat "$$f")"; done; {extra}exec "$$@"'
# the gateway's health check: `retries` misses `interval` apart after the start period is unhealthy
HEALTH_INTERVAL, HEALTH_RETRIES = 2, 3
# connection_limit: the pool of each worker's database client (settings.database.pool)
DATABASE_URL = (
    'export DATABASE_URL="postgresql://$${POSTGRES_USER}:$${POSTGRES_PASSWORD}@postgres:5432/'
    '$${POSTGRES_DB}?connection_limit={pool}"; '
)


def gateway_health(ready_timeout: float) -> dict[str, int]:
    """The gateway's health check, unhealthy after `ready_timeout` in all (at least 1 s): a start
    period, then `retries` misses `interval` apart; shorter ones for a timeout under 6 s."""
    total = max(1, int(ready_timeout))
    interval = max(1, min(HEALTH_INTERVAL, total // HEALTH_RETRIES))
    retries = max(1, min(HEALTH_RETRIES, total // interval))
    return {"interval": interval, "retries": retries, "start_period": total - interval * retries}


def digest(value: str | bytes, n: int = 12) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return hashlib.sha256(raw).hexdigest()[:n]


def secret_name(stack: str, key: str, value: str) -> str:
    """The name of a secret's Docker object: a digest of the value (never the value itself)."""
    return f"{stack}_{key.lower()}_{digest(b'gwops-swarm-secret:' + value.encode())}"


@dataclass(frozen=True)
class Inputs:
    stack: str
    settings: StackSettings
    version: str  # the LiteLLM config version (state/versions/<version>.yaml)
    images: dict[str, str]  # component -> image
    image_ids: dict[str, str]  # component -> its image's ID (a rebuilt local image keeps its tag)
    commands: dict[str, list[str]]  # component -> the image's entrypoint and command
    secrets: dict[str, str]  # variable -> Docker secret name
    database: bool  # LiteLLM's database features (migrated by `swarm deploy` before the gateway)
    env: dict[str, str]  # `.env`'s values (only POSTGRES_USER and POSTGRES_DB are written)
    socket_gid: int = 0  # the group of the engine's socket (Prometheus' service discovery reads it)


def services(settings: StackSettings) -> list[Component]:
    """The components with a Swarm service, turned on in `settings`, in the registry's order."""
    return [c for c in components.REGISTRY if c.swarm_template is not None and c.enabled(settings)]


def scrape_jobs(settings: StackSettings) -> list[dict[str, object]]:
    """The Swarm Prometheus' jobs: each Swarm service's metrics target, by job name."""
    jobs = [
        {
            "job": c.metrics.job,
            "service": c.service,
            "port": c.metrics.port,
            "path": c.metrics.path,
            "gateway_key": c.metrics.gateway_key,
        }
        for c in services(settings)
        if c.metrics is not None and c.metrics.swarm
    ]
    return sorted(jobs, key=lambda j: str(j["job"]))


# config key in the stack file -> (object name prefix, file under state/swarm/)
CONFIGS = {
    "proxy_cfg": ("haproxy", "haproxy.cfg"),
    "proxy_slot_map": ("slotmap", "slot.map"),
    "prometheus_config": ("prometheus", "prometheus.yml"),
    "prometheus_rules": ("rules", "gwops.rules.yml"),
}


def _env():
    env = template_env(FOLDER)
    env.filters["json"] = json.dumps  # a YAML flow value (jinja's tojson escapes for HTML)
    return env


def config_files(settings: StackSettings, stack: str) -> dict[str, str]:
    """The files the stack's Docker configs are made of (but the LiteLLM config: a version),
    by their name under state/swarm/."""
    gw = settings.gateway
    # start-first updates run one task more than `replicas` (and a rollback one more again)
    out = {
        "haproxy.cfg": proxy_config((SLOT,), {SLOT: "gateway"}, gw, gw.replicas * 2),
        "slot.map": f"active slot_{SLOT}\n",
    }
    if settings.monitoring.enabled:
        out["prometheus.yml"] = prometheus.swarm_config(settings, stack, scrape_jobs(settings))
        out["gwops.rules.yml"] = prometheus.rules(settings)
    return out


def render(inp: Inputs, litellm_config: Path, folder: Path) -> str:
    """The stack file. `litellm_config`: the config version's file; `folder`: where
    `config_files` were written (absolute paths: the file is deployed from anywhere)."""
    gw = inp.settings.gateway
    m = inp.settings.monitoring
    gateway_command = [
        *inp.commands["gateway"],
        "--config",
        "/app/config.yaml",
        "--port",
        "4000",
        "--num_workers",
        str(gw.workers),
        "--run_gunicorn",
        "--prometheus_metrics_port",
        str(gateway.METRICS_PORT),
    ]
    gateway_secrets = [k for k in inp.secrets if k != "POSTGRES_PASSWORD" or inp.database]
    configs = {"litellm_config": {"name": f"{inp.stack}_litellm_{inp.version}", "file": str(litellm_config)}}
    for key, (prefix, name) in CONFIGS.items():
        if m.enabled or not key.startswith("prometheus"):
            configs[key] = {
                "name": f"{inp.stack}_{prefix}_{digest((folder / name).read_bytes())}",
                "file": str(folder / name),
            }
    return (
        _env()
        .get_template("stack.yml.j2")
        .render(
            stack=inp.stack,
            services=services(inp.settings),
            volumes=[v for c in services(inp.settings) for v in c.volumes],
            images=inp.images,
            image_ids=inp.image_ids,
            port=gw.port,
            gw=gw,
            version=inp.version,
            monitor=int(inp.settings.swarm.update_monitor),
            state_label=inp.settings.swarm.state_label,
            secrets_entry=SECRETS_ENTRY.replace("{extra}", ""),
            gateway_entry=SECRETS_ENTRY.replace(
                "{extra}", DATABASE_URL.replace("{pool}", str(inp.settings.database.pool)) if inp.database else ""
            ),
            database=inp.database,
            health=gateway_health(gw.ready_timeout),
            gateway_command=gateway_command,
            gateway_secrets=gateway_secrets,
            postgres_command=inp.commands["postgres"],
            postgres_user=inp.env.get("POSTGRES_USER") or "litellm",
            postgres_db=inp.env.get("POSTGRES_DB") or "litellm",
            configs=configs,
            secrets=inp.secrets,
            prometheus={
                "retention_time": m.retention_time,
                "retention_size": m.retention_size,
                "socket_gid": inp.socket_gid,
            }
            if m.enabled
            else None,
        )
    )


def only(text: str, services: set[str]) -> str:
    """The stack file `text` with `services` alone (volumes, secrets, configs and networks kept):
    what a first deploy starts before the rest (Postgres, to be migrated before any gateway)."""
    import yaml

    data = yaml.safe_load(text)
    data["services"] = {k: v for k, v in data["services"].items() if k in services}
    return "# AUTO-GENERATED by gwops: the first step of a first `bin/ops swarm deploy`\n" + yaml.safe_dump(
        data, sort_keys=False
    )
