"""Stack settings (`config/stack.yaml`): images, ports, timeouts, naming rule.

Every key has an embedded default, so a fresh clone runs with no settings file at all.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, create_model, field_validator, model_validator

from gwops.errors import ConfigError
from gwops.pins import COMPONENTS as PINS
from gwops.pins import LITELLM_VERSION, REFUSED_LITELLM, gateway_pin
from gwops.schema import Strict, validate_doc
from gwops.yamlsrc import load_file

FLOATING_TAGS = {"latest", "main-latest", "main-stable", "stable", "main", "edge"}


class ImagePin(Strict):
    official: str = Field(description="official image, pinned to a release")
    local: str | None = Field(
        None,
        description="tag of the drop-in image `bin/ops images build` makes offline (none: no offline build exists)",
    )

    @field_validator("official")
    @classmethod
    def _pinned(cls, v: str) -> str:
        if "@sha256:" in v:
            return v
        name, _, tag = v.rpartition(":")
        if not name or "/" in tag:
            raise ValueError(f"`{v}` has no tag: pin a release, e.g. `{v}:1.2.3`")
        if tag in FLOATING_TAGS:
            raise ValueError(f"`{v}` uses the floating tag `{tag}`: pin a release")
        return v


VERSION_TAG = re.compile(r"v?(\d+\.\d+\.\d+\S*)")


class ImageChoiceSettings(Strict):
    prefer: Literal["auto", "local", "official"] = "auto"
    base: str = "gwops/debian:bookworm"
    litellm_version: str = Field(LITELLM_VERSION, pattern=r"^\d+\.\d+\.\d+(\.post\d+)?$")

    @model_validator(mode="after")
    def _gateway_follows_version(self) -> ImageChoiceSettings:
        """`images.gateway` unset: the images of `litellm_version`. Set: its tags may not name
        another release (the stack would run either version by which image is present)."""
        version = self.litellm_version
        if "gateway" not in self.model_fields_set:
            pin = gateway_pin(version)
            object.__setattr__(self, "gateway", ImagePin(official=pin.official, local=pin.local))
            return self
        pin = self.gateway  # type: ignore[attr-defined]
        for ref in (pin.official, pin.local):
            m = VERSION_TAG.fullmatch((ref or "").rpartition(":")[2]) if ref and "@" not in ref else None
            if m and m.group(1) != version:
                raise ValueError(
                    f"`images.gateway` names LiteLLM {m.group(1)} (`{ref}`) but `litellm_version` is {version}: "
                    "remove `images.gateway` (it follows `litellm_version`) or make them agree"
                )
        return self


# `images.<component>`: one pin per component of the registry, its defaults from the component
ImagesSettings = create_model(
    "Images",
    __base__=ImageChoiceSettings,
    **{name: (ImagePin, ImagePin(official=p.official, local=p.local)) for name, p in PINS.items()},  # type: ignore[call-overload]
)


class GatewaySettings(Strict):
    bind: str = "127.0.0.1"
    port: int = Field(4000, ge=1, le=65535)
    ready_timeout: float = Field(120, gt=0, description="seconds to wait for the gateway to be ready")
    route_check_timeout: float = Field(30, gt=0)
    # N+1: the active config version runs as `replicas` containers behind the proxy, so a crashed
    # one costs no new request (the proxy takes it out of rotation within about a second and
    # retries connections that failed on another; Docker restarts it).
    replicas: int = Field(2, ge=1, le=16, description="gateway containers per config version")
    # Admission control at the proxy: a replica gets at most this many requests at once, the rest
    # wait in the proxy's queue (30 s at most). Without it, a replica that is starting or briefly
    # slow gets every waiting request at once and never catches up.
    max_inflight: int = Field(64, ge=1, le=100000, description="concurrent requests per gateway replica")
    # One LiteLLM process saturates a core near 50 req/s. Each replica runs `workers` processes
    # under gunicorn with the app preloaded: workers are forked from one started process, so a
    # replica with two workers starts in the time and CPU of one (uvicorn's own supervisor imports
    # LiteLLM once per worker, about 3x the CPU, and kills workers slow to answer its ping).
    # Two workers per replica: while one replica restarts, the other still spreads over two cores.
    workers: int = Field(2, ge=1, le=16, description="LiteLLM worker processes per gateway replica")
    # A reload starts the new gateway at this CPU weight (Docker's default is 1024) and raises it
    # before the switch, so starting it never takes CPU the serving gateway needs
    start_cpu_weight: int = Field(2, ge=2, le=1024, description="CPU weight of a gateway while it starts")
    # The idle slot's replicas wait as standbys (local image): LiteLLM imported, no config yet. A
    # reload hands them the new version, and its start costs the config load and the fork instead
    # of the import (most of a start's CPU). They cost memory (about 300 MB each) and nothing else.
    standby: bool = Field(True, description="keep the idle slot's gateway replicas started and waiting")
    # A standby's import is on no request's path and nobody waits for it, so it runs under a CPU
    # quota: on virtual CPUs, work on the other core slows the serving gateway even at the lowest
    # priority (measured on 2 vCPUs: two idle-priority busy loops raised its p99 from 34 to 48 ms;
    # standbys loading with no limit, 32 to 48 ms; at 0.25 CPU each, to 40; at 0.1, to 35). A
    # reload raises it to `start_cpus` when it hands a standby its config.
    standby_cpus: float = Field(0.25, ge=0, le=64, description="CPUs each standby replica may use (0: no limit)")
    # A reload hands a standby its config: it loads it and forks its workers (3-4 s on an idle
    # machine; 5-6 s under this limit), then runs with none. Measured at 20 req/s on 2 cores, the
    # serving gateway's p99 during reloads: 1.59x steady with no start limit, 1.35-1.41x with 0.5.
    start_cpus: float = Field(
        0.5, ge=0, le=64, description="CPUs each standby replica may use while a reload starts it (0: no limit)"
    )
    drain_timeout: float = Field(
        600,
        gt=0,
        description="seconds the old gateway may take to finish its "
        "requests and streams after a switch (at least the longest stream)",
    )
    watch_seconds: float = Field(2, ge=0, description="after a switch, how long the new gateway is watched")
    max_error_rate: float = Field(0.2, gt=0, le=1, description="5xx share in the watch window that rolls back")
    refuse_versions: list[str] = Field(
        default_factory=lambda: list(REFUSED_LITELLM),
        description="LiteLLM releases never run (`up` and `upgrade` refuse them; the default: the two "
        "compromised releases)",
    )

    @field_validator("bind")
    @classmethod
    def _bind(cls, v: str) -> str:
        if not re.fullmatch(r"[0-9.]+|\[?[0-9a-fA-F:]+\]?", v):
            raise ValueError(f"`{v}` is not an IP address")
        return v


class DatabaseSettings(Strict):
    """LiteLLM's database features: virtual keys, teams, budgets, spend (in Postgres). With the
    local image its engine is the WASM adapter (gateway image, prisma_adapter/), with the official
    one Prisma's native engine. Migrations are applied by `up` (gwops.migrations), never by a gateway."""

    enabled: bool = Field(True, description="keys, teams, budgets and spend in Postgres (false: master key only)")
    migrate_timeout: float = Field(300, gt=0, description="seconds the migrations of one `up` may take")
    # every gateway worker has its own client and pool, and during a reload both slots serve:
    # 2 x replicas x workers x pool must fit Postgres' max_connections (see `connections`)
    pool: int = Field(4, ge=1, le=100, description="database connections per gateway worker (connection_limit)")
    # LiteLLM writes a spend-log row per request and never deletes one: `bin/ops purge` (run by
    # `cron install` on `purge_schedule`) deletes the per-request rows older than this, in small
    # batches; the daily spend tables (one row per key, model and day) are kept
    retention_days: int = Field(90, ge=0, description="days of spend logs, error logs and audit rows kept (0: all)")
    purge_schedule: str | None = Field("30 3 * * *", description="cron schedule of `bin/ops purge` (null: none)")


