"""Run parse -> schema -> consistency -> generate over the project's config sources."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gwops import constants as C
from gwops.config import consistency, ensembles, generate, ports
from gwops.config.models import MappingsFile, Provider, ProviderModel, ProvidersFile
from gwops.errors import ConfigError, Problem
from gwops.routecheck import RouteChecks
from gwops.schema import validate_doc
from gwops.yamlsrc import SourceDoc, load_file

BUILTIN_PROVIDER = "builtin"
BUILTIN_MODEL = "gwops-echo"


@dataclass
class Compiled:
    config: dict[str, Any]
    text: str
    sha256: str
    sources: dict[str, str]  # display path -> sha256 of the source bytes
    catalog: consistency.Catalog
    mappings: MappingsFile
    providers: ProvidersFile
    notes: list[str] = field(default_factory=list)

    def route_names(self) -> list[str]:
        """Concrete (non-wildcard) model names a client can request."""
        return generate.route_checks(self.config)[0]

    def route_checks(self) -> RouteChecks:
        names, optional, embeddings = generate.route_checks(self.config)
        return RouteChecks(names, optional, embeddings=embeddings)


def _source(path: Path, display: str) -> tuple[SourceDoc | None, list[Problem]]:
    if not path.exists():
        return SourceDoc(display, {}, {(): (1, 1)}), []
    return load_file(path, display)


def compile_sources(
    config_dir: Path,
    naming: str = "kebab-case",
    env: dict[str, str] | None = None,
    settings: Any = None,
    stack_file: Path | None = None,
    published: list[tuple[str, int, str]] | None = None,
) -> Compiled:
    """Compile `config_dir`'s providers and mappings. Raises ConfigError with every problem.
    With the host ports the stack publishes (`published`, set in `stack_file`: lines), the
    providers on this host are checked against them, and they against each other."""
    pdisplay = f"{C.CONFIG_DIR}/{C.PROVIDERS_FILE}"
    mdisplay = f"{C.CONFIG_DIR}/{C.MAPPINGS_FILE}"
    pdoc, pprob = _source(config_dir / C.PROVIDERS_FILE, pdisplay)
    mdoc, mprob = _source(config_dir / C.MAPPINGS_FILE, mdisplay)
    problems = pprob + mprob
    if pdoc is None or mdoc is None:
        raise ConfigError(problems)

    providers, sp = validate_doc(pdoc, ProvidersFile)
    mappings, sm = validate_doc(mdoc, MappingsFile)
    problems += sp + sm
    if providers is None or mappings is None:
        raise ConfigError(problems)

    notes: list[str] = []
    if not any(p.status == "active" and p.models for p in providers.providers.values()):
        builtin = Provider(type="mock", models=[ProviderModel(name=BUILTIN_MODEL)])
        providers = ProvidersFile(providers={**providers.providers, BUILTIN_PROVIDER: builtin})
        notes.append(
            f"no active provider serves a model: the built-in `{BUILTIN_MODEL}` model "
            "(answers without any provider) is configured"
        )

    catalog, problems = consistency.check(pdoc, mdoc, providers, mappings, naming, env)
    if published is not None:
        problems += ports.collisions(published, stack_file or config_dir / "stack.yaml", pdoc, providers)
    if problems:
        raise ConfigError(problems)
    notes += [r.note() for r in catalog.resolutions]
    config = generate.build_config(catalog, mappings, providers.providers)
    if settings is not None and settings.database.enabled:
        # each worker's pool: LiteLLM writes this into DATABASE_URL's `connection_limit` itself
        # (its default, 10, would replace the URL's), and the connection budget counts it
        config["general_settings"]["database_connection_pool_limit"] = settings.database.pool
    if settings is not None and not settings.monitoring.enabled:
        # nothing scrapes the gateway: LiteLLM's Prometheus callback would cost every request
        # (a few % of a worker's CPU at saturation) and count for nobody
        litellm = config["litellm_settings"]
        litellm["callbacks"] = [c for c in litellm.get("callbacks", []) if c != "prometheus"]
        if not litellm["callbacks"]:
            del litellm["callbacks"]
    sidecar = settings.optillm.enabled if settings is not None else None
    problems = ensembles.check(mdoc, mappings, config, sidecar)
    if problems:
        raise ConfigError(problems)
    if mappings.ensembles:
        ensembles.add_routes(config, mappings)
        catalog.env_needed.setdefault(ensembles.KEY_ENV, ("ensembles",))
    text = generate.render_yaml(config)
    sources = {d.file: d.sha256 for d in (pdoc, mdoc) if d.sha256}
    return Compiled(config, text, generate.sha256_text(text), sources, catalog, mappings, providers, notes)
