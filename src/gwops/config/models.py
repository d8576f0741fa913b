"""Schema of `config/providers.yaml` and `config/model-mappings.yaml` (strict models).

Accepts the shape documented by the project we replace (seed 001): `routes:` or top-level
`exact_matches` / `capabilities` / `patterns`, `routing_rules.default_provider`,
`fallback_chains` with `chain:`, provider models given as plain strings.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from gwops.schema import Strict

ProviderStatus = Literal["active", "disabled", "template", "pending_integration"]


class ProviderModel(Strict):
    name: str = Field(min_length=1)
    aliases: list[str] = []
    capabilities: list[str] = []
    context_window: int | None = Field(None, gt=0)
    rpm: int | None = Field(None, gt=0)
    tpm: int | None = Field(None, gt=0)
    options: dict[str, Any] = {}
    # descriptive keys found in existing files; carried, never generated
    description: str | None = None
    quantization: str | None = None
    size: str | None = None
    family: str | None = None
    specialty: str | None = None
    parameters: str | None = None


class Provider(Strict):
    type: str
    base_url: str | None = None
    status: ProviderStatus = "active"
    api_key_env: str | None = None
    api_key: Any = None  # only ever to refuse a literal key with a clear message
    description: str | None = None
    health_endpoint: str | None = None
    timeout: float | None = Field(None, gt=0)
    options: dict[str, Any] = {}
    models: list[ProviderModel] = []
    default_model: str | None = None  # what the provider stands for where a model is expected
    # a required provider that does not answer fails `up` and refuses a reload; an optional one
    # (the default) only makes its routes degraded, so one dead backend never freezes the config
    required: bool = False

    @field_validator("models", mode="before")
    @classmethod
    def _string_models(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [{"name": m} if isinstance(m, str) else m for m in v]
        return v

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        if v is not None and not v.replace("_", "A").isalnum():
            raise ValueError(f"`{v}` is not an environment variable name (letters, digits, `_`)")
        return v


class ProvidersFile(Strict):
    version: str | int | None = None
    providers: dict[str, Provider] = {}

    @field_validator("providers", mode="before")
    @classmethod
    def _none_is_empty(cls, v: Any) -> Any:
        return {} if v is None else v


class ExactMatch(Strict):
    provider: str
    backend_model: str | None = None
    fallback_chain: list[str] = []
    description: str | None = None


class Capability(Strict):
    models: list[str] = Field(default_factory=list, alias="preferred_models")
    description: str | None = None
    routing_strategy: str | None = None
    provider: str | None = None


class Pattern(Strict):
    pattern: str
    provider: str
    fallback_chain: list[str] = []
    description: str | None = None


class DefaultRoute(Strict):
    provider: str
    model: str | None = None


class Caching(Strict):
    enabled: bool = False
    ttl: int = Field(600, gt=0)


class RouterSettings(Strict):
    routing_strategy: Literal[
        "simple-shuffle",
        "least-busy",
        "usage-based-routing",
        "usage-based-routing-v2",
        "latency-based-routing",
        "cost-based-routing",
    ] = "simple-shuffle"
    num_retries: int = Field(2, ge=0)
    allowed_fails: int = Field(3, ge=0)
    cooldown_time: float = Field(30, ge=0)
    timeout: float = Field(600, gt=0)
    caching: Caching = Caching()
    default_provider: str | None = None  # seed 001 keeps the default route here


class GeneralSettings(Strict):
    """LiteLLM's `general_settings` the compiler emits besides the master key (seed 004's)."""

    # only proxy admins sign in to LiteLLM's admin UI (keys are made by `bin/ops keys`)
    ui_access_mode: Literal["admin_only", "all"] = "admin_only"
    # a client's Authorization and custom headers never reach a provider
    forward_client_headers_to_llm_api: bool = False


class FallbackChain(Strict):
    chain: list[str]
    description: str | None = None


class Routes(Strict):
    exact_matches: dict[str, ExactMatch] = {}
    capabilities: dict[str, Capability] = {}
    patterns: list[Pattern] = []

    @field_validator("exact_matches", mode="before")
    @classmethod
    def _provider_only(cls, v: Any) -> Any:
        if isinstance(v, dict):  # `"llama3.1:latest": ollama` form (seed 001: name -> provider)
            return {k: ({"provider": c} if isinstance(c, str) else c) for k, c in v.items()}
        return v

    @field_validator("capabilities", mode="before")
    @classmethod
    def _list_capability(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: ({"preferred_models": c} if isinstance(c, list) else c) for k, c in v.items()}
        return v

    @field_validator("patterns", mode="before")
    @classmethod
    def _dict_patterns(cls, v: Any) -> Any:
        if isinstance(v, dict):  # `"qwen*": {provider: vllm}` form
            return [{"pattern": k, **(c if isinstance(c, dict) else {"provider": c})} for k, c in v.items()]
        return v


RATE_LIMITS_HINT = (
    "rate limits are set per model in config/providers.yaml: `rpm:` and `tpm:` under "
    "`providers.<id>.models[]` (nothing is assumed when they are absent)"
)


class Ensemble(Strict):
    """An OptiLLM ensemble: the handle clients request runs `approach` over the route `base`
    (OptiLLM's selector `<approach>-<base>`), in the OptiLLM sidecar (see gwops.config.ensembles)."""

    approach: str = Field(description="OptiLLM approach: moa, bon or self_consistency")
    base: str = Field(description="the gateway route the approach calls (never an ensemble)")
    description: str | None = None


class MappingsFile(Routes):
    # keys of the seed project's other files or of LiteLLM's config: say what to write instead
    key_hints: ClassVar[dict[str, str]] = {
        "rate_limits": RATE_LIMITS_HINT,
        "cache_params": "caching is `router_settings: {caching: {enabled: true, ttl: 3600}}`; "
        "the stack's own Redis is used",
        "model_list": "this is a LiteLLM config: turn it into sources with `bin/ops config import FILE`",
    }

    version: str | int | None = None
    routes: Routes | None = None
    default: DefaultRoute | None = None
    fallback_chains: dict[str, FallbackChain] = {}
    load_balanced: dict[str, list[str]] = Field(default_factory=dict)
    router_settings: RouterSettings | None = None
    routing_rules: RouterSettings | None = None  # seed 001 name for router_settings
    general_settings: GeneralSettings = GeneralSettings()
    ensembles: dict[str, Ensemble] = {}

    @field_validator("fallback_chains", mode="before")
    @classmethod
    def _list_chain(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: ({"chain": c} if isinstance(c, list) else c) for k, c in v.items()}
        return v

    @model_validator(mode="after")
    def _one_router_section(self) -> MappingsFile:
        if self.router_settings is not None and self.routing_rules is not None:
            raise ValueError("give either `router_settings` or `routing_rules`, not both")
        return self

    def merged_routes(self) -> Routes:
        """Top-level and `routes:` entries together (both shapes exist in the wild)."""
        r = self.routes or Routes()
        return Routes(
            exact_matches={**self.exact_matches, **r.exact_matches},
            capabilities={**self.capabilities, **r.capabilities},
            patterns=[*self.patterns, *r.patterns],
        )

    def settings(self) -> RouterSettings:
        return self.router_settings or self.routing_rules or RouterSettings()