PG_MAX_CONNECTIONS = 100  # Postgres' default, which the stack keeps
# kept for the rest: the exporter, a backup's pg_dump, the migrations' psql, `bin/ops spend`, an
# operator's psql, and Postgres' own superuser slots (3)
PG_RESERVE = 10


def connections(settings: StackSettings) -> int:
    """The most database connections the gateways can hold at once: each worker's client opens
    up to `database.pool` (its engine's pool), and during a reload both slots' replicas run (a
    standby opens none until it is handed a config, and then it is the other slot)."""
    if not settings.database.enabled:
        return 0
    gw = settings.gateway
    return 2 * gw.replicas * gw.workers * settings.database.pool


def connection_problem(settings: StackSettings) -> tuple[str, str] | None:
    """(message, hint) when the gateways could exhaust Postgres' connections, else None."""
    need, room = connections(settings), PG_MAX_CONNECTIONS - PG_RESERVE
    if need <= room:
        return None
    gw, pool = settings.gateway, settings.database.pool
    fits = room // (2 * gw.replicas * gw.workers)
    return (
        f"the gateways can hold {need} database connections at once (2 slots during a reload x "
        f"{gw.replicas} replicas x {gw.workers} workers x `database.pool` {pool}), more than the {room} "
        f"Postgres has for them ({PG_MAX_CONNECTIONS} `max_connections` less {PG_RESERVE} kept for backups, "
        "migrations, the exporter and tools): a reload would fail with `too many clients`",
        f"set `database.pool` to {fits} or less"
        if fits >= 1
        else "lower `gateway.replicas` or `gateway.workers` (or `database.enabled: false`)",
    )


