"""Consistency stage: cross-references between providers and mappings, cycles, secrets, names.

Builds the route table (`Catalog`) the generator uses, and reports every problem with the file
and line of the offending entry.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from gwops.config.models import (
    MappingsFile,
    Provider,
    ProviderModel,
    ProvidersFile,
)
from gwops.config.providers import REGISTRY
from gwops.config.resolve import Resolution, Route, pick_model
from gwops.config.route_rules import RouteRules
from gwops.config.urls import example, url_defects
from gwops.errors import Problem
from gwops.yamlsrc import KeyPath, SourceDoc

KEBAB = re.compile(r"[a-z0-9]+(?:[-.][a-z0-9]+)*")
PROVIDER_ID = re.compile(r"[a-z0-9][a-z0-9_-]*")
SECRET_PATTERNS = [
    re.compile(r"^sk-[A-Za-z0-9_-]{16,}$"),  # OpenAI / LiteLLM style
    re.compile(r"^sk-ant-[A-Za-z0-9_-]{16,}$"),
    re.compile(r"^(gh[pousr]|hf)_[A-Za-z0-9]{20,}$"),
    re.compile(r"^AKIA[0-9A-Z]{16}$"),
    re.compile(r"^xox[abp]-[A-Za-z0-9-]{10,}$"),
]
SECRET_KEYS = re.compile(r"(^|_)(api_?key|secret|password|token)$", re.I)


@dataclass(frozen=True)
class Deployment:
    """One backend behind a public model name (the model's name at its provider)."""

    provider_id: str
    provider: Provider
    model: ProviderModel
    path: KeyPath  # where it was declared in providers.yaml


@dataclass
class Catalog:
    """Everything the generator needs, resolved and checked."""

    deployments: dict[str, list[Deployment]] = field(default_factory=dict)  # public -> backends
    aliases: dict[str, str] = field(default_factory=dict)  # alias -> public name
    capabilities: dict[str, list[str]] = field(default_factory=dict)  # capability route -> ordered publics
    patterns: list[tuple[str, str, list[str]]] = field(default_factory=list)  # glob, provider, fallbacks
    default_provider: str | None = None
    fallbacks: dict[str, list[str]] = field(default_factory=dict)
    env_needed: dict[str, KeyPath] = field(default_factory=dict)
    resolutions: list[Resolution] = field(default_factory=list)  # providers that stand for a model


class Checker(RouteRules):
    def __init__(
        self,
        pdoc: SourceDoc,
        mdoc: SourceDoc,
        providers: ProvidersFile,
        mappings: MappingsFile,
        naming: str,
        env: dict[str, str] | None,
    ):
        self.pdoc, self.mdoc = pdoc, mdoc
        self.providers, self.mappings = providers, mappings
        self.naming, self.env = naming, env
        self.problems: list[Problem] = []
        self.cat = Catalog()
        self.chain_paths: dict[str, KeyPath] = {}  # where each fallback source was declared first
        self.where: dict[str, str] = {}  # model, alias or capability name -> file:line of its definition
        self.defaults: dict[str, str] = {}  # provider id -> its checked `default_model`

    def p(self, path: KeyPath, msg: str, hint: str = "") -> None:
        self.problems.append(self.pdoc.problem(path, msg, hint, "consistency"))

    def m(self, path: KeyPath, msg: str, hint: str = "") -> None:
        self.problems.append(self.mdoc.problem(path, msg, hint, "consistency"))

    @staticmethod
    def _loc(doc: SourceDoc, path: KeyPath) -> str:
        return f"{doc.file}:{doc.locate(path)[0]}"

    def _did_you_mean(self, name: str, choices: list[str], otherwise: str) -> str:
        close = difflib.get_close_matches(name, choices, n=1)
        return f"did you mean `{close[0]}`?" if close else otherwise

    def _route_path(self, section: str, key: str | int) -> KeyPath:
        nested = self.mappings.routes
        if nested is not None and (
            (section == "patterns" and isinstance(key, int) and key >= len(self.mappings.patterns))
            or (isinstance(key, str) and key in getattr(nested, section))
        ):
            if isinstance(key, int):
                key -= len(self.mappings.patterns)
            return ("routes", section, key)
        return (section, key)

    # -- providers ---------------------------------------------------------------------------
    def check_providers(self) -> None:
        lb = self.mappings.load_balanced
        owners: dict[str, Deployment] = {}
        for pid, prov in self.providers.providers.items():
            base: KeyPath = ("providers", pid)
            if not PROVIDER_ID.fullmatch(pid):
                self.p(base, f"provider id `{pid}` must be lowercase letters, digits, `-` or `_`")
            kind = REGISTRY.get(prov.type)
            if kind is None:
                hint = self._did_you_mean(prov.type, list(REGISTRY), f"known types: {', '.join(sorted(REGISTRY))}")
                self.p((*base, "type"), f"unknown provider type `{prov.type}`", hint)
                continue
            if prov.api_key is not None:
                self.p(
                    (*base, "api_key"),
                    "a key is written in the YAML",
                    "put the key in `.env` and name its variable with `api_key_env:`",
                )
            self._scan_secrets(prov.options, (*base, "options"))
            if prov.base_url is not None:
                self._base_url(prov.base_url, (*base, "base_url"))
            if prov.status != "active":
                continue
            if kind.needs_base_url and not prov.base_url:
                self.p(
                    base, f"provider type `{prov.type}` needs `base_url`", "add e.g. `base_url: http://localhost:8000`"
                )
            if kind.needs_key and not prov.api_key_env:
                self.p(
                    base,
                    f"provider type `{prov.type}` needs a key",
                    "add `api_key_env: NAME_OF_VARIABLE` and set it in `.env`",
                )
            if prov.api_key_env:
                self.cat.env_needed.setdefault(prov.api_key_env, (*base, "api_key_env"))
            for i, model in enumerate(prov.models):
                mpath: KeyPath = (*base, "models", i)
                self._scan_secrets(model.options, (*mpath, "options"))
                dep = Deployment(pid, prov, model, mpath)
                first = owners.get(model.name)
                if (
                    first is not None
                    and first.provider_id != pid
                    and not (model.name in lb and {pid, first.provider_id} <= set(lb[model.name]))
                ):
                    fl = self.pdoc.locate(first.path)[0]
                    self.p(
                        mpath,
                        f"model `{model.name}` is also served by provider `{first.provider_id}` (line {fl})",
                        f"rename one, or declare both under `load_balanced: {{{model.name}: [{first.provider_id}, {pid}]}}` in model-mappings.yaml",
                    )
                    continue
                owners.setdefault(model.name, dep)
                self.where.setdefault(model.name, self._loc(self.pdoc, mpath))
                self.cat.deployments.setdefault(model.name, []).append(dep)
                for j, alias in enumerate(model.aliases):
                    self._alias(alias, model.name, (*mpath, "aliases", j))
            if prov.default_model is not None:
                self._default_model(pid, prov)
        for name, members in lb.items():
            for k, pid in enumerate(members):
                if pid not in self.providers.providers:
                    self.m(("load_balanced", name, k), f"unknown provider `{pid}` in load-balanced group `{name}`")

    def _base_url(self, url: str, path: KeyPath) -> None:
        defects = url_defects(url)
        if not defects:
            return
        creds = " (credentials go in `.env`: name the variable with `api_key_env:`)" if "@" in url else ""
        self.p(
            path,
            f"`base_url` {url!r} is not a usable URL: {'; '.join(defects)}",
            f"write `scheme://host[:port][/path]`, e.g. `{example(url)}`{creds}",
        )

    def _alias(self, alias: str, target: str, path: KeyPath) -> None:
        if self.naming == "kebab-case" and not KEBAB.fullmatch(alias):
            self.p(
                path,
                f"alias `{alias}` does not follow the kebab-case naming rule",
                f"use e.g. `{re.sub(r'[^a-z0-9.]+', '-', alias.lower()).strip('-')}` (rule set by `naming` in config/stack.yaml)",
            )
        if alias in self.cat.aliases or alias in self.cat.deployments:
            self.p(path, f"alias `{alias}` is already a model name or alias")
            return
        self.cat.aliases[alias] = target
        self.where[alias] = self._loc(self.pdoc, path)

    def _default_model(self, pid: str, prov: Provider) -> None:
        name = prov.default_model or ""
        match = next((m.name for m in prov.models if name in (m.name, *m.aliases)), None)
        if match is None:
            models = [m.name for m in prov.models]
            self.p(
                ("providers", pid, "default_model"),
                f"`default_model` `{name}` is not a model of provider `{pid}`",
                self._did_you_mean(name, models, f"name one of: {', '.join(f'`{m}`' for m in models) or '(none)'}"),
            )
        else:
            self.defaults[pid] = match

    def _scan_secrets(self, value: object, path: KeyPath) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, str) and SECRET_KEYS.search(str(k)) and v and not v.startswith("os.environ/"):
                    self.p(
                        (*path, k),
                        f"`{k}` holds a literal secret",
                        "reference it as `os.environ/NAME` and put the value in `.env`",
                    )
                else:
                    self._scan_secrets(v, (*path, k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                self._scan_secrets(v, (*path, i))
        elif isinstance(value, str) and any(p.match(value) for p in SECRET_PATTERNS):
            self.p(
                path,
                "this value looks like an API key written in the YAML",
                "put it in `.env` and reference the variable (`api_key_env:` or `os.environ/NAME`)",
            )

    # -- references ----------------------------------------------------------------------------
    def _provider_ref(self, pid: str, path: KeyPath) -> bool:
        prov = self.providers.providers.get(pid)
        if prov is None:
            self.m(
                path,
                f"unknown provider `{pid}`",
                self._did_you_mean(pid, list(self.providers.providers), "define it in config/providers.yaml"),
            )
            return False
        if prov.status != "active":
            line = self.pdoc.locate(("providers", pid, "status"))[0]
            self.m(
                path,
                f"provider `{pid}` is `{prov.status}` (providers.yaml line {line}): this route would be dropped",
                "set the provider's `status: active`, or remove this reference",
            )
            return False
        return True

    def _known(self, name: str) -> bool:
        return name in self.cat.deployments or name in self.cat.aliases or name in self.cat.capabilities

    def _target(self, name: str, path: KeyPath, what: str, route: Route, same: tuple[str, ...] = ()) -> str | None:
        """Resolve a fallback/capability member: a public name, an alias, or a provider id."""
        is_provider = name in self.providers.providers
        if self._known(name):
            if is_provider:
                self._ambiguous(name, path)
                return None
            return self.cat.aliases.get(name, name)
        if is_provider:
            return self._provider_target(name, path, what, route, same)
        self._disabled_or_unknown(name, path, what)
        return None

    def _ambiguous(self, name: str, path: KeyPath) -> None:
        self.m(
            path,
            f"`{name}` is both a provider ({self._loc(self.pdoc, ('providers', name))}) "
            f"and a model ({self.where.get(name, '?')}): this reference is ambiguous",
            f"rename provider `{name}` (or the model) so that the name means one thing",
        )

    def _provider_target(self, pid: str, path: KeyPath, what: str, route: Route, same: tuple[str, ...]) -> str | None:
        """A provider standing for a model: the model it resolves to, recorded; None if it cannot."""
        prov = self.providers.providers[pid]
        label = f"{what} `{pid}` of `{route.label}` is a provider"
        if prov.status != "active":
            line = self.pdoc.locate(("providers", pid, "status"))[0]
            self.m(
                path,
                f"{label}, and it is `{prov.status}` (providers.yaml line {line})",
                "set the provider's `status: active`, or name an active provider or a model here",
            )
            return None
        served = [
            m.name for m in prov.models if any(d.provider_id == pid for d in self.cat.deployments.get(m.name, []))
        ]
        picked = pick_model(served, same, self.defaults.get(pid))
        if picked is None:
            self.m(
                path,
                f"{label}, and it serves no model",
                f"add one under `providers.{pid}.models`, or name a model here",
            )
            return None
        self.cat.resolutions.append(Resolution(route, what, pid, *picked, self._loc(self.mdoc, path)))
        return picked[0]

    def _disabled_or_unknown(self, name: str, path: KeyPath, what: str) -> None:
        for pid, prov in self.providers.providers.items():
            if prov.status != "active" and any(m.name == name or name in m.aliases for m in prov.models):
                line = self.pdoc.locate(("providers", pid, "status"))[0]
                self.m(
                    path,
                    f"{what} `{name}` belongs to provider `{pid}`, which is `{prov.status}` (providers.yaml line {line})",
                    "activate the provider or remove the reference; it is never silently dropped",
                )
                return
        names = [*self.cat.deployments, *self.cat.aliases]
        self.m(
            path,
            f"{what} `{name}` is not a known model",
            self._did_you_mean(name, names, "add it to config/providers.yaml"),
        )

    def check_env(self) -> None:
        if self.env is None:
            return
        for var, path in sorted(self.cat.env_needed.items()):
            if not self.env.get(var):
                self.p(path, f"environment variable `{var}` is not set in `.env`", f"add `{var}=...` to `.env`")


def check(
    pdoc: SourceDoc,
    mdoc: SourceDoc,
    providers: ProvidersFile,
    mappings: MappingsFile,
    naming: str,
    env: dict[str, str] | None,
) -> tuple[Catalog, list[Problem]]:
    c = Checker(pdoc, mdoc, providers, mappings, naming, env)
    c.check_providers()
    c.check_routes()
    c.check_env()
    return c.cat, c.problems