class HealthSettings(Strict):
    service_timeout: float = Field(120, gt=0, description="seconds a service may take to be healthy")


class BackupSettings(Strict):
    dir: str = Field("backups", description="backup directory; relative paths are under the project")
    schedule: str = Field("17 3 * * *", description="cron schedule of `bin/ops cron install`")
    timeout: float = Field(30, gt=0, description="seconds to wait for the database before failing")
    compression_level: int = Field(3, ge=1, le=19)
    verify: bool = True
    keep_last: int = Field(7, ge=1)
    keep_daily: int = Field(7, ge=0)
    keep_weekly: int = Field(4, ge=0)
    keep_monthly: int = Field(6, ge=0)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        return _cron(v) or v


def _cron(v: str | None) -> str | None:
    from croniter import croniter

    if v is not None and not croniter.is_valid(v):
        raise ValueError(f"`{v}` is not a cron schedule (5 fields, e.g. `17 3 * * *`)")
    return v


class ProbeSettings(Strict):
    schedule: str | None = Field(
        None, description="cron schedule of `bin/ops probe` (installed by `bin/ops cron install`); none: not scheduled"
    )

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str | None) -> str | None:
        return _cron(v)


class ReceiverSettings(Strict):
    """Where alerts go: webhooks (e.g. a chat or paging integration) and e-mail addresses."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    webhooks: list[str] = Field(default_factory=list, description="URLs that receive every alert (POST, JSON)")
    emails: list[str] = Field(default_factory=list, description="addresses that receive every alert (needs `smtp`)")


class SmtpSettings(Strict):
    smarthost: str = Field(description="host:port of the mail relay")
    sender: str = Field(description="From: address")
    username: str | None = None
    password_env: str | None = Field(None, description="variable in `.env` holding the relay's password")
    require_tls: bool = True


class ThresholdSettings(Strict):
    error_ratio: float = Field(0.05, gt=0, le=1, description="share of failed gateway requests over 5 min")
    latency_p95_seconds: float = Field(30, gt=0, description="gateway request latency, 95th percentile over 5 min")
    disk_free_ratio: float = Field(0.10, gt=0, lt=1, description="free share of a filesystem")
    backup_slack_hours: float = Field(1, ge=0, description="hours past the backup schedule before a backup is stale")
    alert_after_seconds: int = Field(
        60, ge=0, description="how long the gateway, Postgres or Redis is down before it alerts"
    )
    backup_stale_after_seconds: int = Field(
        300, ge=0, description="how long the last verified backup is stale before it alerts"
    )


class MonitoringSettings(Strict):
    enabled: bool = Field(True, description="Prometheus, Alertmanager and the exporters, started by `up`")
    bind: str = "127.0.0.1"
    prometheus_port: int = Field(9090, ge=1, le=65535)
    alertmanager_port: int = Field(9093, ge=1, le=65535)
    grafana_port: int = Field(3000, ge=1, le=65535)
    scrape_interval: int = Field(15, ge=1, le=300, description="seconds between scrapes (and rule evaluations)")
    retention_time: str = Field("15d", pattern=r"^[0-9]+(ms|s|m|h|d|w|y)$")
    retention_size: str = Field("2GB", pattern=r"^[0-9]+(B|KB|MB|GB|TB|PB|EB)$")
    thresholds: ThresholdSettings = ThresholdSettings()
    group_wait_seconds: int = Field(
        30, ge=0, description="Alertmanager waits this long to group a new alert's first notification"
    )
    group_interval_seconds: int = Field(
        300, ge=1, description="Alertmanager notifies changes of a group (new or resolved alerts) at most this often"
    )
    receivers: list[ReceiverSettings] = Field(default_factory=list)
    smtp: SmtpSettings | None = None

    _bind = field_validator("bind")(GatewaySettings._bind.__func__)  # type: ignore[attr-defined]


class OptiLLMSettings(Strict):
    """The OptiLLM sidecar that runs the ensembles of config/model-mappings.yaml (`ensembles:`)."""

    enabled: bool = Field(False, description="run the OptiLLM sidecar (needed by `ensembles:`)")
    bind: str = "127.0.0.1"
    port: int = Field(4020, ge=1, le=65535, description="host port of the sidecar (its own client key)")

    _bind = field_validator("bind")(GatewaySettings._bind.__func__)  # type: ignore[attr-defined]


HOST_GATEWAY = "host-gateway"  # the address containers reach the host at (host.docker.internal)


def _backend_bind(v: str) -> str:
    return v if v == HOST_GATEWAY else GatewaySettings._bind.__func__(GatewaySettings, v)  # type: ignore[attr-defined]


class ModelServerSettings(Strict):
    """A model server run by the stack on the host network (README, Model servers run by the
    stack). It listens on `bind`: by default the address the gateway reaches the host at
    (host.docker.internal: Docker's bridge gateway), which is neither loopback, where the
    gateway cannot reach it, nor the LAN."""

    enabled: bool = False
    bind: str = Field(
        HOST_GATEWAY, description="`host-gateway` or an address of the host (0.0.0.0 opens it to the LAN)"
    )
    port: int = Field(ge=1, le=65535)
    gpu: str | None = Field(None, description="GPUs to reserve: `all` or a comma-separated list of device ids")
    extra_args: list[str] = Field(default_factory=list, description="more arguments for the server")

    _bind = field_validator("bind")(lambda cls, v: _backend_bind(v))


class LlamaCppSettings(ModelServerSettings):
    port: int = Field(8080, ge=1, le=65535)
    model: str | None = Field(None, description="the GGUF file on the host (mounted read-only)")
    ctx_size: int = Field(4096, ge=64)
    embeddings: bool = Field(False, description="serve /v1/embeddings (`--embeddings`)")

    @model_validator(mode="after")
    def _model(self) -> LlamaCppSettings:
        if self.enabled and not self.model:
            raise ValueError("`model:` (a GGUF file on the host) is needed when llama_cpp is enabled")
        if self.model and not self.model.startswith("/"):
            raise ValueError(f"`model: {self.model}` must be an absolute path on the host")
        return self


class OllamaSettings(ModelServerSettings):
    port: int = Field(11434, ge=1, le=65535)
    models_dir: str = Field("/srv/ollama", description="the host folder Ollama keeps its models in")


class VllmSettings(ModelServerSettings):
    port: int = Field(8001, ge=1, le=65535)
    model: str | None = Field(None, description="a Hugging Face model id or a path under `models_dir`")
    models_dir: str = Field("/srv/huggingface", description="the host folder of the Hugging Face cache (read-only)")
    gpu: str | None = "all"

    @model_validator(mode="after")
    def _model(self) -> VllmSettings:
        if self.enabled and not self.model:
            raise ValueError("`model:` is needed when vllm is enabled")
        return self


class ModelServersSettings(Strict):
    llama_cpp: LlamaCppSettings = LlamaCppSettings()
    ollama: OllamaSettings = OllamaSettings()
    vllm: VllmSettings = VllmSettings()


class SwarmSettings(Strict):
    """`bin/ops swarm deploy`: the same stack on Docker Swarm (see README, Docker Swarm)."""

    state_label: str = Field(
        "gwops.state",
        pattern=r"^[a-z0-9][a-z0-9._-]*$",
        description="node label (`=true`) that pins Postgres and Redis to one node",
    )
    update_monitor: float = Field(
        10,
        ge=0,
        le=600,
        description="seconds each new gateway task is watched "
        "after it is healthy; a failure in that time rolls the update back",
    )


class StackSettings(Strict):
    # None: derived from the checkout and kept in `.env` (see gwops.projectname.resolve)
    project_name: str | None = Field(None, description="Compose project name; default: derived from the checkout")
    naming: Literal["kebab-case", "any"] = "kebab-case"
    images: ImagesSettings = ImagesSettings()  # type: ignore[valid-type]
    gateway: GatewaySettings = GatewaySettings()
    database: DatabaseSettings = DatabaseSettings()
    health: HealthSettings = HealthSettings()
    backups: BackupSettings = BackupSettings()
    probe: ProbeSettings = ProbeSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    optillm: OptiLLMSettings = OptiLLMSettings()
    backends: ModelServersSettings = ModelServersSettings()
    swarm: SwarmSettings = SwarmSettings()

    @field_validator("project_name")
    @classmethod
    def _project(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", v):
            raise ValueError("must be lowercase letters, digits, `-` or `_` (a Compose project name)")
        return v


def load_settings(path: Path, display: str = "config/stack.yaml") -> StackSettings:
    """Load stack settings; a missing file means every default."""
    if not path.exists():
        return StackSettings()
    doc, problems = load_file(path, display)
    if doc is None:
        raise ConfigError(problems)
    settings, problems = validate_doc(doc, StackSettings)
    if settings is None:
        raise ConfigError(problems)
    refused = settings.images.litellm_version in settings.gateway.refuse_versions
    if refused:
        where = ("images", "litellm_version") if ("images", "litellm_version") in doc.marks else ("gateway",)
        raise ConfigError(
            [
                doc.problem(
                    where,
                    f"LiteLLM {settings.images.litellm_version} is refused (`gateway.refuse_versions`)",
                    f"pin another release: `bin/ops upgrade --to VERSION` (the default is {LITELLM_VERSION})",
                )
            ]
        )
    budget = connection_problem(settings)
    if budget is not None:
        where = next(
            (p for p in (("database", "pool"), ("gateway", "workers"), ("gateway", "replicas")) if p in doc.marks),
            ("database", "pool"),
        )
        raise ConfigError([doc.problem(where, *budget)])
    return settings
